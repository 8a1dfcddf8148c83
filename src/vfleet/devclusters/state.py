"""Clusters that outlive the command that started them (`vfleet dev clusters up|down`): their record."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from vfleet.core import processes
from vfleet.core.processes import Process
from vfleet.devclusters.cluster import start_clusters, stop_clusters
from vfleet.devclusters.kubeconfig import write_private
from vfleet.devclusters.records import DevCluster, DevClusterError

STATE_FILE = "clusters.json"


def up(state_dir: Path, names: Sequence[str]) -> list[DevCluster]:
    """Start clusters under `state_dir` and record them there, so that `down` can stop them later."""
    previous = load_state(state_dir)
    if any(processes.alive(process) for cluster in previous for process in cluster.processes):
        running_names = ", ".join(cluster.name for cluster in previous)
        raise DevClusterError(
            f"dev clusters {running_names} are already running (state in {state_dir / STATE_FILE});"
            " stop them first with `vfleet dev clusters down`"
        )
    down(state_dir)  # clears what a crashed run left behind
    for name in names:
        shutil.rmtree(state_dir / name, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    clusters = start_clusters(names, root=state_dir, detach=True)
    payload = {"clusters": [_to_json(cluster) for cluster in clusters]}
    write_private(state_dir / STATE_FILE, json.dumps(payload, indent=2) + "\n")
    return clusters


def down(state_dir: Path) -> list[DevCluster]:
    """Stop every cluster recorded under `state_dir`, remove its directory and the record."""
    clusters = load_state(state_dir)
    stop_clusters(clusters)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return clusters


def load_state(state_dir: Path) -> list[DevCluster]:
    path = state_dir / STATE_FILE
    if not path.exists():
        return []
    try:
        return [_from_json(item) for item in json.loads(path.read_text())["clusters"]]
    except (ValueError, KeyError, TypeError) as error:
        message = f"{path} is damaged ({error}); stop its processes by hand and remove it"
        raise DevClusterError(message) from None


def _to_json(cluster: DevCluster) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(cluster), default=str))  # type: ignore[no-any-return]


def _from_json(item: dict[str, Any]) -> DevCluster:
    paths = ("dir", "ca_file", "admin_kubeconfig", "user_kubeconfig")
    processes = tuple(Process(**{**process, "log": Path(process["log"])}) for process in item["processes"])
    return DevCluster(**{**item, **{key: Path(item[key]) for key in paths}, "processes": processes})
