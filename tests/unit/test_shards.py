"""Shards (`vfleet.apply.shards`, `vfleet apply --shard I/N`): each wave's stacks split among N runners.

The split itself: an exact partition for every N, balanced, spread across name families, stable when a
cluster is added or removed. Through the orchestration (engine and policy injected, records in a folder):
N runners of a wave together run every changed stack once and skip the rest once; a runner of a later
wave whose earlier wave another shard holds is refused until that wave is applied."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shardkit import set_tenant_cpu, write_wide_fleet
from vfleet import compile as compiler
from vfleet.apply import orchestrate, prechecks, shards
from vfleet.apply.decide import Result, StackResult, Target
from vfleet.apply.orchestrate import Job, Options, Progress
from vfleet.apply.records import Records
from vfleet.apply.shards import Shard, ShardError
from vfleet.core.findings import Findings
from vfleet.waves import Wave

NAMES = [f"{region}-{i:03d}" for region in ("eu", "us", "ap") for i in range(111)]  # 333: one wave of 1,000
WAVES = {name: i % 3 for i, name in enumerate(NAMES)}


def test_shard_values() -> None:
    assert Shard.parse("3/20") == Shard(3, 20) and str(Shard.parse(" 1 / 1 ")) == "1/1"
    for bad in ("0/3", "4/3", "3", "a/b", "-1/2", "1/0", ""):
        with pytest.raises(ShardError):
            Shard.parse(bad)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 20, 50, 333, 400])
def test_every_stack_is_in_exactly_one_shard_and_the_shards_are_balanced(count: int) -> None:
    parts = shards.split(NAMES, count)
    assert len(parts) == count
    assert sorted(c for part in parts for c in part) == sorted(NAMES)  # a partition: no stack twice, none lost
    sizes = [len(part) for part in parts]
    assert max(sizes) - min(sizes) <= 1
    assert shards.split(list(reversed(NAMES)), count) == parts  # input order does not matter


def test_each_wave_is_split_on_its_own() -> None:
    mine = shards.assignment(WAVES, 4)
    assert set(mine) == set(WAVES) and set(mine.values()) == {1, 2, 3, 4}
    for wave in (0, 1, 2):
        members = [c for c, w in WAVES.items() if w == wave]
        sizes = Counter(mine[c] for c in members)
        assert max(sizes.values()) - min(sizes.values()) <= 1  # every runner gets its share of every wave
    targets = [Target(c, w, None) for c, w in WAVES.items()]
    picked = [shards.select(targets, Shard(i, 4)) for i in range(1, 5)]
    assert sorted(t.cluster for part in picked for t in part) == sorted(WAVES)
    only_wave_1 = [t for t in targets if t.wave == 1]
    assert {t.cluster for t in shards.select(only_wave_1, Shard(2, 4))} == {
        t.cluster for t in picked[1] if t.wave == 1}  # `--wave 1 --shard 2/4` is that runner's wave-1 part


def test_a_name_family_is_spread_over_every_shard() -> None:
    """A change to one region lands on every runner, not on the one a cut of the sorted names would give."""
    mine = shards.assignment(dict.fromkeys(NAMES, 0), 10)
    eu = Counter(mine[c] for c in NAMES if c.startswith("eu-"))
    assert set(eu) == set(range(1, 11)) and max(eu.values()) <= 2 * 111 // 10


@pytest.mark.parametrize("count", [4, 10, 20])
def test_adding_or_removing_a_cluster_keeps_almost_every_stack_on_its_shard(count: int) -> None:
    before = shards.assignment(dict.fromkeys(NAMES, 0), count)
    for extra in ("eu-new", "zz-999", "aa-000", "us-050b"):
        after = shards.assignment(dict.fromkeys([*NAMES, extra], 0), count)
        moved = [c for c in NAMES if after[c] != before[c]]
        assert len(moved) <= count - 1, (extra, moved)
    removed = shards.assignment(dict.fromkeys(NAMES[1:], 0), count)
    assert sum(1 for c in NAMES[1:] if removed[c] != before[c]) <= count - 1
    other_wave = shards.assignment({**WAVES, "eu-new": 0}, count)
    base = shards.assignment(WAVES, count)
    assert all(other_wave[c] == base[c] for c, w in WAVES.items() if w != 0)  # another wave: nothing moves


def test_the_ci_matrix_has_a_runner_per_shard_and_never_more_than_changed_stacks() -> None:
    changed = (Wave(0, ("c-00", "c-03")), Wave(2, tuple(f"c-{i:02d}" for i in range(2, 50, 3))))
    found = shards.matrix(changed, 5)
    assert found == [
        {"wave": 0, "shards": 2, "include": [{"wave": 0, "shard": "1/2"}, {"wave": 0, "shard": "2/2"}]},
        {"wave": 2, "shards": 5, "include": [{"wave": 2, "shard": f"{i}/5"} for i in range(1, 6)]},
    ]
    assert shards.matrix((), 5) == []
    with pytest.raises(ShardError):
        shards.matrix(changed, 0)


def test_the_cli_refuses_a_bad_shard_before_reading_anything(tmp_path: Path) -> None:
    from vfleet.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["apply", str(tmp_path / "nowhere"), "--shard", "5/4", "--yes", "-o", "json"])
    assert result.exit_code == 2 and "index must be between 1 and the count" in result.stdout
    assert runner.invoke(app, ["plan", str(tmp_path), "--base", "HEAD", "--shards", "3"]).exit_code == 2


# ----------------------------------------------------------------------------- through the orchestration

CLUSTERS = 50


class Engine:
    def __init__(self) -> None:
        self.ran: list[str] = []

    def __call__(self, job: Job, progress: Progress) -> StackResult:
        self.ran.append(job.target.cluster)
        return StackResult(job.target.cluster, job.target.wave, Result.APPLIED, changes={"update": 1})


def allow(compiled: compiler.Compiled) -> Findings:
    return Findings.of([])


@pytest.fixture
def wide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, int]]:
    monkeypatch.setenv("VFLEET_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "repo"
    waves = write_wide_fleet(root, CLUSTERS, 100)
    return root, waves


def apply(root: Path, engine: Engine, **options: object) -> orchestrate.Report:
    compiled = compiler.compile_fleet(root)
    assert compiled.ok, [str(f) for f in compiled.findings.errors]
    return orchestrate.run(compiled, Options(**options), runner=lambda: engine,  # type: ignore[arg-type]
                           records=Records(root / ".vfleet" / "state"), policy=allow,
                           guard=prechecks.deletion_guard(), user="tester")


def test_runners_of_a_wave_together_apply_each_changed_stack_once(wide: tuple[Path, dict[str, int]]) -> None:
    root, waves = wide
    state = root / ".vfleet" / "state"
    apply(root, Engine())  # the first apply: every stack recorded
    shutil.copytree(state, root.parent / "first-apply")
    for t in range(0, 100, 7):  # 15 tenants -> 15 stacks (tenant t lives on c-(t % 50))
        set_tenant_cpu(root, t, 2)
    changed = sorted({f"c-{t % CLUSTERS:02d}" for t in range(0, 100, 7)})
    assert {waves[c] for c in changed} == {0, 1, 2}
    everything = set(waves) | {"eu-1", "us-1"}
    desired = compiler.compile_fleet(root).desired
    for count in (1, 3, 8):
        shutil.rmtree(state)
        shutil.copytree(root.parent / "first-apply", state)  # every count starts from the first apply's records
        engine, reported = Engine(), Counter[str]()
        for wave in (0, 1, 2):  # one CI job per wave, each after the one before; its runners in any order
            for index in reversed(range(1, count + 1)):
                report = apply(root, engine, wave=wave, shard=Shard(index, count))
                assert report.exit_code == 0, [(r.cluster, r.message) for r in report.results]
                assert {r.wave for r in report.results} <= {wave}
                reported.update(r.cluster for r in report.results)
        assert set(reported) == everything and set(reported.values()) == {1}  # each stack once, by one runner
        assert sorted(engine.ran) == changed  # each changed stack through the engine exactly once
        records = Records(state)
        assert records.applied_hashes(sorted(desired)) == {c: s.hash for c, s in desired.items()}
        assert not any(records.unfinished(c) for c in desired)
        runs = Counter(r.cluster for r in records.history())
        assert {c for c, n in runs.items() if n == 2} == set(changed) and set(runs.values()) == {1, 2}


def test_a_shard_of_a_later_wave_waits_for_the_earlier_wave_of_every_shard(wide: tuple[Path, dict[str, int]]) -> None:
    root, waves = wide
    apply(root, Engine())
    mine = shards.assignment({**waves, "eu-1": 0, "us-1": 1}, 2)
    early = next(i for i in range(0, 100) if waves[f"c-{i:02d}"] == 0 and mine[f"c-{i:02d}"] == 2)
    late = next(i for i in range(0, 100) if waves[f"c-{i:02d}"] == 1 and mine[f"c-{i:02d}"] == 1)
    set_tenant_cpu(root, early, 2)  # wave 0, shard 2
    set_tenant_cpu(root, late, 2)  # wave 1, shard 1
    engine = Engine()
    with pytest.raises(prechecks.Refused) as refused:  # runner 1 of 2, all waves: shard 2's wave 0 is not applied
        apply(root, engine, shard=Shard(1, 2))
    assert f"c-{early:02d} (wave 0)" in " ".join(f.message for f in refused.value.findings)
    assert engine.ran == []  # refused before anything ran
    assert [r.result for r in apply(root, engine, shard=Shard(2, 2)).results if r.cluster == f"c-{early:02d}"] == [
        Result.APPLIED]
    assert Result.APPLIED in {r.result for r in apply(root, engine, shard=Shard(1, 2)).results}
    assert engine.ran == [f"c-{early:02d}", f"c-{late:02d}"]


def test_the_example_shard_workflow_runs_one_shard_of_one_wave_per_job() -> None:
    import yaml

    repo = Path(__file__).resolve().parents[2]
    flow = yaml.safe_load((repo / ".github" / "workflows" / "vfleet-apply-shards.yml").read_text())
    job = flow["jobs"]["apply"]
    assert job["strategy"]["matrix"] == "${{ fromJSON(inputs.matrix) }}" and job["strategy"]["fail-fast"] is False
    runs = " ".join(str(s.get("run", "")) for s in job["steps"])
    assert 'vfleet apply --wave "${{ matrix.wave }}" --shard "${{ matrix.shard }}"' in runs and "--yes" in runs
    assert "PULUMI_BACKEND_URL" in job["env"]  # the records of every stack come from the shared backend
