"""One stack in the real engine: the stacks' program as an Automation API inline program.

`PulumiRunner` is the `orchestrate.Runner` of `vfleet apply` / `preview` / `destroy`. Per stack it:

1. opens the stack over the repository (a LocalWorkspace on the repo, so Pulumi.yaml's project name and
   stacks/Pulumi.<cluster>.yaml's config are the ones a person's `pulumi up -s <cluster>` uses; same
   backend, same secrets provider), with `program.main(root, prepared)` as its inline program: the SDK
   serves that program from this process, so no language host is needed;
2. removes a lock left by a dead process of this host on a file:// backend, and fails the stack, naming
   the lock, when another runner's update holds it (its state is half-written, its pending operations
   are its own); then reads the exported state once: creates an interrupted run left pending are
   dropped from the state (their objects, if they exist, are imported below), and the stack's own
   outputs say what it last applied (`targets.StackFacts`);
3. looks up on the cluster the objects this run would create (those whose URN the state lacks): the
   provider would take an existing one over silently (server-side apply), so each that exists is imported
   when it is an interrupted run's own (a pending create; or, after a run of this stack that did not
   succeed, one carrying vfleet's field manager) or `--adopt` was given, and refuses the stack otherwise;
4. runs `up` / `preview` targeted at what changed (`targets.scope`), or untargeted when that cannot be
   proven; `destroy` needs no program.

Never raises for a stack's failure: the outcome is classified (`outcome.classify`) into its StackResult.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from vfleet.apply import adapter, adopt, outcome, program, store, targets
from vfleet.apply.adapter import ClusterSettings
from vfleet.apply.decide import Operation, Result, StackResult
from vfleet.apply.engine import EngineConfig, pulumi_command
from vfleet.apply.orchestrate import Job, Progress
from vfleet.apply.project import PROJECT_NAME
from vfleet.core.errors import VfleetError
from vfleet.desired import DesiredState, Resource
from vfleet.specs import kubeconfig

_LISTED = 10  # objects named in a refusal before "and N more"


class PulumiRunner:
    """`orchestrate.Runner` over the real engine."""

    def __init__(
        self,
        config: EngineConfig,
        *,
        probe: adopt.Probe = adopt.probe_cluster,
        env: Mapping[str, str] = os.environ,
        full: bool = False,
    ) -> None:
        self.config = config
        self.probe = probe
        self.env = env
        self.full = full  # --full: never target
        self.command = pulumi_command(config)
        self.store = store.for_backend(config.backend_url, config.state_dir)  # where the backend keeps its locks

    def __call__(self, job: Job, progress: Progress) -> StackResult:
        cluster = job.target.cluster
        secrets: tuple[str, ...] = ()
        try:
            resolved = None
            if job.operation is not Operation.DESTROY:  # a destroy uses the provider recorded in the state
                if job.kubeconfig is None:
                    raise kubeconfig.KubeconfigError(
                        f"cluster {cluster} has no Cluster spec to resolve a kubeconfig from"
                    )
                resolved = kubeconfig.resolve(job.kubeconfig, cluster, self.env)
                secrets = resolved.secrets()
            # The kubernetes provider writes each kubeconfig it is configured with to a temporary file it
            # never removes (pkg/provider/util.go writeKubeconfigToFile): the cluster's credentials would
            # pile up in the machine's /tmp, one file per stack and run. Its TMPDIR is a private folder
            # (0700) removed after the stack's run.
            with tempfile.TemporaryDirectory(prefix=f"vfleet-engine-{cluster}-") as scratch:
                return self._run(job, resolved, progress, scratch)
        except VfleetError as exc:
            return StackResult(cluster, job.target.wave, Result.FAILED, message=kubeconfig.redact(str(exc), secrets))
        except Exception as exc:
            checkpoint = self.store.where(f".pulumi/stacks/{PROJECT_NAME}/{cluster}.json")
            result, message = outcome.classify(str(exc), checkpoint)
            return StackResult(cluster, job.target.wave, result, message=kubeconfig.redact(message, secrets))

    def _run(self, job: Job, resolved: kubeconfig.Kubeconfig | None, progress: Progress, scratch: str) -> StackResult:
        from pulumi import automation as auto

        cluster = job.target.cluster
        state = job.target.state
        prepared = job_prepared(job)

        opts = auto.LocalWorkspaceOptions(
            work_dir=str(job.root),
            env_vars={**self.config.env, "TMPDIR": scratch},
            secrets_provider=self.config.secrets_provider,
            pulumi_command=self.command,
        )
        # The program is given with each `up` / `preview` below, once the imports are known; opening the
        # stack only needs one to exist.
        stack = auto.create_or_select_stack(
            stack_name=cluster, project_name=PROJECT_NAME, program=lambda: None, opts=opts
        )
        outcome.remove_stale_locks(self.config.backend_url, cluster)
        # Another runner's update of this stack: stop before reading its half-written state (whose pending
        # operations are that run's, not a dead one's) or touching the cluster.
        held = outcome.stack_locks(self.store, cluster)
        if held:
            return StackResult(cluster, job.target.wave, Result.FAILED, message=outcome.lock_message(cluster, held))
        exported, deployment, pending = self._clear_pending_creates(stack)
        counter = outcome.EventCounter(progress, job.total)
        message = f"vfleet {job.operation.value} {cluster} ({(job.target.hash or 'destroy')[:12]})"
        common: dict[str, Any] = {"on_event": counter, "color": "never", "message": message, "suppress_progress": True}
        if job.operation is Operation.DESTROY or state is None or prepared is None or resolved is None:
            destroyed = stack.destroy(**common)
            return StackResult(
                cluster,
                job.target.wave,
                Result.APPLIED,
                changes=outcome.change_counts(destroyed.summary.resource_changes or {}),
            )
        in_state = outcome.state_urns(deployment)
        new = [r for r in state.resources if not in_state.intersection(adapter.urns_of(cluster, r))]
        probed = self.probe(resolved, new) if new else {}
        existing = sorted(probed)
        own = {f"{cluster}/{outcome.urn_name(u)}" for u in pending}
        if job.resume:  # applied by this stack's last run, whose answer the engine never got
            own |= {rid for rid, marked in probed.items() if marked}
        imported = tuple(rid for rid in existing if job.adopt or rid in own)
        foreign = [rid for rid in existing if rid not in imported]
        if foreign:
            return StackResult(cluster, job.target.wave, Result.REFUSED, message=_foreign_message(foreign))
        decided = replace(prepared, adopt=imported)
        # The same function stacks/__main__.py runs, handed the decided state.
        common["program"] = lambda: program.main(job.root, decided)
        # Facts of the state as the last run left it, pending operations included: those force a full run.
        facts = outcome.stack_facts(exported, program.DESIRED_HASH_OUTPUT, program.FINGERPRINT_OUTPUT)
        chosen = targets.scope(job.base, state, facts, program.fingerprint(prepared.settings, resolved), full=self.full)
        if not chosen.full:
            common["target"] = target_urns(cluster, chosen.ids, state, job.base)
        if job.operation is Operation.UP:
            up = stack.up(**common)
            changes = outcome.change_counts(up.summary.resource_changes or {})
        else:
            preview = stack.preview(**common)
            changes = outcome.change_counts(preview.change_summary or {})
        scope = "full: " + chosen.reason if chosen.full else f"targeted: {chosen.reason}"
        return StackResult(cluster, job.target.wave, Result.APPLIED, changes=changes, adopted=imported, scope=scope)

    def _clear_pending_creates(self, stack: Any) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """The exported deployment as found, the one without the creates an interrupted run left pending
        (imported back into the stack), and the URNs of those creates."""
        from pulumi.automation import Deployment

        exported = stack.export_stack()
        found = dict(exported.deployment or {})
        urns = outcome.pending_creates(found)
        cleared = found
        if urns:
            cleared = outcome.without_pending(found)
            stack.import_stack(Deployment(version=exported.version, deployment=cleared))
        return found, cleared, urns


def backend_hashes(config: EngineConfig, root: Path) -> Callable[[Sequence[str]], dict[str, str | None]]:
    """What each named stack last applied, from its `vfleetDesiredHash` output in the backend (None: no
    such stack, or no such output): how a CI runner whose records never saw an earlier wave's clusters
    learns whether they applied this commit."""

    def lookup(clusters: Sequence[str]) -> dict[str, str | None]:
        from pulumi import automation as auto

        command = pulumi_command(config)
        found: dict[str, str | None] = {}
        for cluster in clusters:
            opts = auto.LocalWorkspaceOptions(work_dir=str(root), env_vars=dict(config.env), pulumi_command=command)
            try:
                stack = auto.select_stack(
                    stack_name=cluster, project_name=PROJECT_NAME, program=lambda: None, opts=opts
                )
                output = stack.outputs().get(program.DESIRED_HASH_OUTPUT)
            except auto.errors.CommandError:
                output = None
            found[cluster] = output.value if output is not None and isinstance(output.value, str) else None
        return found

    return lookup


def job_prepared(job: Job, adopted: tuple[str, ...] = ()) -> program.Prepared | None:
    """What the inline program declares for `job` (None for a destroy: no program runs)."""
    if job.target.state is None or job.kubeconfig is None:
        return None
    settings = ClusterSettings(job.target.cluster, job.await_tenants, job.root)
    return program.Prepared(job.target.state, settings, job.kubeconfig, adopted, job.sources)


def target_urns(cluster: str, ids: Sequence[str], head: DesiredState, base: DesiredState | None) -> list[str]:
    """The URNs a targeted run is given: the resources, the provider, and the stack (its outputs)."""
    found: dict[str, Resource] = {**(base.by_id if base is not None else {}), **head.by_id}
    urns = [adapter.resource_urn(cluster, found[rid]) for rid in ids if rid in found]
    return [adapter.stack_urn(cluster), adapter.provider_urn(cluster), *urns]


def _foreign_message(ids: Sequence[str]) -> str:
    shown = ", ".join(adapter.logical_name(rid) for rid in ids[:_LISTED])
    more = f" and {len(ids) - _LISTED} more" if len(ids) > _LISTED else ""
    return (
        f"{len(ids)} object(s) this stack would create already exist on the cluster and are not in its state: "
        f"{shown}{more}. vfleet never takes over an object silently: `vfleet apply --adopt` imports them "
        "(and lists what it adopted), or delete them first"
    )
