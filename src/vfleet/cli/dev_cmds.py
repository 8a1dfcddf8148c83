"""`vfleet dev clusters up|down|list`: real connected clusters on loopback, to try the whole loop locally.

`up` names the clusters after the example fleet's Cluster specs by default and prints shell lines that
make each spec's kubeconfig reference resolve to its dev cluster, so `eval "$(vfleet dev clusters up)"`
is all it takes before `vfleet check --live`, `drift` or `status`. Any other cluster (kind, k3d, a real
one) works just as well: these are a convenience, not a requirement.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from vfleet import compile as compiler
from vfleet import devclusters, load, model
from vfleet.core.errors import VfleetError
from vfleet.devclusters import DevCluster
from vfleet.repo import tree
from vfleet.specs import KubeconfigRef

dev_app = typer.Typer(help="Helpers for developing and trying vfleet locally.", no_args_is_help=True)
clusters_app = typer.Typer(
    help="Connected clusters on loopback (etcd + kube-apiserver + kube-controller-manager per cluster).",
    no_args_is_help=True,
)
dev_app.add_typer(clusters_app, name="clusters")

DEFAULT_STATE_DIR = Path(".vfleet/dev")
MERGED_KUBECONFIG = "kubeconfig"  # in the state dir: the contexts that `context:` references name

StateOpt = Annotated[
    Path, typer.Option("--state-dir", help="where the clusters' data, kubeconfigs and state file live")
]
RepoOpt = Annotated[
    Path, typer.Option("--repo", help="the fleet repository whose Cluster specs name the clusters")
]


@clusters_app.command("up")
def up_cmd(
    count: Annotated[int | None, typer.Option("--count", min=1, help="how many clusters")] = None,
    names: Annotated[str | None, typer.Option("--names", help="comma-separated cluster names")] = None,
    state_dir: StateOpt = DEFAULT_STATE_DIR,
    repo: RepoOpt = Path("."),
) -> None:
    """Start clusters that keep running after this command; print shell lines to reach them.

    By default one per Cluster spec of the fleet, named like it; --count N takes the first N of
    those and then dev-1, dev-2, ...; --names a,b names them exactly.
    """
    refs = fleet_kubeconfig_refs(repo)
    wanted = _names(names, count, sorted(refs))
    clusters = devclusters.up(state_dir.absolute(), wanted)
    typer.echo("\n".join(shell_lines(clusters, refs, state_dir.absolute())))


@clusters_app.command("down")
def down_cmd(state_dir: StateOpt = DEFAULT_STATE_DIR) -> None:
    """Stop every cluster `up` started and remove their data."""
    stopped = devclusters.down(state_dir.absolute())
    (state_dir / MERGED_KUBECONFIG).unlink(missing_ok=True)
    typer.echo(
        f"stopped: {', '.join(c.name for c in stopped)}" if stopped else "no dev clusters were running"
    )


@clusters_app.command("list")
def list_cmd(state_dir: StateOpt = DEFAULT_STATE_DIR) -> None:
    """The clusters `up` started: server, memory in use, admin kubeconfig."""
    for cluster in devclusters.load_state(state_dir.absolute()):
        rss = devclusters.rss_kib(cluster)
        health = "running" if len(rss) == len(cluster.processes) else "DEGRADED (a process has exited)"
        parts = ", ".join(f"{role} {kib // 1024}" for role, kib in rss.items())
        typer.echo(f"{cluster.name}  {cluster.server}  {health}  {cluster.admin_kubeconfig}")
        typer.echo(f"    RSS {sum(rss.values()) // 1024} MiB ({parts})")


def _names(names: str | None, count: int | None, fleet_names: Sequence[str]) -> list[str]:
    if names is not None:
        chosen = [name.strip() for name in names.split(",") if name.strip()]
        if count is not None and count != len(chosen):
            raise VfleetError(f"--count {count} does not match the {len(chosen)} names of --names")
        return chosen
    wanted = count if count is not None else (len(fleet_names) or 2)
    chosen = list(fleet_names[:wanted])
    extra = (f"dev-{i}" for i in range(1, wanted + 1) if f"dev-{i}" not in chosen)
    while len(chosen) < wanted:
        chosen.append(next(extra))
    return chosen


def fleet_kubeconfig_refs(repo: Path) -> dict[str, KubeconfigRef]:
    """Each valid Cluster spec's kubeconfig reference, by cluster name; empty outside a fleet repo."""
    try:
        root = compiler.find_root(repo)
    except VfleetError:
        return {}
    fleet = model.build(load.load(tree.open_tree(root)))
    return {name: item.manifest.spec.kubeconfig for name, item in fleet.clusters.items()}


def shell_lines(clusters: Sequence[DevCluster], refs: dict[str, KubeconfigRef], state_dir: Path) -> list[str]:
    """Comments and `export` lines that point each cluster's kubeconfig reference at its dev cluster."""
    lines: list[str] = []
    by_context: dict[str, DevCluster] = {}
    for cluster in clusters:
        rss_mib = sum(devclusters.rss_kib(cluster).values()) // 1024
        lines.append(
            f"# {cluster.name}: {cluster.server}, ready in {cluster.startup_s:.1f} s, RSS {rss_mib} MiB"
        )
        lines.append(f"#   admin kubeconfig: {cluster.admin_kubeconfig}")
        lines.append(f"#   kubeconfig without rights: {cluster.user_kubeconfig}")
        ref = refs.get(cluster.name)
        if ref is None:
            continue
        context = ref.context or cluster.name
        if ref.env is not None:
            path = devclusters.write_kubeconfig(cluster.dir / "fleet.kubeconfig", {context: cluster})
            lines.append(f"export {ref.env}={shlex.quote(str(path))}")
        elif ref.file is not None:
            path = devclusters.write_kubeconfig(cluster.dir / "fleet.kubeconfig", {context: cluster})
            target = ref.file.replace("~", "$HOME", 1) if ref.file.startswith("~") else shlex.quote(ref.file)
            lines.append(f"#   its spec reads {ref.file}; to use this cluster for it:")
            lines.append(f'#   mkdir -p "$(dirname {target})" && cp {shlex.quote(str(path))} {target}')
        else:
            by_context[context] = cluster
    if by_context:
        merged = devclusters.write_kubeconfig(state_dir / MERGED_KUBECONFIG, by_context)
        lines.append(f"# contexts {', '.join(by_context)} of the default kubeconfig:")
        lines.append(f"export KUBECONFIG={shlex.quote(str(merged))}")
    return lines


def register(app: typer.Typer) -> None:
    app.add_typer(dev_app, name="dev")
