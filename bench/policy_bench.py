"""Policy benchmark: synthetic fleets (10,000 tenants by default) through vfleet's OPA path, and conftest side by side.

    .venv/bin/python bench/policy_bench.py [--tenants 1000,10000,100000] [--repeat 3] [--fleet DIR] [--no-conftest]

Every size runs the whole comparison below; a side-by-side table of the sizes closes the output.

1. Fleet: bench/synth.py generates the fleet (100 projects, one cluster per 100 tenants), the
   repository's policies/ are copied into it, a few tenants are made to break rules (`--violations`,
   so that both engines have verdicts to agree on, and the policies' slow path — naming the offending
   tenants — is measured too),
   and `vfleet place` writes its placement.lock. `--fleet DIR` reuses such a fleet instead.
2. Compile: one cold compile fills the parse cache; then `--repeat` warm compiles (best shown).
3. vfleet's policy path, `--repeat` times (best shown): start the local OPA server (`vfleet check`
   starts it while the fleet compiles, so it is shown apart), build the one policy input, serialise it
   (orjson), send it (the shipped policies/data.yaml asks for the input in parts of whole projects above
   2,500 tenants, one part at a time per OPA process, one process per core), map the answer to
   findings. OPA's own timers, summed over the requests, split them into parsing the input and
   evaluating the rules. Then `vfleet check` end to end, which
   sends the request as soon as the fleet is rendered and compiles the desired states meanwhile.
4. conftest: the same rules (policies/ without its tests, plus a 5-line adapter that exposes
   data.vfleet.main's deny/warn as conftest's `main.deny` / `main.warn`) run with `conftest test` over
   the same rendered tenant documents: one JSON file per tenant, holding that tenant's entry of the
   policy input (resolved parameters, rendered values, placement, source) and the parts of the fleet
   its rules read (its project, its cluster, its template, node providers, teams); conftest evaluates
   the policies once per file. The verdicts of both are compared (rule, subject).

Figures are printed, never asserted: this machine is shared and noisy, so wall times come with the CPU
time they cost (CPU time is what contention inflates least) and the best of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

ADAPTER = """package main

import data.vfleet.main as vfleet

deny contains {"msg": v.message, "rule": v.rule, "subject": v.subject} if some v in vfleet.deny

warn contains {"msg": v.message, "rule": v.rule, "subject": v.subject} if some v in vfleet.warn
"""


def _children_cpu() -> float:
    """CPU seconds of every child process that has exited and been waited for (OPA, conftest)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Best:
    """The best (smallest) figure per name over the repeats."""

    figures: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.figures[name] = min(value, self.figures.get(name, value))

    def __getitem__(self, name: str) -> float:
        return self.figures.get(name, 0.0)


@contextmanager
def _timer(best: Best, name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    best.add(name, time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------- fleet


def make_fleet(root: Path, tenants: int, projects: int, clusters: int, violations: int) -> None:
    import synth

    synth.generate(root, min(projects, tenants), tenants, clusters)
    shutil.copytree(REPO / "policies", root / "policies")
    _break_rules(root, tenants, violations)
    vfleet = Path(sys.executable).with_name("vfleet")
    if vfleet.exists():
        subprocess.run([str(vfleet), "place", str(root)], check=True, capture_output=True)
    else:  # the same stage through the library
        synth.place_lock(root)


def _break_rules(root: Path, tenants: int, violations: int) -> None:
    """Half of `violations` tenants get an owner who is no project member, half are unprotected prod tenants."""
    import synth

    step = max(tenants // max(violations, 1), 1)
    broken = 0
    for index in range(0, tenants, step):
        if broken >= violations:
            break
        path = next((root / "fleet" / "projects").glob(f"*/tenants/{synth.tenant_name(index, tenants)}.yaml"))
        text = path.read_text()
        if broken % 2 == 0:
            text = re.sub(r"owner: \S+", "owner: mallory", text)
        elif "protect: true" in text:
            text = text.replace("protect: true", "protect: false")
        else:
            continue
        path.write_text(text)
        broken += 1


# -------------------------------------------------------------------------------------------- compile


def compile_fleet(root: Path, repeat: int) -> tuple[Any, Best]:
    from vfleet import compile as compiler

    best = Best()
    cache = compiler.parse_cache(root)
    with _timer(best, "compile cold"):
        compiled = compiler.compile_fleet(root, cache=cache)
    for _ in range(repeat):
        with _timer(best, "compile warm"):
            compiled = compiler.compile_fleet(root, cache=compiler.parse_cache(root))
    if compiled.findings.errors:
        first = compiled.findings.errors[0]
        raise SystemExit(f"the fleet does not compile: {first.location}: {first.message}")
    return compiled, best


# ------------------------------------------------------------------------------------------------ OPA


def opa_path(compiled: Any, root: Path, repeat: int) -> tuple[Best, set[tuple[str, str, str]]]:
    """vfleet's own policy step, as `vfleet check` runs it after the compile."""
    from vfleet import policy
    from vfleet.policy import evaluate, partition
    from vfleet.policy.policyset import PolicySet
    from vfleet.policy.server import serve
    from vfleet.repo.tree import open_tree

    best = Best()
    policies = PolicySet.from_tree(open_tree(root))
    verdicts: set[tuple[str, str, str]] = set()
    for _ in range(repeat):
        cpu_before = _children_cpu()
        started = time.perf_counter()
        lanes = partition.lanes_to_start(policies.config(partition.SETTING))  # as `vfleet check` starts them
        with serve(policies, env={}, lanes=lanes, tenants=len(compiled.fleet.tenants)) as engine:
            best.add("server start", time.perf_counter() - started)
            cpu = time.process_time()
            with _timer(best, "input"):
                document = policy.input_for(compiled)
            with _timer(best, "request"):  # serialise + HTTP + OPA parse + eval + decode + findings
                result = evaluate.evaluate(engine, document, metrics=True)
            best.add("python cpu", time.process_time() - cpu)
        best.add("opa cpu", _children_cpu() - cpu_before)  # start-up included: the server is gone now
        best.add("serialise", result.timings["serialise"])
        best.add("http", result.timings["request"])
        best.add("opa parse", result.metrics.get("timer_rego_input_parse_ns", 0) / 1e9)
        best.add("opa eval", result.metrics.get("timer_rego_query_eval_ns", 0) / 1e9)
        if result.findings.errors:
            raise SystemExit(f"the policy step failed: {result.findings.errors[0].message}")
        verdicts = {(v.severity.value, v.rule, v.subject) for v in result.verdicts if v.severity.value != "info"}
        best.add("bytes", len(document.request_body()))
        best.add("parts", result.parts)
    return best, verdicts


def _one_tenant_changed(document: Any, run: int) -> None:
    """What a one-tenant pull request does to the input: a label of the first tenant changes (no usage
    does, so only that tenant's project is asked again)."""
    key, tenant = next(iter(document.document["tenants"].items()))
    document.document["tenants"][key] = {**tenant, "labels": {**tenant["labels"], "bench-change": str(run)}}


def kept_path(compiled: Any, root: Path, work: Path, repeat: int) -> tuple[Best, bool]:
    """The policy step of a check after a one-tenant change, with the verdicts of the last run kept
    (vfleet.policy.verdicts); and whether its verdicts are those of a run that keeps nothing."""
    from vfleet import policy
    from vfleet.policy import evaluate, partition
    from vfleet.policy.policyset import PolicySet
    from vfleet.policy.server import serve
    from vfleet.policy.verdicts import VerdictCache
    from vfleet.repo.tree import open_tree

    best = Best()
    policies = PolicySet.from_tree(open_tree(root))
    lanes = partition.lanes_to_start(policies.config(partition.SETTING))
    cache = VerdictCache.at(work / "kept")
    tenants = len(compiled.fleet.tenants)
    with serve(policies, env={}, lanes=lanes, tenants=tenants) as engine:  # the run before the change: fills the store
        evaluate.evaluate(engine, policy.input_for(compiled), cache=cache)
    same = True
    for run in range(repeat):
        started = time.perf_counter()
        with serve(policies, env={}, lanes=lanes, tenants=tenants) as engine:
            best.add("server start", time.perf_counter() - started)
            with _timer(best, "input"):
                document = policy.input_for(compiled)
                _one_tenant_changed(document, run)
            with _timer(best, "request"):
                result = evaluate.evaluate(engine, document, cache=cache)
            fresh = evaluate.evaluate(engine, document)  # not timed: what the answer must be
        same = same and result.verdicts == fresh.verdicts and not result.findings.errors
        best.add("cache", result.timings.get("cache", 0.0))
        best.add("parts", result.parts)
        best.add("reused", result.reused)
    return best, same


def check_end_to_end(root: Path, repeat: int) -> Best:
    """`vfleet check` as a library call (warm parse cache): compile, with OPA starting meanwhile, + policy."""
    from vfleet import compile as compiler
    from vfleet import policy

    best = Best()
    for _ in range(repeat):
        with _timer(best, "check"):
            report = policy.check(root, cache=compiler.parse_cache(root), env={})
        for name, seconds in report.timings.items():
            best.add(name, seconds)
    return best


# ------------------------------------------------------------------------------------------- conftest


def write_tenant_documents(compiled: Any, out: Path) -> int:
    """One JSON file per tenant: its policy-input entry and the fleet parts its rules read."""
    from vfleet import policy

    document = policy.input_for(compiled).document
    shared = {k: v for k, v in document.items() if k not in {"tenants", "projects", "clusters", "templates"}}
    for key, tenant in document["tenants"].items():
        cluster = tenant["cluster"]
        one = shared | {
            "projects": {tenant["project"]: document["projects"][tenant["project"]]},
            "clusters": {cluster: document["clusters"][cluster]} if cluster else {},
            "templates": {tenant["template"]: document["templates"][tenant["template"]]},
            "tenants": {key: tenant},
        }
        path = out / "tenants" / f"{key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(one))
    return len(document["tenants"])


def conftest_path(compiled: Any, root: Path, work: Path, repeat: int) -> tuple[Best, set[tuple[str, str, str]]]:
    from vfleet import toolchain

    conftest = toolchain.binary("conftest")
    best = Best()
    policy_dir = work / "conftest-policy"
    policy_dir.mkdir()
    for rego in (root / "policies").rglob("*.rego"):
        if not rego.name.endswith("_test.rego"):
            shutil.copy(rego, policy_dir / rego.name)
    (policy_dir / "conftest_adapter.rego").write_text(ADAPTER)
    with _timer(best, "write documents"):
        write_tenant_documents(compiled, work)
    command = [str(conftest), "test", "--no-color", "--output", "json", "--parser", "json",
               "--policy", str(policy_dir), "--data", str(root / "policies" / "data.yaml"), "tenants"]
    verdicts: set[tuple[str, str, str]] = set()
    for _ in range(repeat):
        cpu_before = _children_cpu()
        with _timer(best, "conftest"):
            done = subprocess.run(command, cwd=work, capture_output=True, check=False)
        best.add("conftest cpu", _children_cpu() - cpu_before)
        if done.returncode not in (0, 1):  # 1: some file failed a rule
            raise SystemExit(f"conftest failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
        verdicts = set()
        for file_result in orjson.loads(done.stdout):
            for severity, key in (("deny", "failures"), ("warn", "warnings")):
                for entry in file_result.get(key) or []:
                    meta = entry.get("metadata") or {}
                    verdicts.add((severity, meta.get("rule", "?"), meta.get("subject", "?")))
    return best, verdicts


# ----------------------------------------------------------------------------------------------- main


def one_size(args: argparse.Namespace, tenants_wanted: int, clusters: int, work: Path) -> str | None:
    """The whole comparison at one fleet size; the table's row (None without conftest)."""
    root = args.fleet
    if root is None:
        root = work / "fleet"
        print(f"\ngenerating {tenants_wanted} tenants / {args.projects} projects / {clusters} clusters ...", flush=True)
        make_fleet(root, tenants_wanted, args.projects, clusters, args.violations)
    compiled, comp = compile_fleet(root, args.repeat)
    tenants = len(compiled.fleet.tenants)
    opa, opa_verdicts = opa_path(compiled, root, args.repeat)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"{tenants} tenants, {clusters} clusters; best of {args.repeat}")
    print(f"compile            cold {comp['compile cold']:6.3f} s   warm {comp['compile warm']:6.3f} s")
    print(f"OPA server start        {opa['server start']:6.3f} s   (`vfleet check` overlaps it with the compile)")
    print(f"policy input            {opa['input']:6.3f} s   ({opa['bytes'] / 1e6:.1f} MB as JSON, "
          f"{opa['parts']:.0f} request(s))")
    print(f"requests                {opa['request']:6.3f} s   = serialise {opa['serialise']:.3f} + HTTP "
          f"{opa['http']:.3f} (OPA, summed over requests: parse input {opa['opa parse']:.3f}, "
          f"evaluate {opa['opa eval']:.3f})")
    policy_s = opa["input"] + opa["request"]
    print(f"policy (input+requests) {policy_s:6.3f} s   CPU: python {opa['python cpu']:.3f} s, "
          f"OPA {opa['opa cpu']:.3f} s (start-up included)")
    print(f"compile warm + policy   {comp['compile warm'] + policy_s:6.3f} s")
    print(f"verdicts                {len(opa_verdicts)} ({sum(v[0] == 'deny' for v in opa_verdicts)} deny)")
    end = check_end_to_end(root, args.repeat)
    print(f"vfleet check, whole     {end['check']:6.3f} s   = compile {end['compile']:.3f} + input "
          f"{end['policy-input']:.3f} + waiting for the answer {end['policy-wait']:.3f} (the requests, "
          f"{end['policy-eval']:.3f} s, went out before the desired stage)")
    if args.no_conftest:
        return None
    ct, ct_verdicts = conftest_path(compiled, root, work, args.conftest_repeat)
    opa_total = opa["server start"] + policy_s
    opa_cpu = opa["python cpu"] + opa["opa cpu"]
    print(f"conftest (same rules, one document per tenant, {tenants} files; best of {args.conftest_repeat})")
    print(f"conftest test           {ct['conftest']:6.3f} s   CPU {ct['conftest cpu']:.3f} s   "
          f"(writing the documents: {ct['write documents']:.3f} s, not counted)")
    print(f"vfleet OPA path         {opa_total:6.3f} s   CPU {opa_cpu:.3f} s   (server start + input + requests)")
    print(f"ratio conftest / vfleet {ct['conftest'] / opa_total:6.1f} x wall   "
          f"{ct['conftest cpu'] / opa_cpu:.1f} x CPU")
    kept, kept_same = kept_path(compiled, root, work, args.repeat)
    kept_total = kept["server start"] + kept["input"] + kept["request"]
    print(f"one tenant changed      {kept_total:6.3f} s   (verdicts of the last run kept: server start "
          f"{kept['server start']:.3f} + input {kept['input']:.3f} + requests {kept['request']:.3f}, of which "
          f"digests and store {kept['cache']:.3f}; {kept['parts']:.0f} request(s), {kept['reused']:.0f} projects "
          f"reused; verdicts {'same as a fresh run' if kept_same else 'DIFFERENT from a fresh run'})")
    print(f"ratio conftest / kept   {ct['conftest'] / kept_total:6.1f} x wall")
    if ct_verdicts == opa_verdicts:
        agreement = "same"
    else:
        agreement = "DIFFERENT"
        print(f"verdicts differ: only conftest {sorted(ct_verdicts - opa_verdicts)[:5]}, "
              f"only vfleet {sorted(opa_verdicts - ct_verdicts)[:5]}")
    print(f"verdicts                {len(ct_verdicts)}, {agreement}", flush=True)
    return (f"{tenants:>8} {clusters:>6} {opa_total:>8.2f} {opa_cpu:>8.2f} {opa['parts']:>5.0f} "
            f"{ct['conftest']:>9.2f} {ct['conftest cpu']:>9.2f} {ct['conftest'] / opa_total:>7.1f}x "
            f"{ct['conftest cpu'] / opa_cpu:>7.1f}x {len(opa_verdicts):>8} {agreement:>9} "
            f"{kept_total:>7.3f} {ct['conftest'] / kept_total:>7.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", default="10000", help="fleet sizes, comma-separated (e.g. 1000,10000,100000)")
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--clusters", type=int, help="connected clusters (default: one per 100 tenants, >= 10)")
    parser.add_argument("--violations", type=int, default=20, help="tenants made to break a rule")
    parser.add_argument("--repeat", type=int, default=3, help="runs of compile and OPA path; the best is shown")
    parser.add_argument("--conftest-repeat", type=int, default=1)
    parser.add_argument("--fleet", type=Path, help="use this fleet (with policies/ and placement.lock)")
    parser.add_argument("--no-conftest", action="store_true")
    args = parser.parse_args()

    rows: list[str] = []
    for size in (int(t) for t in args.tenants.split(",")):
        clusters = args.clusters or max(10, size // 100)
        with tempfile.TemporaryDirectory(prefix="vfleet-policy-bench-") as tmp:
            work = Path(tmp)
            os.environ["VFLEET_CACHE_DIR"] = str(work / "cache")
            os.environ.pop("VFLEET_OPA_URL", None)  # the local servers: what CI and `vfleet check` use
            row = one_size(args, size, clusters, work)
            if row:
                rows.append(row)
    if rows:
        print("\nside by side: the policy step of vfleet (OPA server start + input + requests) and conftest")
        print(f"{'tenants':>8} {'clust.':>6} {'vfleet s':>8} {'CPU s':>8} {'reqs':>5} {'conftest':>9} "
              f"{'CPU s':>9} {'wall':>8} {'CPU':>8} {'verdicts':>8} {'agree':>9} {'1 chg s':>7} {'wall':>8}")
        print("(1 chg: one tenant changed, verdicts of the last run kept; wall: conftest / that)")
        print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
