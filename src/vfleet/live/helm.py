"""What a tenant's Helm release would create: the real `helm template` with its rendered values.

The chart comes from the cluster's configured source exactly as the apply adapter passes it (a local
directory relative to the repository, an OCI registry, or an HTTP chart repository), so the objects
checked are the objects a release would install. `--kube-version` is the connected cluster's, so that
charts that branch on `.Capabilities` render for the cluster they are checked against.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from vfleet import toolchain

_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Rendered:
    """The objects of one release, or why `helm template` failed (its stderr, trimmed)."""

    objects: tuple[dict[str, Any], ...]
    error: str | None = None


def chart_args(spec: Mapping[str, Any], root: Path) -> list[str]:
    """The chart reference and source flags for a HelmRelease spec (as `apply.adapter.release_args`)."""
    if "path" in spec:
        path = Path(str(spec["path"]))
        return [str(path if path.is_absolute() else root / path)]  # Helm ignores --version for a directory
    repository = str(spec["repository"])
    version = ["--version", str(spec["version"])]
    if repository.startswith("oci://"):
        return [f"{repository.rstrip('/')}/{spec['chart']}", *version]
    return [str(spec["chart"]), "--repo", repository, *version]


def template(
    spec: Mapping[str, Any],
    root: Path,
    *,
    kube_version: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> Rendered:
    """`helm template` of a HelmRelease spec. Raises `toolchain.ToolMissing` without a helm binary."""
    helm = toolchain.binary("helm")
    with tempfile.TemporaryDirectory(prefix="vfleet-helm-") as tmp:
        values = Path(tmp) / "values.json"  # JSON is YAML: no re-serialisation surprises (nulls kept)
        values.write_bytes(orjson.dumps(spec.get("values") or {}))
        argv = [
            str(helm),
            "template",
            str(spec["releaseName"]),
            *chart_args(spec, root),
            "--namespace",
            str(spec["namespace"]),
            "--values",
            str(values),
            "--include-crds",
            "--skip-tests",
        ]
        if kube_version:
            argv += ["--kube-version", kube_version]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, env=dict(env), timeout=_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            return Rendered((), f"helm template did not finish within {_TIMEOUT_S:.0f} s")
    if done.returncode != 0:
        return Rendered((), _trim(done.stderr) or f"helm template exited with code {done.returncode}")
    try:
        documents = [doc for doc in yaml.load_all(done.stdout, Loader=_Loader) if isinstance(doc, dict)]
    except yaml.YAMLError as exc:
        return Rendered((), f"helm template printed YAML that does not parse: {exc}")
    return Rendered(tuple(_with_namespace(doc, str(spec["namespace"])) for doc in documents))


_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _with_namespace(doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    """Charts often leave metadata.namespace out; Helm installs such objects in the release namespace.

    Set it here for every object (cluster-scoped ones are recognised later, by discovery, and lose it).
    """
    metadata = doc.get("metadata")
    if isinstance(metadata, dict) and not metadata.get("namespace"):
        return {**doc, "metadata": {**metadata, "namespace": namespace}}
    return doc


def _trim(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return "\n".join(lines[-8:])
