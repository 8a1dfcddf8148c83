"""The gate fails closed: whenever OPA cannot give a verdict, `vfleet check` exits 2 and says why."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from policykit import closed_port, fleet_with_policies, vfleet
from vfleet import policy
from vfleet.policy import local, policyset, server

pytestmark = pytest.mark.policy


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    return fleet_with_policies("violations", tmp_path / "fleet")


def _error(run_stdout: str, code: str) -> str:
    import orjson

    report = orjson.loads(run_stdout)
    assert report["exitCode"] == 2
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [f["code"] for f in errors] == [code], errors
    assert not [f for f in report["findings"] if f["severity"] in {"deny", "warn"}], "no verdicts without OPA"
    message: str = errors[0]["message"]
    return message


def test_opa_binary_missing(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VFLEET_OPA_BIN", "/nonexistent")
    run = vfleet("check", str(fleet), "--output", "json")
    assert run.exit_code == 2
    message = _error(run.stdout, "policy.opa-missing")
    assert "opa is missing" in message and "/nonexistent" in message
    assert "python -m vfleet.toolchain build opa" in message  # how to fix it


def test_opa_server_unreachable(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("VFLEET_OPA_URL", url)
    run = vfleet("check", str(fleet), "--output", "json")
    assert run.exit_code == 2
    message = _error(run.stdout, "policy.unreachable")
    assert url in message and "VFLEET_OPA_URL" in message


def test_bad_opa_url(fleet: Path) -> None:
    run = vfleet("check", str(fleet), "--output", "json", "--opa-url", "opa.internal:8181")
    assert "not an OPA server URL" in _error(run.stdout, "policy.unreachable")


def test_a_policy_that_does_not_compile(fleet: Path) -> None:
    broken = "package vfleet.rules.broken\n\nviolation contains x if {\n"
    (fleet / "policies" / "rules" / "broken.rego").write_text(broken)
    run = vfleet("check", str(fleet), "--output", "json")
    assert run.exit_code == 2
    message = _error(run.stdout, "policy.compile")
    assert "do not compile" in message and "policies/rules/broken.rego:4: rego_parse_error" in message
    assert "vfleet-opa-" not in message  # the temporary copy is not what the user edits


def test_a_type_error_is_a_compile_error(fleet: Path) -> None:
    (fleet / "policies" / "rules" / "typo.rego").write_text(
        "package vfleet.rules.typo\n\nviolation contains x if {\n\tx := count(1)\n}\n"
    )
    message = _error(vfleet("check", str(fleet), "--output", "json").stdout, "policy.compile")
    assert "policies/rules/typo.rego:4" in message


def test_an_evaluation_error(fleet: Path) -> None:
    # Compiles, but fails for this input: strict builtin errors make it an error, not a silent "undefined".
    (fleet / "policies" / "rules" / "crash.rego").write_text(
        "package vfleet.rules.crash\n\nviolation contains x if {\n"
        "\tsome t in input.tenants\n\tx := {\"rule\": \"crash\", \"subject\": t.subject, "
        "\"message\": sprintf(\"%d\", [to_number(t.owner)])}\n}\n"
    )
    message = _error(vfleet("check", str(fleet), "--output", "json").stdout, "policy.eval")
    assert "could not evaluate" in message and "to_number" in message


def test_conflicting_rule_outputs_are_an_evaluation_error(fleet: Path) -> None:
    (fleet / "policies" / "rules" / "conflict.rego").write_text(
        "package vfleet.rules.conflict\n\nowner := t.owner if some t in input.tenants\n\n"
        "violation contains {\"rule\": \"conflict\", \"subject\": \"project:apps\", \"message\": owner} if owner\n"
    )
    message = _error(vfleet("check", str(fleet), "--output", "json").stdout, "policy.eval")
    assert "conflict" in message


def test_a_malformed_entry_is_an_error(fleet: Path) -> None:
    (fleet / "policies" / "rules" / "sloppy.rego").write_text(
        "package vfleet.rules.sloppy\n\nviolation contains \"something is wrong\" if true\n"
    )
    run = vfleet("check", str(fleet), "--output", "json")
    assert run.exit_code == 2
    errors = [f for f in run.json()["findings"] if f["severity"] == "error"]
    assert [f["code"] for f in errors] == ["policy.result"]
    assert "vfleet.rules.sloppy returned a malformed violation" in errors[0]["message"]


def test_a_misspelt_severity_is_an_error_and_still_denies(fleet: Path) -> None:
    data = fleet / "policies" / "data.yaml"
    data.write_text(data.read_text().replace("owner-member: deny", "owner-member: dney"))
    report = vfleet("check", str(fleet), "--output", "json").json()
    assert report["exitCode"] == 2
    config = [f for f in report["findings"] if f["code"] == "policy.config"]
    assert len(config) == 1 and 'severity of "owner-member" is dney' in config[0]["message"]
    assert any(f["code"] == "policy.owner-member" and f["severity"] == "deny" for f in report["findings"])


def test_without_the_main_package_nothing_passes(fleet: Path) -> None:
    (fleet / "policies" / "main.rego").unlink()
    message = _error(vfleet("check", str(fleet), "--output", "json").stdout, "policy.missing")
    assert "data.vfleet.main is undefined" in message


def test_without_policies_nothing_passes(fleet: Path) -> None:
    for rego in (fleet / "policies").rglob("*.rego"):
        rego.unlink()
    message = _error(vfleet("check", str(fleet), "--output", "json").stdout, "policy.missing")
    assert "no Rego policies" in message


@pytest.mark.parametrize("make", [
    lambda p: (p / ".strict.rego").write_text((p / "main.rego").read_text()),  # hidden
    lambda p: (p / "linked.rego").symlink_to(p / "main.rego"),  # a link (never followed)
    lambda p: (p / "extra.REGO").write_text((p / "main.rego").read_text()),  # another spelling
    lambda p: ((p / ".rules").mkdir(), (p / ".rules" / "x.rego").write_text("package x\n")),  # a hidden folder
])
def test_a_policy_file_the_gate_would_not_load_is_refused_not_skipped(fleet: Path, make: object) -> None:
    make(fleet / "policies")  # type: ignore[operator]
    message = _error(vfleet("check", str(fleet), "--output", "json").stdout, "policy.layout")
    assert "policies/ of " in message and "would not load" in message


def test_the_local_server_is_stopped_also_on_errors(fleet: Path) -> None:
    from vfleet.repo.tree import open_tree

    policies = policyset.PolicySet.from_tree(open_tree(fleet))
    with pytest.raises(RuntimeError), server.serve(policies, env={}) as engine:
        url = engine.url
        assert requests.get(f"{url}/health", timeout=5).status_code == 200
        raise RuntimeError("boom")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/health", timeout=5)


# ----------------------------------------------------------------------------------------- shared server


def test_a_shared_server_gives_the_same_verdicts_and_is_left_clean(fleet: Path, shared_opa: str) -> None:
    local = policy.check(fleet)
    shared = policy.check(fleet, opa_url=shared_opa)
    assert [f.to_json() for f in shared.findings] == [f.to_json() for f in local.findings]
    assert shared.exit_code == 1
    # Nothing of ours is left on the shared server: no policy modules, no data.
    assert requests.get(f"{shared_opa}/v1/policies", timeout=5).json()["result"] == []
    assert requests.get(f"{shared_opa}/v1/data", timeout=5).json()["result"] == {}


def test_a_shared_server_refuses_a_broken_policy(fleet: Path, shared_opa: str) -> None:
    (fleet / "policies" / "rules" / "broken.rego").write_text("package vfleet.rules.broken\n\nx := \n")
    run = vfleet("check", str(fleet), "--output", "json", "--opa-url", shared_opa)
    message = _error(run.stdout, "policy.compile")
    assert "rules/broken.rego" in message
    assert requests.get(f"{shared_opa}/v1/policies", timeout=5).json()["result"] == []


def test_two_policy_sets_share_one_server_without_seeing_each_other(fleet: Path, shared_opa: str) -> None:
    from vfleet.policy import evaluate
    from vfleet.repo.tree import open_tree

    compiled = policy.check(fleet).compiled
    assert compiled is not None
    document = policy.input_for(compiled)
    strict = policyset.PolicySet.from_tree(open_tree(fleet))
    files = dict(strict.files)
    files["data.yaml"] = files["data.yaml"].replace(b"owner-member: deny", b'owner-member: "off"')
    lenient = policyset.PolicySet(files, "lenient")
    with server.serve(strict, url=shared_opa) as a, server.serve(lenient, url=shared_opa) as b:
        assert a.root != b.root
        rules_a = {v.rule for v in evaluate.evaluate(a, document).verdicts}
        rules_b = {v.rule for v in evaluate.evaluate(b, document).verdicts}
    assert rules_a - rules_b == {"owner-member"}


def test_the_local_server_collects_garbage_only_near_a_memory_limit() -> None:
    """Pure: the environment the local OPA gets (its GC settings), and that the user's settings win."""
    tuned = local._go_runtime({"PATH": "/bin"})
    assert tuned == {"PATH": "/bin", "GOGC": "off", "GOMEMLIMIT": "512MiB"}
    lanes = local._go_runtime({"PATH": "/bin"}, local._GO_MEMORY_LIMIT_LANES)
    assert lanes == {"PATH": "/bin", "GOGC": "off", "GOMEMLIMIT": "256MiB"}  # processes side by side
    assert local._go_runtime({"GOGC": "50"}) == {"GOGC": "50"}
    assert local._go_runtime({"GOMEMLIMIT": "4GiB"}) == {"GOMEMLIMIT": "4GiB"}
