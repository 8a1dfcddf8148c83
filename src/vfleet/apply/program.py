"""The Pulumi program of every stack: what `stacks/__main__.py` runs, for `pulumi up -s <cluster>` and for
`vfleet apply` alike.

Two ways in, one way out:

- a bare `pulumi up -s <cluster>`: the program compiles the fleet from the work tree, runs the policy
  gate (a deny, a broken policy or an unreachable OPA raises here, before any resource is registered)
  and the deletion guards against what the stack last applied (`VFLEET_OVERRIDE_GUARD` carries an
  operator's override reason), then declares the cluster's resources;
- `vfleet apply`: the orchestration has already compiled, gated and guarded the whole fleet once, so it
  hands each stack its decided desired state in a private file (`VFLEET_HANDOFF`) instead of having
  every stack's program compile the fleet and start an OPA again.

Either way the resources come from `adapter.declare`, with a provider built from the Cluster's
kubeconfig reference, resolved here, at run time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pulumi

from vfleet import compile as compiler
from vfleet.apply import adapter, gate, kubeconfig, records
from vfleet.apply.adapter import ClusterSettings, Declared
from vfleet.desired import DesiredState
from vfleet.errors import VfleetError
from vfleet.findings import Findings
from vfleet.specs import KubeconfigRef

HANDOFF_ENV = "VFLEET_HANDOFF"


class ProgramError(VfleetError):
    """The stack cannot be declared (unknown cluster, unreadable handoff)."""


@dataclass(frozen=True)
class Prepared:
    """Everything the program declares for one stack, decided before any resource is registered."""

    state: DesiredState
    settings: ClusterSettings
    kubeconfig: KubeconfigRef
    adopt: tuple[str, ...] = ()


def prepare(
    root: Path,
    stack: str,
    *,
    env: Mapping[str, str] = os.environ,
    policy: gate.Gate = gate.policy_gate,
    guard: gate.Guard | None = None,
) -> Prepared:
    """The stack's desired state: from the orchestration's handoff, or compiled, gated and guarded here."""
    handoff = env.get(HANDOFF_ENV)
    if handoff:
        return read_handoff(Path(handoff), stack, root)
    compiled = compiler.compile_fleet(root, env=env)
    gate.enforce(compiled, policy)  # raises Broken / Refused: nothing registered
    item = compiled.fleet.clusters.get(stack)
    if item is None:
        raise ProgramError(
            f"stack {stack!r} has no Cluster spec in fleet/clusters/ (known: "
            f"{', '.join(sorted(compiled.fleet.clusters))}); destroy it with "
            f"`vfleet destroy --cluster {stack}` if the cluster was removed"
        )
    state = compiled.desired[stack]
    base = records.Records(records.state_dir(root, env)).applied_state(stack)
    tripped = (guard or gate.deletion_guard(compiled.tree))(
        stack, base, state, override=env.get(gate.OVERRIDE_ENV) or None
    )
    if tripped:
        raise gate.Refused(
            "refused by the deletion guards: " + "; ".join(f.message for f in tripped), Findings.of(tripped)
        )
    spec = item.spec.spec
    return Prepared(state, ClusterSettings(stack, spec.rollout.awaitTenants, root), spec.kubeconfig)


def write_handoff(path: Path, prepared: Prepared) -> None:
    """The private file `prepare` reads back in the stack's program (0600: it names no secret, but is ours)."""
    ref = prepared.kubeconfig
    data: dict[str, Any] = {
        "cluster": prepared.settings.name,
        "awaitTenants": prepared.settings.await_tenants,
        "kubeconfig": ref.model_dump(exclude_none=True),
        "adopt": list(prepared.adopt),
        "hash": prepared.state.hash,
        "desired": prepared.state.to_data(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(orjson.dumps(data))


def read_handoff(path: Path, stack: str, root: Path) -> Prepared:
    try:
        data = orjson.loads(path.read_bytes())
        state = DesiredState.from_json(orjson.dumps(data["desired"]))
        ref = KubeconfigRef(**data["kubeconfig"])
        prepared = Prepared(
            state, ClusterSettings(data["cluster"], bool(data["awaitTenants"]), root), ref, tuple(data.get("adopt", ()))
        )
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ProgramError(f"{HANDOFF_ENV}={path}: not a readable vfleet handoff ({type(exc).__name__})") from None
    if prepared.settings.name != stack or state.cluster != stack or state.hash != data.get("hash"):
        raise ProgramError(
            f"{HANDOFF_ENV}={path} is for stack {prepared.settings.name!r}, not {stack!r} "
            "(or was altered after vfleet wrote it)"
        )
    return prepared


def declare(prepared: Prepared, env: Mapping[str, str] = os.environ) -> Declared:
    """Resolve the kubeconfig and register the provider and every resource of the stack."""
    resolved = kubeconfig.resolve(prepared.kubeconfig, prepared.settings.name, env)
    declared = adapter.declare(prepared.state, prepared.settings, resolved, adopt=prepared.adopt)
    # Visible in the backend (`pulumi stack output`), so a runner without vfleet's records can tell what
    # a stack last applied; never a secret.
    pulumi.export("vfleetDesiredHash", prepared.state.hash)
    pulumi.export("vfleetResources", len(prepared.state.resources))
    pulumi.export("vfleetAdopted", list(declared.adopted))
    return declared


def main(root: Path) -> None:
    """The body of stacks/__main__.py."""
    declare(prepare(root, pulumi.get_stack()))
