"""The Pulumi project: `Pulumi.yaml` at the top and one `stacks/Pulumi.<cluster>.yaml` per connected cluster.

These files are what a person's `pulumi up -s <cluster>` and `vfleet apply` (a LocalWorkspace over the
same directory) both read, so vfleet writes them (`vfleet stacks sync`) and verifies them before every
apply (`vfleet stacks check`): a Cluster spec without its stack file, a stack file without a Cluster
spec, a stack file that disagrees with what vfleet would write, or one holding a credential, are
reported as findings with the file they concern.

A stack file holds no credentials: the kubeconfig is resolved at run time from the Cluster spec's
reference. Pulumi adds its own keys to a stack file when the stack is created (`encryptionsalt`,
`secretsprovider`, `encryptedkey`: how the stack's secrets are encrypted, not secrets themselves); vfleet
keeps them and checks only the keys it owns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vfleet.core import subjects
from vfleet.core.findings import Finding, Findings, Location, Severity, error

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 100 stack files on every apply
PROJECT_NAME = "vfleet"
PROJECT_FILE = "Pulumi.yaml"
STACKS_DIR = "stacks"
CLUSTER_KEY = "vfleet:cluster"
DISABLE_DEFAULT_PROVIDERS = "pulumi:disable-default-providers"
# Keys Pulumi itself writes into a stack file: encryption metadata, never a credential.
PULUMI_OWNED = ("encryptionsalt", "secretsprovider", "encryptedkey")
# Config keys that would put a credential (or the path to one) into Git.
_CREDENTIAL_KEYS = ("kubernetes:kubeconfig", "kubernetes:context", "kubernetes:cluster")

PROJECT: dict[str, Any] = {
    "name": PROJECT_NAME,
    "description": "vfleet: one stack per connected cluster; the program compiles the fleet in this repository",
    "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}},
    "main": f"{STACKS_DIR}/",
    "stackConfigDir": STACKS_DIR,
}

_PROJECT_HEADER = """\
# The Pulumi project of this fleet, written by `vfleet stacks sync`. One stack per connected cluster
# (stack name = cluster name); the program in stacks/ compiles the fleet, runs the policy gate and the
# deletion guards, and declares that cluster's resources. `pulumi up -s <cluster>` and `vfleet apply`
# run the same program with the same stack files.
"""


def stack_file_name(cluster: str) -> str:
    return f"Pulumi.{cluster}.yaml"


def stack_config(cluster: str) -> dict[str, Any]:
    """The config vfleet owns in a cluster's stack file."""
    return {DISABLE_DEFAULT_PROVIDERS: ["kubernetes"], CLUSTER_KEY: cluster}


def render_stack_file(cluster: str, spec_file: str, pulumi_owned: Mapping[str, Any] | None = None) -> str:
    header = (
        f"# The Pulumi stack of connected cluster {cluster} ({spec_file}), written by `vfleet stacks sync`.\n"
        "# No credentials here: the kubeconfig is resolved when the stack runs, from the Cluster spec's\n"
        "# reference, and reaches the provider as a secret. The only provider is the program's own\n"
        "# (default providers are disabled), so nothing can reach a cluster through ambient credentials.\n"
    )
    body: dict[str, Any] = {k: v for k, v in (pulumi_owned or {}).items() if k in PULUMI_OWNED}
    body["config"] = stack_config(cluster)
    return header + str(yaml.safe_dump(body, sort_keys=False, default_flow_style=False))


def render_project_file() -> str:
    return _PROJECT_HEADER + str(yaml.safe_dump(PROJECT, sort_keys=False, default_flow_style=False))


@dataclass(frozen=True)
class StackFiles:
    """What `verify` found: findings (errors break an apply), and the files `sync` would (re)write."""

    findings: Findings
    to_write: dict[str, str]  # repo-relative path -> content
    orphans: tuple[str, ...]  # stack names with a file but without a Cluster spec


def verify(root: Path, clusters: Mapping[str, str]) -> StackFiles:
    """Compare the project and stack files under `root` with what vfleet writes for `clusters`.

    `clusters` maps each connected cluster's name to the spec file that declares it.
    """
    found: list[Finding] = []
    to_write: dict[str, str] = {}
    project = root / PROJECT_FILE
    current = _load(project)
    if current is None or any(current.get(k) != v for k, v in PROJECT.items()):
        what = "is missing" if current is None else "differs from what vfleet writes"
        found.append(
            error("stacks.project", f"{PROJECT_FILE} {what}; run `vfleet stacks sync`", Location(PROJECT_FILE))
        )
        to_write[PROJECT_FILE] = render_project_file()
    for cluster, spec_file in sorted(clusters.items()):
        rel = f"{STACKS_DIR}/{stack_file_name(cluster)}"
        data = _load(root / rel)
        if data is None:
            found.append(
                error(
                    "stacks.missing",
                    f"cluster {cluster} has no stack file {rel}; run `vfleet stacks sync`",
                    Location(rel),
                    subjects.cluster(cluster),
                )
            )
            to_write[rel] = render_stack_file(cluster, spec_file)
            continue
        found += _credentials(rel, cluster, data)
        config = data.get("config")
        config = config if isinstance(config, dict) else {}
        wanted = stack_config(cluster)
        if any(config.get(k) != v for k, v in wanted.items()):
            found.append(
                error(
                    "stacks.stale",
                    f"{rel} does not hold vfleet's config for cluster {cluster} "
                    f"({', '.join(sorted(wanted))}); run `vfleet stacks sync`",
                    Location(rel, field="config"),
                    subjects.cluster(cluster),
                )
            )
            to_write[rel] = render_stack_file(cluster, spec_file, data)
    orphans = sorted(set(existing_stacks(root)) - set(clusters))
    for name in orphans:
        rel = f"{STACKS_DIR}/{stack_file_name(name)}"
        found.append(
            Finding(
                Severity.WARN,
                "stacks.orphan",
                f"stack file {rel} has no Cluster spec; if the cluster was removed on purpose, "
                f"destroy its stack (`vfleet destroy --cluster {name}`) and delete the file",
                Location(rel),
                subjects.cluster(name),
            )
        )
    return StackFiles(Findings.of(found), to_write, tuple(orphans))


def _credentials(rel: str, cluster: str, data: Mapping[str, Any]) -> list[Finding]:
    config = data.get("config")
    keys = (
        sorted(k for k in config if k in _CREDENTIAL_KEYS or "kubeconfig" in k.lower())
        if isinstance(config, dict)
        else []
    )
    return [
        error(
            "stacks.credential",
            f"{rel} sets {key}: credentials and the way to them stay out of Git; "
            "the Cluster spec's kubeconfig reference is resolved at run time",
            Location(rel, field=f"config.{key}"),
            subjects.cluster(cluster),
        )
        for key in keys
    ]


def existing_stacks(root: Path) -> list[str]:
    """Stack names that have a file in stacks/."""
    folder = root / STACKS_DIR
    if not folder.is_dir():
        return []
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in folder.glob("Pulumi.*.yaml"))


def sync(root: Path, clusters: Mapping[str, str]) -> list[str]:
    """Write every project/stack file `verify` finds missing or stale; the repo-relative paths written."""
    result = verify(root, clusters)
    blocking = [f for f in result.findings if f.code == "stacks.credential"]
    if blocking:
        return []  # a credential in a stack file needs a person: never rewrite around it
    for rel, content in sorted(result.to_write.items()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(path)
    return sorted(result.to_write)


def cluster_files(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return dict(sorted(items))


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # _LOADER is a safe loader
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None
