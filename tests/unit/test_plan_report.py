"""plan reports: Markdown (folding under GitHub's comment limit), JSON (documented schema), terminal, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from plankit import History, tenant
from vfleet.report import plan_json, plan_markdown, plan_table

REPO = Path(__file__).resolve().parents[2]
CLUSTER = """apiVersion: vfleet.dev/v1alpha1
kind: Cluster
metadata: {{name: {name}}}
spec:
  kubeconfig: {{env: KUBECONFIG_{index}}}
"""


@pytest.fixture()
def small(tmp_path: Path) -> History:
    h = History(tmp_path / "repo")
    for name in ("web", "api", "batch"):
        h.write(f"fleet/projects/alpha/tenants/{name}.yaml", tenant(name, cluster="us-1"))
    h.base = h.commit("base")  # type: ignore[attr-defined]
    return h


def test_markdown_of_a_2000_tenant_change_is_folded_under_the_limit(tmp_path: Path) -> None:
    h = History(tmp_path / "repo")
    clusters = [f"c-{i:02d}" for i in range(20)]
    for i, name in enumerate(clusters):
        h.write(f"fleet/clusters/{name}.yaml", CLUSTER.format(name=name, index=i))
    for i in range(2000):
        h.write(f"fleet/projects/alpha/tenants/t-{i:04d}.yaml", tenant(f"t-{i:04d}", cluster=clusters[i % 20]))
    base = h.commit("2000 tenants")
    h.write("templates/shared/values.yaml.j2",
            (h.root / "templates/shared/values.yaml.j2").read_text() + "telemetry:\n  enabled: false\n")
    h.write("fleet/projects/alpha/tenants/t-0007.yaml", None)
    p = h.plan(base, h.commit("every tenant changes"))
    assert sum(len(c.tenants) for c in p.clusters) == 2001 and p.exit_code == 3  # and the fixture's dev
    text = plan_markdown.to_markdown(p)
    assert len(text) <= plan_markdown.LIMIT
    assert "Folded to fit a comment" in text and "grouped by change" in text
    for name in clusters:  # every cluster keeps its summary row and its section
        assert f"| `{name}` |" in text and f"<b>{name}</b>" in text
    assert "**2000**" in text  # total updates: every tenant's release
    assert "`alpha/t-0007`" in text  # a folded section still names the deletion
    assert "`HelmRelease` ×100, the same change" in text  # one values diff for a template edit
    unfolded = plan_markdown.to_markdown(p, limit=10_000_000)
    assert "Folded" not in unfolded and len(unfolded) > plan_markdown.LIMIT
    brief = plan_markdown.to_markdown(p, limit=12_000)
    assert len(brief) <= 12_000 and "summarised as counts and tenants" in brief
    assert "delete: 1 tenant(s): `alpha/t-0007`" in brief
    tiny = plan_markdown.to_markdown(p, limit=4_000)
    assert len(tiny) <= 4_000 and "left out" in tiny and "| **total** |" in tiny


def test_markdown_lists_refusals_and_deletions_first(small: History) -> None:
    small.write("fleet/projects/alpha/tenants/web.yaml", None)
    small.write("fleet/projects/alpha/tenants/api.yaml", None)
    small.write("fleet/projects/alpha/tenants/dev.yaml", tenant("dev", cluster="eu-1", cpu="3"))
    p = small.plan(small.base, small.commit("mass delete"))  # type: ignore[attr-defined]
    text = plan_markdown.to_markdown(p)
    assert text.startswith("### vfleet plan: refused (exit 1)")
    assert "⛔ Refused by 1 deletion guard(s)" in text and "guard.mass-delete" in text
    assert text.index("<b>us-1</b>") < text.index("<b>eu-1</b>")  # the refused cluster's section first
    section = text[text.index("<b>us-1</b>"):]
    assert section.index("**delete**") < section.index("</details>")
    assert '+        cpu: "3"' in text and "```diff" in text  # eu-1: the values diff


def test_json_report_follows_the_documented_schema(small: History) -> None:
    small.write("fleet/projects/alpha/tenants/web.yaml", tenant("web", cluster="us-1", cpu="4"))
    data = json.loads(json.dumps(plan_json.to_json(small.plan(small.base, small.commit("cpu")))))  # type: ignore[attr-defined]
    assert set(data) == {"apiVersion", "kind", "schema", "status", "exitCode", "base", "head", "method",
                         "fullCompileReason", "override", "guardLimits", "summary", "clusters", "fleetGuards",
                         "vanished", "policy", "findings", "approvals", "matrix", "timings"}
    assert (data["kind"], data["schema"], data["status"], data["exitCode"]) == ("Plan", 1, "changes", 3)
    [cluster] = data["clusters"]
    assert set(cluster) == {"cluster", "status", "creates", "updates", "deletes", "policyDenies", "guards",
                            "tenants", "resources"}
    release = next(r for r in cluster["resources"] if r["kind"] == "HelmRelease")
    assert set(release) == {"op", "id", "formerId", "apiVersion", "kind", "namespace", "name", "tenant",
                            "protect", "fields", "valuesDiff"}
    assert data["matrix"] == {"include": [{"cluster": "us-1", "wave": 1}],
                              "waves": [{"wave": 1, "include": [{"cluster": "us-1"}]}]}
    docs = (REPO / "docs" / "plan.md").read_text()
    documented = set(re.findall(r"^\| `([A-Za-z]+)`", docs, re.MULTILINE))
    missing = (set(data) | set(cluster) | set(release) | set(data["summary"])) - documented
    assert not missing, f"docs/plan.md does not document {sorted(missing)}"


def test_terminal_report(small: History) -> None:
    small.write("fleet/projects/alpha/tenants/web.yaml", None)
    small.write("fleet/projects/alpha/tenants/api.yaml", None)
    p = small.plan(small.base, small.commit("delete"), override="retiring")  # type: ignore[attr-defined]
    out = Console(record=True, width=100, color_system=None)
    plan_table.render(p, out)
    text = out.export_text()
    assert "overridden guard.mass-delete" in text and "override: retiring" in text
    assert "delete Namespace vc-alpha-web" in re.sub(r" +", " ", text)


def test_cli_exit_codes_matrix_and_files(small: History, monkeypatch: pytest.MonkeyPatch) -> None:
    from vfleet.cli import app

    monkeypatch.setenv("VFLEET_CACHE_DIR", small.env["VFLEET_CACHE_DIR"])
    base = small.base  # type: ignore[attr-defined]
    runner = CliRunner()
    root = str(small.root)
    same = runner.invoke(app, ["plan", root, "--base", base, "--head", base, "--no-policy"])
    assert same.exit_code == 0, same.output
    small.write("fleet/projects/alpha/tenants/web.yaml", tenant("web", cluster="us-1", cpu="4"))
    head = small.commit("cpu")
    md, js = small.root.parent / "plan.md", small.root.parent / "plan.json"
    result = runner.invoke(app, ["plan", root, "--base", base, "--head", head, "--no-policy", "--matrix",
                                 "--markdown-out", str(md), "--json-out", str(js)])
    assert result.exit_code == 3, result.output
    assert json.loads(result.stdout) == {"include": [{"cluster": "us-1", "wave": 1}],
                                         "waves": [{"wave": 1, "include": [{"cluster": "us-1"}]}]}
    assert md.read_text().startswith("### vfleet plan: changes") and json.loads(js.read_text())["exitCode"] == 3
    assert runner.invoke(app, ["plan", root, "--no-policy"]).exit_code == 2  # no --base
    assert runner.invoke(app, ["plan", root, "--base", base, "--override-guard", " "]).exit_code == 2


def test_matrix_emits_the_waves_canary_first(small: History) -> None:
    """A change on both clusters: eu-1 (wave 0) before us-1 (wave 1), each wave its own matrix."""
    small.write("fleet/projects/alpha/tenants/web.yaml", tenant("web", cluster="us-1", cpu="4"))
    small.write("fleet/projects/alpha/tenants/new.yaml", tenant("new", cluster="eu-1"))
    matrix = plan_json.matrix(small.plan(small.base, small.commit("both")))  # type: ignore[attr-defined]
    assert matrix == {
        "include": [{"cluster": "eu-1", "wave": 0}, {"cluster": "us-1", "wave": 1}],
        "waves": [{"wave": 0, "include": [{"cluster": "eu-1"}]}, {"wave": 1, "include": [{"cluster": "us-1"}]}],
    }


def test_example_workflow_plans_prs_and_applies_wave_by_wave() -> None:
    import yaml

    flow = yaml.safe_load((REPO / ".github" / "workflows" / "vfleet.yml").read_text())
    jobs = flow["jobs"]
    plan_steps = " ".join(str(s.get("run", "")) for s in jobs["plan"]["steps"])
    assert "vfleet plan --base" in plan_steps and "--markdown-out plan.md" in plan_steps
    assert "gh pr comment" in plan_steps
    stacks = " ".join(str(s.get("run", "")) for s in jobs["stacks"]["steps"])
    assert "--matrix" in stacks and ".waves[$i]" in stacks
    rollouts = sorted(j for j in jobs if j.startswith("rollout-"))
    assert rollouts == ["rollout-1", "rollout-2", "rollout-3"]
    for n, name in enumerate(rollouts, start=1):
        job = jobs[name]
        # each wave after the one before: `needs` (with the default success()) stops later waves on a failure
        assert job["needs"] == ("stacks" if n == 1 else ["stacks", f"rollout-{n - 1}"])
        assert "always()" not in job["if"] and "success()" not in job["if"]
        assert job["with"]["matrix"] == f"${{{{ needs.stacks.outputs.wave{n} }}}}"
        assert job["uses"] == "./.github/workflows/vfleet-apply-wave.yml"
        assert jobs["stacks"]["outputs"][f"wave{n}"] == f"${{{{ steps.matrix.outputs.wave{n} }}}}"
    wave = yaml.safe_load((REPO / ".github" / "workflows" / "vfleet-apply-wave.yml").read_text())
    apply = wave["jobs"]["apply"]
    assert apply["strategy"]["matrix"] == "${{ fromJSON(inputs.matrix) }}"
    assert apply["strategy"]["fail-fast"] is False
    assert 'vfleet apply --cluster "${{ matrix.cluster }}" --yes' in " ".join(
        str(s.get("run", "")) for s in apply["steps"])
    # The engine the jobs install is one vfleet accepts: the CLI no older than the SDK, the pinned provider.
    from vfleet.apply import engine

    cli = next(s["with"]["pulumi-version"] for s in apply["steps"] if str(s.get("uses", "")).startswith("pulumi/"))
    assert tuple(map(int, cli.split("."))) >= tuple(map(int, engine.MIN_VERSION.split(".")))
    runs = [s.get("run") for s in apply["steps"]]
    assert f"pulumi plugin install resource kubernetes v{engine.PROVIDER_VERSION}" in runs
    assert not any("actions/cache" in str(s.get("uses", "")) for s in apply["steps"])  # the records are in the backend
