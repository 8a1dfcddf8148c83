"""Kubeconfigs for loopback clusters, and the owner-only files tokens and keys are written to."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from vfleet.devclusters.records import DevCluster


def write_kubeconfig(path: Path, contexts: Mapping[str, DevCluster], *, admin: bool = True) -> Path:
    """A kubeconfig reaching each cluster under the context name it is keyed by (the first is current).

    For fleet specs whose kubeconfig reference names a context, or that read several clusters from
    one file; each cluster's own admin/user kubeconfigs use the cluster's name as context.
    """
    entries = [
        (context, cluster.server, cluster.ca_file, cluster.admin_token if admin else cluster.user_token)
        for context, cluster in contexts.items()
    ]
    return write_entries(path, entries)


def write_entries(path: Path, entries: Sequence[tuple[str, str, Path, str]]) -> Path:
    """Write (context, server, CA file, token) entries; cluster and user are named like the context."""
    clusters, users, contexts = [], [], []
    for context, server, ca_file, token in entries:
        # The CA is embedded so the file works on its own (copied, or its content put in an env var).
        ca_data = base64.b64encode(ca_file.read_bytes()).decode()
        cluster = {"server": server, "certificate-authority-data": ca_data}
        clusters.append({"name": context, "cluster": cluster})
        users.append({"name": context, "user": {"token": token}})
        contexts.append({"name": context, "context": {"cluster": context, "user": context}})
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
        "current-context": entries[0][0],
    }
    write_private(path, yaml.safe_dump(config, sort_keys=False))
    return path


def write_private(path: Path, content: str) -> None:
    """Write a file only its owner can read: tokens and keys live in these files."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)

