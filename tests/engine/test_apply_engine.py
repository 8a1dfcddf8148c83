"""Engine tier: `vfleet apply` / `preview` / `destroy` with the real Pulumi CLI and provider (the toolchain's
pinned builds) against two loopback clusters of this module's own, releases from the project's test chart
(awaiting off: there is no kubelet, nothing ever becomes Ready).

The scenarios build on each other, in order, on one fleet: what each asserts is read back from the
clusters (kubernetes client, helm) and from the stack's Pulumi state in the file:// backend. A missing
engine FAILS the tier (`enginekit.require_engine`), like every other tier's tool.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from enginekit import (
    ENV_VARS,
    Fleet,
    engine_clusters,
    make_fleet,
    missing_objects,
    namespaces,
    release_revisions,
    release_values,
    require_engine,
    stacks,
    state_names,
    why,
)
from vfleet import desired
from vfleet.core.findings import Findings

pytestmark = pytest.mark.engine
LEDGER = "fleet/projects/payments/tenants/ledger-dev.yaml"  # on live-a
LEDGER_RELEASE = "vc-payments-ledger-dev/ledger-dev"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    require_engine()
    with engine_clusters() as clusters:
        yield make_fleet(tmp_path_factory.mktemp("engine"), clusters)


def _no_change_on_full_preview(fleet: Fleet, *clusters: str) -> None:
    """The proof that a run left its stacks converged: the engine, diffing every resource, finds nothing."""
    args = [a for c in clusters for a in ("--cluster", c)]
    code, report = fleet.apply_json("--all", *args, op="preview")
    assert code == 0, why(report)
    for stack in report["stacks"]:
        assert set(stack["changes"]) <= {"same"}, why(report)


def test_1_first_apply_creates_every_desired_object(fleet: Fleet) -> None:
    code, report = fleet.apply_json()
    assert code == 0, why(report)
    assert {c: s["result"] for c, s in stacks(report).items()} == {"live-a": "applied", "live-b": "applied"}
    assert all(s["scope"].startswith("full: no earlier apply") for s in report["stacks"]), why(report)
    wanted = fleet.compiled_desired()
    kinds = {r.kind for state in wanted.values() for r in state.resources}
    assert kinds >= {
        "Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "Role", "RoleBinding", "ClusterRole",
        "ClusterRoleBinding", "CustomResourceDefinition", "NodeClaim", desired.HELM_RELEASE,
    }  # fmt: skip
    for name, state in wanted.items():
        cluster = fleet.clusters[name]
        assert missing_objects(cluster, state, release_revisions(fleet, name)) == [], name
        in_state = state_names(fleet, name)
        assert {r.id.split("/", 1)[1] for r in state.resources} <= in_state, name
        assert stacks(report)[name]["changes"] == {"create": len(state.resources) + 2}, why(report)


def test_2_a_second_apply_makes_no_engine_call(fleet: Fleet) -> None:
    checkpoints = {c: fleet.pulumi_state(c) for c in fleet.clusters}
    code, report = fleet.apply_json()
    assert code == 0 and {s["result"] for s in report["stacks"]} == {"skipped"}, why(report)
    assert {c: fleet.pulumi_state(c) for c in fleet.clusters} == checkpoints  # no update ran


def test_3_one_parameter_updates_exactly_one_release_targeted(fleet: Fleet) -> None:
    before = {c: release_revisions(fleet, c) for c in fleet.clusters}
    fleet.edit(LEDGER, "k8sVersion: v1.34.2", "k8sVersion: v1.33.5")
    code, report = fleet.apply_json()
    assert code == 0, why(report)
    live_a = stacks(report)["live-a"]
    assert stacks(report)["live-b"]["result"] == "skipped"
    assert live_a["scope"].startswith("targeted: 1 changed resource"), why(report)
    assert live_a["changes"].get("update") == 1 and set(live_a["changes"]) <= {"update", "same"}, why(report)
    after = {c: release_revisions(fleet, c) for c in fleet.clusters}
    bumped = [(c, r) for c in after for r in after[c] if after[c][r] != before[c].get(r)]
    assert bumped == [("live-a", LEDGER_RELEASE)]
    _no_change_on_full_preview(fleet, "live-a")


def test_4_renaming_a_tenant_file_keeps_every_live_object(fleet: Fleet) -> None:
    uids = namespaces(fleet.clusters["live-a"])
    (fleet.root / LEDGER).rename(fleet.root / LEDGER.replace("ledger-dev.yaml", "ledger-development.yaml"))
    code, report = fleet.apply_json()
    assert code == 0, why(report)
    changes = stacks(report)["live-a"]["changes"]
    assert stacks(report)["live-a"]["scope"].startswith("targeted:"), why(report)  # outputs carried the hash
    assert not {"create", "delete", "replace", "create-replacement"} & set(changes), why(report)
    assert namespaces(fleet.clusters["live-a"]) == uids
    (fleet.root / LEDGER.replace("ledger-dev.yaml", "ledger-development.yaml")).rename(fleet.root / LEDGER)
    assert fleet.apply_json()[0] == 0


def test_5_a_changed_id_derivation_keeps_every_live_object(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new logical-name derivation with its `aliases.Rename`, applied in-process (the inline program
    runs in this process, so the derivation can be swapped here), then swapped back the same way."""
    from vfleet import compile as compiler
    from vfleet.apply import adapter, aliases, engine, orchestrate, records, runner
    from vfleet.apply.decide import Operation

    for key, value in fleet.env.items():
        monkeypatch.setenv(key, value)
    original = adapter.logical_name
    uids = namespaces(fleet.clusters["live-a"])
    compiled = compiler.compile_fleet(fleet.root, env=fleet.env)
    config = engine.configure(fleet.root, fleet.state_dir, env=fleet.env)

    def apply_with(derive, former, since: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
        monkeypatch.setattr(adapter, "logical_name", derive)
        rename = aliases.Rename(since, "test derivation", lambda r: aliases.Former(former(r.id)))
        monkeypatch.setattr(aliases, "RENAMES", (rename,))
        report = orchestrate.run(
            compiled,
            orchestrate.Options(Operation.UP, ("live-a",), force=True),
            runner=lambda: runner.PulumiRunner(config),
            records=records.Records(fleet.state_dir),
            policy=lambda c: Findings.of([]),  # the gate is not what this scenario is about
        )
        (result,) = report.results
        assert result.result.value == "applied", result.message
        assert result.scope.startswith("full: the engine settings changed"), result.scope
        return dict(result.changes)

    changes = apply_with(lambda rid: "v2." + original(rid), original, "v2")
    assert not {"create", "delete", "replace"} & set(changes), changes
    assert {n for n in state_names(fleet, "live-a") if n.startswith("v2.")}, "the new names are in the state"
    assert namespaces(fleet.clusters["live-a"]) == uids
    changes = apply_with(original, lambda rid: "v2." + original(rid), "v3")
    assert not {"create", "delete", "replace"} & set(changes), changes
    assert namespaces(fleet.clusters["live-a"]) == uids
    assert not {n for n in state_names(fleet, "live-a") if n.startswith("v2.")}


def test_6_sleep_and_wake_change_the_release_values_and_nothing_else(fleet: Fleet) -> None:
    for sleeping in ("true", "false"):
        before = release_revisions(fleet, "live-a")
        text = (fleet.root / LEDGER).read_text()
        if "sleeping:" in text:
            fleet.edit(LEDGER, f"sleeping: {'false' if sleeping == 'true' else 'true'}", f"sleeping: {sleeping}")
        else:
            fleet.edit(LEDGER, "  autoDelete:", f"  sleep:\n    sleeping: {sleeping}\n  autoDelete:")
        code, report = fleet.apply_json()
        assert code == 0, why(report)
        live_a = stacks(report)["live-a"]
        # The sleep runs in full: scenario 5 left the stack applied under other aliases (another fingerprint).
        expected = "full: the engine settings changed" if sleeping == "true" else "targeted: 1 changed resource"
        assert live_a["scope"].startswith(expected), why(report)
        assert live_a["changes"].get("update") == 1 and set(live_a["changes"]) <= {"update", "same"}, why(report)
        after = release_revisions(fleet, "live-a")
        assert [r for r in after if after[r] != before.get(r)] == [LEDGER_RELEASE]
        values = release_values(fleet, "live-a", *LEDGER_RELEASE.split("/"))
        assert ("sleeping" in str(values).lower() or "sleep" in values) if sleeping == "true" else True, values
    _no_change_on_full_preview(fleet, "live-a")
    # What the engine applied is what `vfleet drift` expects: nothing changed or missing on either cluster
    # (the field-manager annotation pulumi-kubernetes keeps on the objects it does not type is not drift).
    done = fleet.vfleet("drift", ".", "-o", "json")
    found = [(d["id"], d["change"], [f["path"] for f in d.get("fields", [])])
             for d in json.loads(done.stdout).get("drift", [])]
    assert found == [] and done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_7_a_move_needs_the_override_and_then_creates_on_one_stack_and_deletes_on_the_other(fleet: Fleet) -> None:
    fleet.edit(LEDGER, "cluster: live-a", "cluster: live-b")
    fleet.edit("fleet/placement.lock", "payments/ledger-dev: live-a", "payments/ledger-dev: live-b")
    code, report = fleet.apply_json()
    assert code == 1 and stacks(report)["live-a"]["result"] == "refused", why(report)
    assert "vc-payments-ledger-dev" in namespaces(fleet.clusters["live-a"])
    code, report = fleet.apply_json("--override-guard", "engine tier: move ledger-dev to live-b")
    assert code == 0, why(report)
    created, deleted = stacks(report)["live-b"]["changes"], stacks(report)["live-a"]["changes"]
    assert created.get("create", 0) >= 2 and not created.get("delete"), why(report)
    assert deleted.get("delete", 0) >= 2 and not deleted.get("create"), why(report)
    assert "vc-payments-ledger-dev" in namespaces(fleet.clusters["live-b"])
    assert "vc-payments-ledger-dev" not in namespaces(fleet.clusters["live-a"])
    assert LEDGER_RELEASE in release_revisions(fleet, "live-b")
    _no_change_on_full_preview(fleet)


def test_8_deleting_a_protected_tenant_is_refused(fleet: Fleet) -> None:
    checkout = fleet.root / "fleet/projects/payments/tenants/checkout.yaml"
    lock = fleet.root / "fleet/placement.lock"
    saved, saved_lock = checkout.read_text(), lock.read_text()
    checkout.unlink()
    lock.write_text("".join(line for line in saved_lock.splitlines(keepends=True) if "checkout-prod:" not in line))
    code, report = fleet.apply_json("--override-guard", "even with an override")
    assert code == 1
    live_b = stacks(report)["live-b"]
    assert live_b["result"] == "refused" and "protected" in live_b["message"], why(report)
    assert "vc-payments-checkout-prod" in namespaces(fleet.clusters["live-b"])
    checkout.write_text(saved)
    lock.write_text(saved_lock)


def test_9_one_cluster_unreachable_leaves_the_other_applied(fleet: Fleet) -> None:
    """Both clusters in one wave here (a failure in an earlier wave would rightly hold the later one back)
    and both changed: a line added at the top of a tenant file moves its `vfleet.dev/source` annotation."""
    spec_b = fleet.root / "fleet/clusters/live-b.yaml"
    spec_b.write_text(spec_b.read_text().replace("wave: 1", "wave: 0"))
    for name in ("web/tenants/storefront-staging.yaml", "web/tenants/design-system.yaml"):  # live-a, live-b
        path = fleet.root / "fleet/projects" / name
        path.write_text("# touched\n" + path.read_text())
    dead = fleet.root.parent / "dead.kubeconfig"
    dead.write_text(
        Path(fleet.env[ENV_VARS["live-b"]]).read_text().replace(fleet.clusters["live-b"].server, "https://127.0.0.1:9")
    )
    code, report = fleet.apply_json(env={**fleet.env, ENV_VARS["live-b"]: str(dead)})
    assert code == 1, why(report)
    assert {c: s["result"] for c, s in stacks(report).items()} == {"live-a": "applied", "live-b": "failed"}
    assert report["summary"]["failed"] == ["live-b"]
    code, report = fleet.apply_json()  # reachable again: only the failed stack runs, and converges
    assert code == 0, why(report)
    assert {c: s["result"] for c, s in stacks(report).items()} == {"live-a": "skipped", "live-b": "applied"}
    spec_b.write_text(spec_b.read_text().replace("wave: 0", "wave: 1"))
    assert fleet.apply_json()[0] == 0
    _no_change_on_full_preview(fleet)


def test_10_destroy_needs_its_confirmation(fleet: Fleet) -> None:
    before = namespaces(fleet.clusters["live-a"])
    assert before
    done = fleet.vfleet("destroy", ".", "--cluster", "live-a")
    assert done.returncode == 2 and "--confirm live-a" in done.stdout + done.stderr
    done = fleet.vfleet("destroy", ".", "--cluster", "live-a", "--confirm", "live-b")
    assert done.returncode == 2 and namespaces(fleet.clusters["live-a"]) == before
    done = fleet.vfleet("destroy", ".", "--cluster", "live-b", "--confirm", "live-b", "--output", "json")
    assert done.returncode == 1 and "protected" in done.stdout, done.stdout  # the engine refuses protected ones
    done = fleet.vfleet("destroy", ".", "--cluster", "live-a", "--confirm", "live-a", "--output", "json")
    assert done.returncode == 1 and "still has 2 tenant(s)" in done.stdout, done.stdout  # the guard
    assert namespaces(fleet.clusters["live-a"]) == before
    done = fleet.vfleet(
        "destroy", ".", "--cluster", "live-a", "--confirm", "live-a", "--override-guard", "engine tier", "-o", "json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert namespaces(fleet.clusters["live-a"]) == {}
    assert state_names(fleet, "live-a") <= {"vfleet-live-a"}  # at most the stack itself is left


def test_11_no_credential_in_state_records_or_output(fleet: Fleet) -> None:
    tokens = [c.admin_token for c in fleet.clusters.values()]
    kubeconfigs = [Path(fleet.env[v]).read_text() for v in ENV_VARS.values()]
    assert all(len(t) >= 16 for t in tokens)
    # The temporary folder too: the provider writes every kubeconfig it is given to a file there and
    # never removes it; vfleet gives each stack's engine a private one and removes it after the run.
    temporary = [p for p in Path(fleet.env["TMPDIR"]).rglob("*") if p.is_file()]
    assert not [p.name for p in temporary if p.name.startswith("kubeconfig")]
    files = [p for p in fleet.state_dir.rglob("*") if p.is_file()] + list((fleet.root / "stacks").glob("*"))
    files += temporary
    assert any(p.name == "live-b.json" for p in files), "the Pulumi checkpoints are among the files searched"
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        for token in tokens:
            assert token not in text, f"a cluster token in {path}"
        for content in kubeconfigs:
            assert content not in text, f"a kubeconfig in {path}"
    said = "\n".join(fleet.said)
    assert said and not any(token in said for token in tokens)
