"""The policies/ folder as the gate loads it, its data document, and the error the gate fails closed with.

The files come from a `Tree`, so the policies of any Git revision can be served (`vfleet policy impact`
runs the base revision's policies next to the head's).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import orjson
import yaml

from vfleet.core.errors import VfleetError
from vfleet.load import POLICIES_DIR, layout
from vfleet.repo.tree import Tree, TreeError

ROOT = "vfleet"  # the package root every policy lives under: data.vfleet.*
_DATA_SUFFIXES = (".json", ".yaml", ".yml")


class PolicyError(VfleetError):
    """The policy gate cannot give a verdict. `code` is the finding code it is reported under."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PolicySet:
    """The files of a `policies/` folder: path relative to it -> content, and where they came from."""

    files: Mapping[str, bytes]
    origin: str  # for messages: "policies/ of work tree /repo", "policies/ of commit abc123"

    @staticmethod
    def from_tree(tree: Tree) -> PolicySet:
        prefix = POLICIES_DIR + "/"
        try:
            files = {e.path.removeprefix(prefix): tree.read(e.path) for e in tree.files(POLICIES_DIR)}
            odd = layout.unread(tree.unlisted(POLICIES_DIR))
        except (TreeError, OSError) as exc:
            raise PolicyError("policy.load", f"cannot read {POLICIES_DIR}/ of {tree.label}: {exc}") from exc
        # A policy file the server would not load is a rule nobody enforces: refused, never skipped.
        odd += [(prefix + path, "layout.extension", "a Rego module is loaded only as *.rego (lowercase); rename it")
                for path in files if path.lower().endswith(".rego") and not path.endswith(".rego")]
        if odd:
            raise PolicyError("policy.layout", f"{POLICIES_DIR}/ of {tree.label} has files the policy gate would not "
                              "load: " + "; ".join(f"{path} ({code}): {message}" for path, code, message in odd))
        policies = PolicySet(files, f"{POLICIES_DIR}/ of {tree.label}")
        if not policies.modules:
            raise PolicyError(
                "policy.missing",
                f"{policies.origin} holds no Rego policies (*.rego), so nothing can be checked; add the "
                "guardrail library to policies/ (docs/policy-input.md describes what policies see).",
            )
        return policies

    @property
    def modules(self) -> dict[str, str]:
        """The Rego modules the server loads: every *.rego but the unit tests."""
        return {
            path: content.decode("utf-8")
            for path, content in sorted(self.files.items())
            if path.endswith(".rego") and not path.endswith("_test.rego")
        }

    def fingerprint(self, engine: str) -> str:
        """A digest of these files and of `engine` (which OPA evaluates them)."""
        hashed = hashlib.blake2b(engine.encode(), digest_size=20)
        for path, content in sorted(self.files.items()):
            hashed.update(f"\0{path}\0{len(content)}\0".encode())
            hashed.update(content)
        return hashed.hexdigest()

    def config(self, name: str) -> Any:
        """data.<root>.config.<name> as the data files set it, None when they do not (or cannot be read):
        a hint before any server runs; what the server answers (`PolicyServer.setting`) is what counts."""
        try:
            config = data_document(self).get("config")
        except PolicyError:
            return None
        return config.get(name) if isinstance(config, dict) else None

    def write(self, directory: Path) -> None:
        for path, content in self.files.items():
            target = directory / PurePosixPath(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)


def data_document(policies: PolicySet) -> dict[str, Any]:
    """The data files, merged as `opa run` merges them (a file's folder is its path in data)."""
    merged: dict[str, Any] = {}
    for path, content in sorted(policies.files.items()):
        if not path.endswith(_DATA_SUFFIXES):
            continue
        try:
            value = orjson.loads(content) if path.endswith(".json") else yaml.safe_load(content)
        except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
            raise PolicyError("policy.load", f"{POLICIES_DIR}/{path}: not valid data: {exc}") from exc
        node = merged
        for part in PurePosixPath(path).parent.parts:
            node = node.setdefault(part, {})
        if not isinstance(value, dict):
            raise PolicyError("policy.load", f"{POLICIES_DIR}/{path}: a data file must hold a mapping")
        _merge(node, value, path)
    outside = sorted(set(merged) - {ROOT})
    if outside:
        raise PolicyError("policy.load", f"policy data outside data.{ROOT} ({', '.join(outside)}) cannot be "
                          f"pushed to a shared OPA without clashing with other users; move it under '{ROOT}:'")
    data: dict[str, Any] = merged.get(ROOT, {})
    return data


def _merge(into: dict[str, Any], value: Mapping[str, Any], path: str) -> None:
    for key, item in value.items():
        if isinstance(item, dict) and isinstance(into.get(key), dict):
            _merge(into[key], item, path)
        elif key in into:
            raise PolicyError("policy.load", f"{POLICIES_DIR}/{path}: data key {key!r} is defined twice")
        else:
            into[key] = item
