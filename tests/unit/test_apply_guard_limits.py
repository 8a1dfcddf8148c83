"""Apply's deletion guard takes its limits from the applied tree's vfleet.yaml, like the plan's."""

from __future__ import annotations

from pathlib import Path

from fleetkit import BASE, write_fleet
from vfleet import compile as compiler
from vfleet.apply import prechecks

TENANT = """
    apiVersion: vfleet.dev/v1alpha1
    kind: Tenant
    metadata: {{name: {name}}}
    spec: {{owner: alice, cluster: eu-1}}
    """


def _state(root: Path, tenants: list[str], config: str = "") -> compiler.Compiled:
    files: dict[str, str | None] = {
        f"fleet/projects/alpha/tenants/{name}.yaml": TENANT.format(name=name) for name in tenants
    }
    files["vfleet.yaml"] = BASE["vfleet.yaml"] + config
    for old in (root / "fleet/projects/alpha/tenants").glob("*.yaml") if root.exists() else ():
        old.unlink()
    compiled = compiler.compile_fleet(write_fleet(root, files), check_lock=False)
    assert compiled.ok, compiled.findings
    return compiled


def test_the_limits_of_vfleet_yaml_apply(tmp_path: Path) -> None:
    names = [f"t{i}" for i in range(8)]
    base = _state(tmp_path, ["dev", *names]).desired["eu-1"]
    # 4 of 9 tenants deleted: more than the default share (25 %), so the default guard refuses ...
    strict = _state(tmp_path, ["dev", *names[4:]])
    assert [f.code for f in prechecks.deletion_guard()("eu-1", base, strict.desired["eu-1"], override=None)] == [
        "guard.mass-delete"
    ]
    assert prechecks.deletion_guard(strict.tree)("eu-1", base, strict.desired["eu-1"], override=None)
    # ... and a repository that allows it passes, while a stricter one refuses even one deletion.
    loose = _state(tmp_path, ["dev", *names[4:]], "guards: {maxDeletes: 5, maxDeleteShare: 0.5}\n")
    assert list(prechecks.deletion_guard(loose.tree)("eu-1", base, loose.desired["eu-1"], override=None)) == []
    tight = _state(tmp_path, ["dev", *names[1:]], "guards: {maxDeletes: 0}\n")
    assert prechecks.deletion_guard(tight.tree)("eu-1", base, tight.desired["eu-1"], override=None)
