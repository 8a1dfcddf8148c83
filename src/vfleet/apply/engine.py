"""The one module that calls the Pulumi engine: Automation API over the project directory.

`configure` checks, before any stack runs, what every engine call needs — the `pulumi` CLI and the
kubernetes plugin, a secrets provider that can work (the passphrase one needs PULUMI_CONFIG_PASSPHRASE or
PULUMI_CONFIG_PASSPHRASE_FILE) — and fixes the backend: PULUMI_BACKEND_URL when set (s3://, gs://,
azblob://, Pulumi Cloud: how several CI runners apply different stacks at once), else a `file://`
backend in the state directory. `PulumiRunner` runs one stack: a LocalWorkspace over the repository (the
same Pulumi.yaml and stacks/Pulumi.<cluster>.yaml a person's `pulumi up` uses), `up` / `preview` /
`destroy` with engine events turned into progress, and the outcome classified by pure functions
(`classify`, `change_counts`), so that what a failure *means* is tested without the engine.

Recovery from an apply killed mid-way (what makes the next apply converge): a lock left by a dead
process of this host on a file:// backend is removed; pending creates left in the state are dropped from
it, and those of the objects that do exist on the cluster are imported by this run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vfleet.apply import adopt, kubeconfig, program
from vfleet.apply.adapter import ClusterSettings
from vfleet.apply.decide import Operation, Result, StackResult
from vfleet.apply.gate import OVERRIDE_ENV
from vfleet.apply.orchestrate import Job, Progress
from vfleet.apply.project import PROJECT_NAME
from vfleet.errors import VfleetError

KNOWN_GOOD = (
    "pulumi CLI v3.259.0 with pulumi-resource-kubernetes v4.32.0 (Python SDKs pulumi 3.272, pulumi-kubernetes 4.34)"
)
INSTALL_HINT = (
    "install the Pulumi CLI (>= 3.259, https://www.pulumi.com/docs/install/) and the kubernetes plugin "
    "(`pulumi plugin install resource kubernetes v4.32.0`, or pulumi-resource-kubernetes on PATH); "
    f"known to work: {KNOWN_GOOD}"
)
MIN_VERSION = "3.259.0"
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
SECRETS_PROVIDER_ENV = "VFLEET_SECRETS_PROVIDER"


class EngineMissing(VfleetError):
    """No `pulumi` (or no kubernetes plugin) where vfleet can run it (exit 2)."""


class PassphraseMissing(VfleetError):
    """The passphrase secrets provider without a passphrase (exit 2)."""


@dataclass(frozen=True)
class EngineConfig:
    root: Path
    state_dir: Path
    backend_url: str
    secrets_provider: str | None  # None: the passphrase provider
    pulumi_dir: str  # where the `pulumi` binary is
    env: Mapping[str, str] = field(default_factory=dict)  # added to every engine process's environment


def configure(
    root: Path,
    state_dir: Path,
    *,
    secrets_provider: str | None = None,
    env: Mapping[str, str] = os.environ,
    which: Callable[..., str | None] = shutil.which,
) -> EngineConfig:
    """Everything an engine call needs, checked up front; raises EngineMissing / PassphraseMissing."""
    search = env.get("PATH", os.defpath)
    cli = which("pulumi", path=search)
    if cli is None:
        raise EngineMissing(f"`pulumi` is not on PATH: {INSTALL_HINT}")
    if which("pulumi-resource-kubernetes", path=search) is None and not _plugin_installed(env):
        raise EngineMissing(f"the Pulumi kubernetes plugin is not installed: {INSTALL_HINT}")
    provider = secrets_provider or env.get(SECRETS_PROVIDER_ENV) or None
    if provider in (None, "passphrase") and not any(name in env for name in PASSPHRASE_VARS):
        raise PassphraseMissing(
            "the passphrase secrets provider needs PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): "
            "it encrypts each stack's secrets, such as the kubeconfig its provider receives. Set it (in CI, from "
            "the CI's secret store), or choose another provider with --secrets-provider "
            "(awskms://, azurekeyvault://, gcpkms://, hashivault://)"
        )
    backend = env.get("PULUMI_BACKEND_URL") or f"file://{state_dir}"
    if backend.startswith("file://"):
        Path(backend[len("file://") :].split("?", 1)[0]).mkdir(parents=True, exist_ok=True)
    extra = {
        "PULUMI_BACKEND_URL": backend,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # An engine that downloads plugins mid-apply is an engine whose version nobody chose.
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": env.get("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true"),
    }
    return EngineConfig(
        root, state_dir, backend, None if provider == "passphrase" else provider, str(Path(cli).parent), extra
    )


def _plugin_installed(env: Mapping[str, str]) -> bool:
    home = Path(env.get("PULUMI_HOME") or Path(env.get("HOME", "~")).expanduser() / ".pulumi")
    return any((home / "plugins").glob("resource-kubernetes-v*"))


# ------------------------------------------------------------------------------------------------ runner


class PulumiRunner:
    """`orchestrate.Runner` over the real engine. Never raises for a stack's failure: classifies it."""

    def __init__(
        self, config: EngineConfig, *, probe: adopt.Probe = adopt.probe_cluster, env: Mapping[str, str] = os.environ
    ) -> None:
        self.config = config
        self.probe = probe
        self.env = env
        self.command = pulumi_command(config)  # runs `pulumi version` once, not once per stack

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
            return self._run(job, resolved, progress)
        except VfleetError as exc:
            return StackResult(cluster, job.target.wave, Result.FAILED, message=kubeconfig.redact(str(exc), secrets))
        except Exception as exc:
            result, message = classify(str(exc))
            return StackResult(cluster, job.target.wave, result, message=kubeconfig.redact(message, secrets))

    def _run(self, job: Job, resolved: kubeconfig.Kubeconfig | None, progress: Progress) -> StackResult:
        from pulumi import automation as auto

        cluster = job.target.cluster
        state = job.target.state
        with tempfile.TemporaryDirectory(prefix="vfleet-stack-") as tmp:
            env_vars = {**self.config.env, OVERRIDE_ENV: job.override or ""}
            opts = auto.LocalWorkspaceOptions(
                work_dir=str(job.root),
                env_vars=env_vars,
                secrets_provider=self.config.secrets_provider,
                pulumi_command=self.command,
            )
            stack = auto.create_or_select_stack(stack_name=cluster, work_dir=str(job.root), opts=opts)
            remove_stale_locks(self.config.backend_url, cluster)
            pending = self._clear_pending_creates(stack, cluster)
            adopted: tuple[str, ...] = ()
            if state is not None and resolved is not None and job.operation is not Operation.DESTROY:
                candidates = set(pending)
                if job.adopt:
                    candidates |= set(adopt.candidates(state, job.base))
                wanted = [r for r in state.resources if r.id in candidates]
                adopted = tuple(sorted(self.probe(resolved, wanted))) if wanted else ()
                handoff = Path(tmp) / "handoff.json"
                assert job.kubeconfig is not None and resolved is not None  # checked in __call__
                program.write_handoff(
                    handoff,
                    program.Prepared(
                        state, ClusterSettings(cluster, job.await_tenants, job.root), job.kubeconfig, adopted
                    ),
                )
                env_vars[program.HANDOFF_ENV] = str(handoff)  # the workspace reads its dict per command
            counter = EventCounter(progress, job.total)
            message = f"vfleet {job.operation.value} {cluster} ({(job.target.hash or 'destroy')[:12]})"
            if job.operation is Operation.UP:
                up = stack.up(on_event=counter, color="never", message=message, suppress_progress=True)
                changes = change_counts(up.summary.resource_changes or {})
            elif job.operation is Operation.PREVIEW:
                preview = stack.preview(on_event=counter, color="never", message=message, suppress_progress=True)
                changes = change_counts(preview.change_summary or {})
            else:
                destroyed = stack.destroy(on_event=counter, color="never", message=message, suppress_progress=True)
                changes = change_counts(destroyed.summary.resource_changes or {})
        return StackResult(cluster, job.target.wave, Result.APPLIED, changes=changes, adopted=adopted)

    def _clear_pending_creates(self, stack: Any, cluster: str) -> list[str]:
        """Drop pending creates an interrupted run left; their resource ids (to import if they exist)."""
        from pulumi.automation import Deployment

        exported = stack.export_stack()
        deployment = dict(exported.deployment or {})
        urns = pending_creates(deployment)
        if urns:
            stack.import_stack(Deployment(version=exported.version, deployment=without_pending(deployment)))
        # The inverse of `adapter.logical_name`: the id is the cluster, a slash, the logical name.
        return [f"{cluster}/{name}" for name in (urn_name(u) for u in urns) if name]


def pulumi_command(config: EngineConfig) -> Any:
    """The Automation API's handle on the CLI found by `configure`, at least MIN_VERSION."""
    from pulumi import automation as auto
    from semver import VersionInfo

    folder = Path(config.pulumi_dir)
    try:
        return auto.PulumiCommand(
            root=str(folder.parent) if folder.name == "bin" else None, version=VersionInfo.parse(MIN_VERSION)
        )
    except auto.InvalidVersionError as exc:
        raise EngineMissing(f"the Pulumi CLI is too old ({exc}): {INSTALL_HINT}") from None


# ------------------------------------------------------------------------------- pure: events and outcomes


class EventCounter:
    """Engine events -> (done, total) per stack: a resource is done when its outputs (or failure) arrive."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0

    def __call__(self, event: Any) -> None:
        finished = event.res_outputs_event or event.res_op_failed_event
        if finished is not None:
            self.done += 1
            meta = finished.metadata
            self.total = max(self.total, self.done)
            self.progress(self.done, self.total, f"{_op(meta.op)} {urn_name(meta.urn) or meta.type}")
        elif event.summary_event is not None:
            self.progress(self.total, self.total, "done")


def _op(op: Any) -> str:
    return str(getattr(op, "value", op))


def change_counts(changes: Mapping[Any, Any]) -> dict[str, int]:
    """Engine change counts keyed by plain operation names ('create', 'same', ...)."""
    return {_op(k): int(v) for k, v in sorted(changes.items(), key=lambda kv: _op(kv[0])) if int(v)}


_ERROR_LINE = re.compile(r"^\s*(error:.*|\S+ \(\S+\):\s*$|\s+error: .*)$", re.MULTILINE)
_PROTECTED = re.compile(r"marked for protection|resource is protected|is protected")
_UNREACHABLE = re.compile(
    r"connection refused|no such host|i/o timeout|unable to load schema information|"
    r"configured Kubernetes cluster is unreachable|dial tcp"
)


def classify(engine_output: str) -> tuple[Result, str]:
    """A failed engine run -> (result, short message). Deleting a protected resource is a refusal."""
    lines = [m.group(0).strip() for m in _ERROR_LINE.finditer(engine_output)]
    detail = " | ".join(dict.fromkeys(line for line in lines if line))[:2000] or engine_output.strip()[-2000:]
    if "the stack is currently locked" in engine_output or "Conflict: Another update" in engine_output:
        return (
            Result.FAILED,
            f"the stack is locked by another update (wait for it, or `pulumi cancel` if it died): {detail}",
        )
    if (
        _PROTECTED.search(engine_output) and "delete" in engine_output
    ):  # pulumi: "unable to delete ... marked for protection"
        return Result.REFUSED, f"refused by the engine: a protected resource would be deleted: {detail}"
    if _UNREACHABLE.search(engine_output):
        return Result.FAILED, f"cluster unreachable: {detail}"
    return Result.FAILED, detail


def pending_creates(deployment: Mapping[str, Any]) -> list[str]:
    """URNs of the creates an interrupted update left pending in an exported stack."""
    ops = deployment.get("pending_operations") or []
    return sorted(
        str(op["resource"]["urn"])
        for op in ops
        if isinstance(op, dict) and op.get("type") == "creating" and isinstance(op.get("resource"), dict)
    )


def without_pending(deployment: Mapping[str, Any]) -> dict[str, Any]:
    ops = deployment.get("pending_operations") or []
    kept = [op for op in ops if not (isinstance(op, dict) and op.get("type") == "creating")]
    return {**deployment, "pending_operations": kept}


def urn_name(urn: str) -> str:
    """The logical name at the end of a URN (`urn:pulumi:<stack>::<project>::<type>::<name>`)."""
    return urn.rsplit("::", 1)[-1] if urn.count("::") >= 3 else ""


def remove_stale_locks(
    backend_url: str, stack: str, *, hostname: str | None = None, alive: Callable[[int], bool] | None = None
) -> list[Path]:
    """Remove this stack's locks on a file:// backend held by a dead process of this host.

    A lock of another host, or of a live process, is never touched; shared backends are left to
    `pulumi cancel`, where a person can see who holds the lock.
    """
    if not backend_url.startswith("file://"):
        return []
    base = Path(backend_url[len("file://") :].split("?", 1)[0]) / ".pulumi" / "locks"
    host = hostname or socket.gethostname()
    is_alive = alive or _pid_alive
    removed: list[Path] = []
    for path in sorted(base.glob(f"**/{PROJECT_NAME}/{stack}/*.json")) + sorted(base.glob(f"{stack}/*.json")):
        try:
            lock = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if lock.get("hostname") == host and isinstance(lock.get("pid"), int) and not is_alive(lock["pid"]):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
