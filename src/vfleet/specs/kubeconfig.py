"""A Cluster's kubeconfig reference, resolved at run time into the kubeconfig its stack's provider uses.

The spec only says where the credentials are (an env var holding a kubeconfig or a path to one, a file
outside the repository, a context of the default kubeconfig); they are read here, when a stack runs, and
handed to Pulumi as a secret. The content is never put into a message, a record or a log: errors name
the reference (the variable, the path, the context), never what it holds.

The provider receives the kubeconfig's *content* rather than a path, so a runner's file layout never shows
up as a diff, and `clusterIdentifier` (the cluster name) keeps a rotated credential an update of the
provider rather than a replacement of every object on the cluster.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vfleet.core.errors import VfleetError
from vfleet.specs import KubeconfigRef

# Fields of a kubeconfig that name files; relative ones are relative to the kubeconfig's own directory.
_CLUSTER_FILES = ("certificate-authority",)
_USER_FILES = ("client-certificate", "client-key", "tokenFile")
# Fields whose values are credentials, redacted from any engine output that might echo them.
_SECRET_FIELDS = ("token", "password", "client-key-data", "client-certificate-data")


class KubeconfigError(VfleetError):
    """The kubeconfig a Cluster spec refers to cannot be read on this machine."""

    exit_code = 1  # one cluster's missing credentials fail its stack, never the whole fleet's input


@dataclass(frozen=True)
class Kubeconfig:
    """A resolved kubeconfig. `content` is secret: never print it, never put it into a record."""

    content: str = field(repr=False)
    context: str | None
    source: str  # where it came from, for messages: "env VFLEET_KUBECONFIG_EU (a path)", "file ~/.kube/x"

    def secrets(self) -> tuple[str, ...]:
        """The credential values inside, so that output which echoes one can be redacted."""
        try:
            data = yaml.safe_load(self.content)
        except yaml.YAMLError:
            return ()
        found: list[str] = []
        for entry in _entries(data, "users"):
            user = entry.get("user")
            if isinstance(user, dict):
                found.extend(str(user[k]) for k in _SECRET_FIELDS if isinstance(user.get(k), str) and user[k])
        return tuple(sorted(set(found), key=len, reverse=True))


def resolve(ref: KubeconfigRef, cluster: str, env: Mapping[str, str] = os.environ) -> Kubeconfig:
    """Read the kubeconfig `ref` points at, for cluster `cluster` (named in errors)."""
    if ref.env is not None:
        value = env.get(ref.env, "")
        if not value.strip():
            raise KubeconfigError(
                f"cluster {cluster}: the environment variable {ref.env} is not set; set it to the cluster's "
                "kubeconfig (its content, or the path of a kubeconfig file)"
            )
        if _is_content(value):
            return _finish(value, None, ref.context, cluster, f"env {ref.env}")
        path = _expand(value, env)
        return _finish(
            _read(path, cluster, f"env {ref.env} names"), path.parent, ref.context, cluster, f"env {ref.env} ({path})"
        )
    if ref.file is not None:
        path = _expand(ref.file, env)
        return _finish(_read(path, cluster, "its spec names"), path.parent, ref.context, cluster, f"file {ref.file}")
    return _default_kubeconfig(ref.context, cluster, env)


def _is_content(value: str) -> bool:
    """A kubeconfig's content is YAML with several lines or JSON; a path is one line."""
    text = value.lstrip()
    return "\n" in value.strip() or text.startswith("{") or text.startswith("apiVersion:")


def _expand(value: str, env: Mapping[str, str]) -> Path:
    if value.startswith("~"):
        home = env.get("HOME") or os.path.expanduser("~")
        value = home + value[1:]
    return Path(value)


def _read(path: Path, cluster: str, how: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KubeconfigError(f"cluster {cluster}: {how} the kubeconfig {path}, which does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KubeconfigError(
            f"cluster {cluster}: cannot read the kubeconfig {path}: {exc.__class__.__name__}"
        ) from None


def _default_kubeconfig(context: str | None, cluster: str, env: Mapping[str, str]) -> Kubeconfig:
    """`context:` alone: $KUBECONFIG (a list of files, merged the way kubectl merges them) or ~/.kube/config."""
    listed = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p.strip()]
    paths = [_expand(p, env) for p in listed] or [_expand("~/.kube/config", env)]
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    found = False
    for path in paths:
        if not path.is_file():
            continue
        data = _parse(_read(path, cluster, "KUBECONFIG lists"), cluster, str(path))
        _absolutize(data, path.parent)
        for section in ("clusters", "users", "contexts"):
            known = {e.get("name") for e in merged[section]}
            merged[section].extend(e for e in _entries(data, section) if e.get("name") not in known)
        found = True
    where = "KUBECONFIG" if listed else "~/.kube/config"
    if not found:
        raise KubeconfigError(
            f"cluster {cluster}: its spec names context {context!r} of the default kubeconfig, but {where} "
            f"({os.pathsep.join(str(p) for p in paths)}) does not exist"
        )
    content = yaml.safe_dump(merged, sort_keys=True)
    return _finish(content, None, context, cluster, f"context {context} of {where}", parsed=merged)


def _finish(
    content: str,
    base: Path | None,
    context: str | None,
    cluster: str,
    source: str,
    parsed: dict[str, Any] | None = None,
) -> Kubeconfig:
    data = parsed if parsed is not None else _parse(content, cluster, source)
    if base is not None and _absolutize(data, base):
        content = yaml.safe_dump(data, sort_keys=True)  # relative file references would break elsewhere
    names = sorted(str(e.get("name")) for e in _entries(data, "contexts"))
    if context is not None and context not in names:
        raise KubeconfigError(
            f"cluster {cluster}: the kubeconfig from {source} has no context {context!r} "
            f"(it has: {', '.join(names) or 'none'})"
        )
    if context is None and not data.get("current-context") and len(names) != 1:
        raise KubeconfigError(
            f"cluster {cluster}: the kubeconfig from {source} sets no current-context; name one with "
            "`context:` in the Cluster spec"
        )
    return Kubeconfig(content, context, source)


def _parse(content: str, cluster: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError:
        data = None  # the parser's message may quote the content: never show it
    if not isinstance(data, dict):
        raise KubeconfigError(f"cluster {cluster}: {source} does not hold a kubeconfig (a YAML mapping)")
    return data


def _entries(data: Any, section: str) -> list[dict[str, Any]]:
    items = data.get(section) if isinstance(data, dict) else None
    return [e for e in items if isinstance(e, dict)] if isinstance(items, list) else []


def _absolutize(data: dict[str, Any], base: Path) -> bool:
    changed = False
    for section, key, fields in (("clusters", "cluster", _CLUSTER_FILES), ("users", "user", _USER_FILES)):
        for entry in _entries(data, section):
            inner = entry.get(key)
            if not isinstance(inner, dict):
                continue
            for name in fields:
                value = inner.get(name)
                if isinstance(value, str) and value and not os.path.isabs(value) and not value.startswith("~"):
                    inner[name] = str((base / value).resolve())
                    changed = True
    return changed


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every credential value replaced, longest first."""
    for secret in secrets:
        if len(secret) >= 6:
            text = text.replace(secret, "[secret]")
    return text
