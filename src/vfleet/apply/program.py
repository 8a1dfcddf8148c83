"""The Pulumi program of every stack: what `stacks/__main__.py` runs for `pulumi up -s <cluster>`, and
what `vfleet apply` runs as an Automation API inline program. One function, `main`, two ways in:

- a person's `pulumi up -s <cluster>` (a local program: needs an installed Pulumi CLI with its Python
  language host): `main(root)` compiles the fleet from the work tree, runs the policy gate (a deny, a
  broken policy or an unreachable OPA raises here, before any resource is registered) and the deletion
  guards against what the stack last applied (`VFLEET_OVERRIDE_GUARD` carries an operator's override
  reason), then declares the cluster's resources;
- `vfleet apply` / `preview` (an inline program, served by the SDK in vfleet's own process, so no language
  host is needed): the orchestration has already compiled, gated and guarded the whole fleet once, and
  calls `main(root, prepared)` with the stack's decided desired state.

Either way the resources come from `declare` -> `adapter.declare`, with a provider built from the
Cluster's kubeconfig reference, resolved at run time; same project, same stack config files, same backend.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi

from vfleet import compile as compiler
from vfleet.apply import adapter, aliases, prechecks, preflight, records
from vfleet.apply.adapter import ClusterSettings, Declared
from vfleet.core.errors import VfleetError
from vfleet.core.findings import Findings
from vfleet.desired import DesiredState, argocd
from vfleet.specs import KubeconfigRef, kubeconfig

ADAPTER_REVISION = "1"  # bump when adapter.declare registers the same desired state differently


class ProgramError(VfleetError):
    """The stack cannot be declared (no Cluster spec for it)."""


@dataclass(frozen=True)
class Prepared:
    """Everything the program declares for one stack, decided before any resource is registered."""

    state: DesiredState
    settings: ClusterSettings
    kubeconfig: KubeconfigRef
    adopt: tuple[str, ...] = ()
    # Other clusters' kubeconfig references: where Argo CD registrations read their tenants' credentials.
    sources: Mapping[str, KubeconfigRef] = field(default_factory=dict)


def prepare(
    root: Path,
    stack: str,
    *,
    env: Mapping[str, str] = os.environ,
    policy: prechecks.Gate | None = None,
    guard: prechecks.Guard | None = None,
) -> Prepared:
    """The stack's desired state, compiled, gated and guarded here (a bare `pulumi up`)."""
    compiled = compiler.compile_fleet(root, env=env)
    prechecks.enforce(compiled, policy or prechecks.policy_gate)  # raises Broken / Refused: nothing registered
    item = compiled.fleet.clusters.get(stack)
    if item is None:
        raise ProgramError(
            f"stack {stack!r} has no Cluster spec in fleet/clusters/ (known: "
            f"{', '.join(sorted(compiled.fleet.clusters))}); destroy it with "
            f"`vfleet destroy --cluster {stack}` if the cluster was removed"
        )
    state = compiled.desired[stack]
    store = records.open_records(root, env)
    base = store.applied_state(stack)
    override = env.get(prechecks.OVERRIDE_ENV) or None
    tripped = list((guard or prechecks.deletion_guard(compiled.tree))(stack, base, state, override=override))
    tripped += [v.finding() for v in preflight.vanishing(compiled, [(stack, base, state)], store, override)
                if v.blocking]
    if tripped:
        raise prechecks.Refused(
            "refused by the deletion guards: " + "; ".join(f.message for f in tripped), Findings.of(tripped)
        )
    spec = item.manifest.spec
    kubeconfigs = {name: c.manifest.spec.kubeconfig for name, c in compiled.fleet.clusters.items()}
    readers = argocd.credential_sources(state, kubeconfigs)
    return Prepared(state, ClusterSettings(stack, spec.rollout.awaitTenants, root), spec.kubeconfig, (), readers)


DESIRED_HASH_OUTPUT = "vfleetDesiredHash"
FINGERPRINT_OUTPUT = "vfleetEngineFingerprint"


def declare(prepared: Prepared, env: Mapping[str, str] = os.environ) -> Declared:
    """Resolve the kubeconfig and register the provider and every resource of the stack."""
    resolved = kubeconfig.resolve(prepared.kubeconfig, prepared.settings.name, env)

    def credentials(cluster: str) -> kubeconfig.Kubeconfig:
        if cluster == prepared.settings.name:
            return resolved
        ref = prepared.sources.get(cluster)
        if ref is None:
            raise ProgramError(f"an Argo CD registration reads credentials from cluster {cluster!r}, which has no "
                               f"Cluster spec")
        return kubeconfig.resolve(ref, cluster, env)

    declared = adapter.declare(prepared.state, prepared.settings, resolved, adopt=prepared.adopt,
                               credentials=credentials)
    # Visible in the backend (`pulumi stack output`), so a runner without vfleet's records can tell what a
    # stack last applied, and whether a targeted run may trust it (`targets.scope`); never a secret.
    # Resolved only once every resource of the stack is: a failed update (one resource failing) must not
    # leave the new hash in the backend, where a runner without these records would take it as applied.
    settled = pulumi.Output.all(*(r.id for r in declared.resources.values()))
    state_hash, engine = prepared.state.hash, fingerprint(prepared.settings, resolved)
    pulumi.export(DESIRED_HASH_OUTPUT, settled.apply(lambda _: state_hash))
    pulumi.export(FINGERPRINT_OUTPUT, settled.apply(lambda _: engine))
    pulumi.export("vfleetResources", len(prepared.state.resources))
    pulumi.export("vfleetAdopted", list(declared.adopted))
    return declared


def fingerprint(settings: ClusterSettings, resolved: kubeconfig.Kubeconfig) -> str:
    """What, besides the desired state, decides the inputs the stack registers: provider and adapter.

    A digest, so the credential it covers is never stored, only whether it changed.
    """
    parts = [
        ADAPTER_REVISION,
        pulumi_kubernetes_version(),
        str(settings.await_tenants),
        str(settings.root),
        resolved.context or "",
        hashlib.sha256(resolved.content.encode()).hexdigest(),
        *(rename.since for rename in aliases.RENAMES),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def pulumi_kubernetes_version() -> str:
    from importlib.metadata import version

    return version("pulumi-kubernetes")


def main(root: Path, prepared: Prepared | None = None) -> None:
    """The program: stacks/__main__.py calls `main(root)`, `vfleet apply` runs `main(root, prepared)` inline."""
    declare(prepared if prepared is not None else prepare(root, pulumi.get_stack()))
