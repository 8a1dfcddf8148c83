"""Real Git histories of small fleets for the plan tests: write, place, commit, plan."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import git

from fleetkit import write_fleet
from vfleet import compile as compiler
from vfleet import place
from vfleet.plan import Options, Plan, plan


def tenant(name: str, *, cluster: str | None = "eu-1", cpu: str = "2", protect: bool = False,
           extra: str = "") -> str:
    """A tenant document of project alpha (template `shared` from the project's default)."""
    where = f"  cluster: {cluster}\n" if cluster else ""
    return (
        "apiVersion: vfleet.dev/v1alpha1\nkind: Tenant\n"
        f"metadata:\n  name: {name}\n"
        f"spec:\n  owner: alice\n{where}  parameters: {{cpu: \"{cpu}\"}}\n  protect: {str(protect).lower()}\n"
        + extra
    )


class History:
    """A Git repository holding a fleet; every `commit()` places new tenants first (like `vfleet place`)."""

    def __init__(self, root: Path, files: Mapping[str, str | None] | None = None) -> None:
        self.root = root
        self.repo = git.Repo.init(root)
        with self.repo.config_writer() as config:
            config.set_value("user", "name", "plan tests")
            config.set_value("user", "email", "plan@example.invalid")
        write_fleet(root, files)
        self.env = {"VFLEET_CACHE_DIR": str(root.parent / f"{root.name}-cache")}

    def write(self, rel: str, text: str | None) -> None:
        path = self.root / rel
        if text is None:
            path.unlink()
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")

    def place(self) -> None:
        compiled = compiler.compile_fleet(self.root, check_lock=False, env=self.env)
        assert not compiled.findings.errors, [f"{f.location}: {f.message}" for f in compiled.findings.errors]
        place.write_lock(self.root, compiled.placement)

    def commit(self, message: str = "change", *, place_first: bool = True) -> str:
        # Staged first, as a person would `git rm` a tenant before `vfleet place`: a file Git tracks that
        # the work tree lacks is an error of the work tree's compile (vfleet.layout).
        self.repo.git.add("-A")
        if place_first:
            self.place()
        self.repo.git.add("-A")
        self.repo.git.commit("-q", "--allow-empty", "-m", message)
        return self.repo.head.commit.hexsha

    def plan(self, base: str, head: str | None = None, **options: Any) -> Plan:
        options.setdefault("policy", False)
        return plan(self.root, base, head, Options(env=self.env, **options))


def resources(p: Plan, cluster: str) -> list[tuple[str, str, str]]:
    """(op, kind, name) of a cluster's resource changes, in plan order."""
    found = [c for c in p.clusters if c.cluster == cluster]
    return [(r.op.value, r.kind, r.name) for r in (found[0].resources if found else ())]


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    """A JSON plan without what legitimately differs between an incremental and a full plan."""
    return {k: v for k, v in data.items() if k not in {"method", "timings", "fullCompileReason"}}
