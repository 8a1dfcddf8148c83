"""The incremental plan (slices of the changed tenants + cached index) equals the plan of two full compiles.

Each case commits one kind of change on the same base and compares the two plans' JSON reports field by
field (everything but how they were computed). The cases cover tenant-local changes, the lock, template and
project changes that affect many tenants, cluster-wide objects (the NodeClaim CRD), and changes that must
take the full path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from plankit import History, comparable, tenant
from vfleet.report import plan_json

GPU = "  privateNodes:\n    - {name: gpu, provider: metal, nodeType: gpu-l4, quantity: 1}\n"
BETA = """
    apiVersion: vfleet.dev/v1alpha1
    kind: Project
    metadata: {name: beta}
    spec:
      members:
        - {team: platform, role: user}
      templates: [{name: shared, versions: ["1.x"]}]
      defaultTemplate: {name: shared, version: "1.x"}
      clusters: {names: [eu-1, us-1]}
      defaults:
        sleep: {afterInactivity: 2h}
    """


PLATFORM = """
    apiVersion: vfleet.dev/v1alpha1
    kind: Platform
    metadata: {name: platform}
    spec:
      members:
        - {team: platform, role: operator}
    """


def _base(h: History) -> None:
    h.write("fleet/projects/beta/project.yaml", BETA)
    h.write("fleet/platform.yaml", PLATFORM)  # the platform team's members (by name) on every cluster
    for name in ("web", "api"):
        h.write(f"fleet/projects/alpha/tenants/{name}.yaml", tenant(name, cluster="us-1"))
    h.write("fleet/projects/alpha/tenants/gpu.yaml", tenant("gpu", cluster="eu-1", extra=GPU))
    h.write("fleet/projects/alpha/tenants/roam.yaml", tenant("roam", cluster=None))
    for name in ("one", "two", "three"):
        h.write(f"fleet/projects/beta/tenants/{name}.yaml", tenant(name, cluster=None).replace("alice", "bob"))


def _edit(path: str, old: str, new: str) -> Callable[[History], None]:
    def change(h: History) -> None:
        text = (h.root / path).read_text()
        assert old in text, (path, old)
        h.write(path, text.replace(old, new))
    return change


def _write(path: str, text: str | None) -> Callable[[History], None]:
    return lambda h: h.write(path, text)


def _lock_move(h: History) -> None:
    lock = (h.root / "fleet/placement.lock").read_text()
    current = next(line for line in lock.splitlines() if line.startswith("  alpha/roam:"))
    other = "us-1" if current.endswith("eu-1") else "eu-1"
    h.write("fleet/placement.lock", lock.replace(current, f"  alpha/roam: {other}"))


def _values(h: History) -> None:
    h.write("templates/shared/values.yaml.j2", (h.root / "templates/shared/values.yaml.j2").read_text()
            + "telemetry:\n  enabled: false\n")


def _bump(h: History) -> None:
    text = (h.root / "templates/shared/template.yaml").read_text()
    version = text[text.index("    - version: 1.0.0"):]
    h.write("templates/shared/template.yaml", text + version.replace("1.0.0", "1.1.0").replace("0.35.3", "0.35.4"))


def _both(*changes: Callable[[History], None]) -> Callable[[History], None]:
    def change(h: History) -> None:
        for c in changes:
            c(h)
    return change


T = "fleet/projects/alpha/tenants/"
CASES: dict[str, tuple[Callable[[History], None], str, bool]] = {
    # name: (change, expected method, whether to commit a fresh placement first)
    "parameter": (_edit(T + "web.yaml", 'cpu: "2"', 'cpu: "5"'), "incremental", True),
    "add-explicit": (_write(T + "new.yaml", tenant("new", cluster="us-1")), "incremental", True),
    "add-placed": (_write("fleet/projects/beta/tenants/four.yaml", tenant("four", cluster=None)), "incremental",
                   True),
    "delete": (_write(T + "api.yaml", None), "incremental", True),
    "mass-delete": (_both(_write(T + "api.yaml", None), _write(T + "web.yaml", None)), "incremental", True),
    "protect-and-move": (_both(_edit(T + "gpu.yaml", "protect: false", "protect: true"),
                             _edit(T + "gpu.yaml", "cluster: eu-1", "cluster: us-1")), "incremental", True),
    "lock-move": (_lock_move, "incremental", False),
    "explicit-move": (_edit(T + "web.yaml", "cluster: us-1", "cluster: eu-1"), "incremental", True),
    "template-values": (_values, "incremental", True),
    "template-version": (_bump, "incremental", True),
    # Project roles get nothing on the host; a project's read-only host view does land there.
    "project-host-view": (_edit("fleet/projects/alpha/project.yaml", "role: viewer}\n",
                                "role: viewer}\n  hostAccess: {view: [viewer]}\n"), "incremental", True),
    "project-defaults": (_edit("fleet/projects/beta/project.yaml", "afterInactivity: 2h", "afterInactivity: 8h"),
                         "incremental", True),
    "crd-removed": (_edit(T + "gpu.yaml", GPU, ""), "incremental", True),
    "crd-protected": (_edit(T + "gpu.yaml", "protect: false", "protect: true"), "incremental", True),
    "crd-added": (_write(T + "gpu2.yaml", tenant("gpu2", cluster="us-1", extra=GPU)), "incremental", True),
    "rename-file": (lambda h: h.repo.git.mv(T + "web.yaml", T + "web2.yaml"), "incremental", True),
    "tenant-and-project": (_both(_edit(T + "api.yaml", 'cpu: "2"', 'cpu: "1"'),
                                 _edit("fleet/projects/beta/project.yaml", "role: user", "role: admin")),
                           "incremental", True),
    "cluster": (_edit("fleet/clusters/us-1.yaml", "rollout: {wave: 1}",
                       "rollout: {wave: 1}\n  chart: {repository: 'https://charts.example.com'}"), "full", True),
    "team": (_edit("fleet/teams/platform.yaml", "members: [alice]", "members: [alice, carol]"), "full", True),
    "platform-roles": (_edit("fleet/platform.yaml", "role: operator}",
                             "role: operator}\n    - {group: sre, role: viewer}"), "full", True),
    "duplicate-key": (_write(T + "copy.yaml", tenant("web", cluster="us-1")), "full", False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_incremental_equals_full(tmp_path: Path, case: str) -> None:
    change, method, place_first = CASES[case]
    h = History(tmp_path / "repo")
    _base(h)
    base = h.commit("base")
    change(h)
    head = h.commit(case, place_first=place_first)
    incremental = h.plan(base, head)
    full = h.plan(base, head, incremental=False)
    assert incremental.method == method, incremental.reason
    assert full.method == "full"
    assert comparable(plan_json.to_json(incremental)) == comparable(plan_json.to_json(full))
    if case != "duplicate-key":
        assert full.exit_code in (1, 3) and full.clusters, "the case must change something"
    else:
        assert full.exit_code == 2


def test_cached_base_index_is_reused_and_head_index_is_stored(tmp_path: Path) -> None:
    h = History(tmp_path / "repo")
    _base(h)
    base = h.commit("base")
    _edit(T + "web.yaml", 'cpu: "2"', 'cpu: "3"')(h)
    head = h.commit("one")
    first = h.plan(base, head)
    assert "compile-base" in first.timings  # the base index did not exist yet
    second = h.plan(base, head)
    assert "compile-base" not in second.timings and second.method == "incremental"
    _edit(T + "api.yaml", 'cpu: "2"', 'cpu: "3"')(h)
    third = h.plan(head, h.commit("two"))  # the head of the first plan is the base now: cached
    assert "compile-base" not in third.timings and third.method == "incremental"
    assert comparable(plan_json.to_json(third)) == comparable(
        plan_json.to_json(h.plan(head, h.repo.head.commit.hexsha, incremental=False)))
