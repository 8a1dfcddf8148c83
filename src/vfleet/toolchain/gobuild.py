"""Building the pinned tools from their Go modules into the cache, one at a time, under a lock."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vfleet.core.errors import VfleetError
from vfleet.toolchain.lookup import binary, cache_dir, is_executable, pinned
from vfleet.toolchain.tools import KUBERNETES_PROVIDER_RELEASE, Recipe, Tool, ToolBuildFailed

# A single go command may legitimately run for many minutes on 2 cores (kube-apiserver: ~5 min);
# the limit only exists so that a hung download cannot block a bootstrap forever.
_STEP_TIMEOUT_S = 3600
_LOG_TAIL_LINES = 25


def build(names: Iterable[str], log: Callable[[str], None]) -> list[Path]:
    """Build every named tool that is not in the cache yet; return the binary of each, in order.

    Each tool is built on its own, so a failure names that tool and does not stop the others; all
    failures are raised together at the end as `ToolBuildFailed`.
    """
    tools = [pinned(name) for name in dict.fromkeys(names)]  # validate all names before any work
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    failures: dict[str, str] = {}
    with _exclusive_lock(cache / ".lock", log):
        _remove_stale_builds(cache)
        for tool in tools:
            target = cache / tool.dirname / tool.name
            if is_executable(target):
                log(f"{tool.name} {tool.version}: already built at {target}")
            else:
                try:
                    _build_one(tool, cache, log)
                except ToolBuildFailed as failure:
                    log(str(failure))
                    failures[tool.name] = str(failure)
                    continue
            paths.append(target)
    if failures:
        raise ToolBuildFailed(list(failures), "\n\n".join(failures.values()))
    return paths


@contextmanager
def _exclusive_lock(path: Path, log: Callable[[str], None]) -> Iterator[None]:
    # flock is released by the kernel when the process dies, so a killed bootstrap never leaves a
    # stale lock behind (unlike a lock *file* whose mere existence is the lock).
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another toolchain build holds {path}; waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_stale_builds(cache: Path) -> None:
    # Only called under the lock: any temp dir still present belongs to a build that was killed.
    for stale in cache.glob(".build-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _build_one(tool: Tool, cache: Path, log: Callable[[str], None]) -> Path:
    """Build one tool in a temp dir under the cache, then rename it into place (atomic on one fs)."""
    log_file = cache / "logs" / f"{tool.dirname}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_text(f"# {tool.name} {tool.module} {tool.version} ({tool.recipe})\n")
    log(f"{tool.name} {tool.version}: building from {tool.module} ({tool.recipe}); log: {log_file}")
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=f".build-{tool.dirname}-", dir=cache))
    try:
        staged = scratch / "out"
        staged.mkdir()
        work = scratch / "work"
        work.mkdir()
        go = _Go(cache, log_file)
        try:
            _RECIPES[tool.recipe](tool, go, work, staged / tool.name)
        except _StepFailed as step:
            raise ToolBuildFailed([tool.name], _failure_message(tool, step, log_file)) from None
        if not is_executable(staged / tool.name):
            raise ToolBuildFailed([tool.name], f"{tool.name}: the build produced no binary; see {log_file}")
        final = cache / tool.dirname
        # A leftover directory without a working binary (hand-made, or half-deleted) would make the
        # rename fail; we hold the lock, so nobody else can be using it.
        shutil.rmtree(final, ignore_errors=True)
        os.rename(staged, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    target = final / tool.name
    log(f"{tool.name} {tool.version}: built in {time.monotonic() - started:.0f} s -> {target}")
    return target


def _failure_message(tool: Tool, step: _StepFailed, log_file: Path) -> str:
    headline = f"building {tool.name} {tool.version} failed at `{step.command}` (exit {step.returncode})"
    return f"{headline}; full log: {log_file}" + (f"\n{step.tail}" if step.tail.strip() else "")


class _StepFailed(Exception):
    def __init__(self, command: str, returncode: int, tail: str) -> None:
        super().__init__(command)
        self.command = command
        self.returncode = returncode
        self.tail = tail


class _Go:
    """Runs `go` with the environment every toolchain build shares, appending output to one log."""

    def __init__(self, cache: Path, log_file: Path) -> None:
        self.executable = str(binary("go"))
        self.log_file = log_file
        gopath = cache / "go"
        self.env = {
            **os.environ,
            # A module asking for a newer Go would otherwise try to download a toolchain (fails here).
            "GOTOOLCHAIN": "local",
            "CGO_ENABLED": "0",
            # Shared across builds so kube-controller-manager reuses kube-apiserver's downloads.
            "GOPATH": str(gopath),
            "GOMODCACHE": str(gopath / "pkg" / "mod"),
            # -modcacherw: the module cache stays deletable with plain rm -rf.
            # -buildvcs=false: the wrapper dir may sit inside a git checkout if the cache is moved there.
            "GOFLAGS": "-modcacherw -buildvcs=false",
            # A go.work in a parent directory must not leak into the throwaway wrapper modules.
            "GOWORK": "off",
        }

    def run(self, args: list[str], cwd: Path, extra_env: Mapping[str, str] | None = None) -> str:
        command = shlex.join(["go", *args])  # quoted, so a logged step can be pasted into a shell
        env = {**self.env, **(extra_env or {})}
        with self.log_file.open("a") as out:
            out.write(f"\n$ (cd {cwd} && {command})\n")
        try:
            done = subprocess.run(
                [self.executable, *args],
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=_STEP_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise _StepFailed(command, -1, f"timed out after {_STEP_TIMEOUT_S} s") from None
        with self.log_file.open("a") as out:
            out.write(done.stdout)
        if done.returncode != 0:
            tail = "\n".join(done.stdout.splitlines()[-_LOG_TAIL_LINES:])
            raise _StepFailed(command, done.returncode, tail)
        return done.stdout


def _build_go_install(tool: Tool, go: _Go, work: Path, out: Path) -> None:
    # GOBIN gets the binary named after the package's last path element; rename it to the tool's name.
    bin_dir = work / "bin"
    go.run(
        ["install", *_ldflags_args(tool, {}), f"{tool.package}@{tool.version}"],
        cwd=work,
        extra_env={"GOBIN": str(bin_dir)},
    )
    built = sorted(bin_dir.iterdir()) if bin_dir.is_dir() else []
    if len(built) != 1:
        names = [path.name for path in built]
        raise _StepFailed("go install", 0, f"expected one binary in {bin_dir}, found {names}")
    shutil.move(built[0], out)


def _build_wrapper(tool: Tool, go: _Go, work: Path, out: Path) -> None:
    go.run(["mod", "init", "vfleet-toolchain-wrapper"], cwd=work)
    _go_get_and_build(tool, go, work, out)


def _build_kubernetes(tool: Tool, go: _Go, work: Path, out: Path) -> None:
    go.run(["mod", "init", "vfleet-toolchain-wrapper"], cwd=work)
    gomod = _kubernetes_gomod(tool, go, work)
    replaces = _staging_replaces(gomod, tool.version)
    edits = [f"-replace={module}={module}@{version}" for module, version in replaces]
    edits += [f"-godebug={key}={value}" for key, value in _godebugs(gomod)]
    go.run(["mod", "edit", *edits], cwd=work)
    _go_get_and_build(tool, go, work, out)


def _build_generated(tool: Tool, go: _Go, work: Path, out: Path) -> None:
    go.run(["mod", "init", "vfleet-toolchain-wrapper"], cwd=work)
    go.run(["get", f"{tool.package}@{tool.version}"], cwd=work)
    download = json.loads(go.run(["mod", "download", "-json", f"{tool.module}@{tool.version}"], cwd=work))
    source = work / "module"
    shutil.copytree(download["Dir"], source)
    for path in source.rglob("*"):  # the module cache's files are read-only
        path.chmod(path.stat().st_mode | 0o200)
    package_dir = source / tool.package.removeprefix(tool.module).lstrip("/")
    _GENERATORS[tool.name](package_dir)
    go.run(["mod", "edit", f"-replace={tool.module}=./module"], cwd=work)
    go.run(["build", *_ldflags_args(tool, {}), "-o", str(out), tool.package], cwd=work)


def write_kubernetes_provider_embeds(package_dir: Path, version: str = KUBERNETES_PROVIDER_RELEASE) -> None:
    """What the provider's `go generate` (cmd/pulumi-resource-kubernetes/generate.go) writes beside main.go.

    Its rule: schema.json with `version` set, re-serialised compactly, as schema-embed.json; and
    terraform-mapping.json re-serialised compactly as terraform-mapping-embed.json. (Go's encoder orders
    the schema's keys by struct field, where `version` follows `displayName`; the order is cosmetic.)
    """
    schema = json.loads((package_dir / "schema.json").read_text(encoding="utf-8"))
    ordered: dict[str, Any] = {}
    for key, value in schema.items():
        if key != "version":
            ordered[key] = value
        if key == "displayName":
            ordered["version"] = version
    ordered.setdefault("version", version)
    (package_dir / "schema-embed.json").write_text(_compact_json(ordered), encoding="utf-8")
    mapping = json.loads((package_dir / "terraform-mapping.json").read_text(encoding="utf-8"))
    (package_dir / "terraform-mapping-embed.json").write_text(_compact_json(mapping), encoding="utf-8")


def _compact_json(value: Any) -> str:
    # As Go's json.Marshal: no whitespace, UTF-8 kept, and the characters it escapes escaped its way.
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_JSON_ESCAPES:
        text = text.replace(char, escaped)
    return text


_GO_JSON_ESCAPES = (
    ("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")
)


_GENERATORS: dict[str, Callable[[Path], None]] = {
    "pulumi-resource-kubernetes": write_kubernetes_provider_embeds,
}


def _go_get_and_build(tool: Tool, go: _Go, work: Path, out: Path) -> None:
    go.run(["get", f"{tool.package}@{tool.version}"], cwd=work)
    facts = _client_go_facts(go, work) if any("{kube_" in flag for flag in tool.ldflags) else {}
    go.run(["build", *_ldflags_args(tool, facts), "-o", str(out), tool.package], cwd=work)


def _kubernetes_gomod(tool: Tool, go: _Go, work: Path) -> dict[str, Any]:
    """k8s.io/kubernetes's own go.mod, parsed by `go mod edit -json` (no hand-written go.mod parser)."""
    download = json.loads(go.run(["mod", "download", "-json", f"{tool.module}@{tool.version}"], cwd=work))
    parsed: dict[str, Any] = json.loads(go.run(["mod", "edit", "-json", download["GoMod"]], cwd=work))
    return parsed


def _staging_replaces(gomod: Mapping[str, Any], kubernetes_version: str) -> list[tuple[str, str]]:
    """Each `k8s.io/X => ./staging/src/k8s.io/X` of k8s.io/kubernetes, as (module, published version).

    Staging modules are published as k8s.io/X v0.<minor>.<patch> for Kubernetes v1.<minor>.<patch>.
    """
    staging_version = _staging_version(kubernetes_version)
    replaces: list[tuple[str, str]] = []
    for replace in gomod.get("Replace") or []:
        old, new = replace["Old"]["Path"], replace["New"]["Path"]
        if new == f"./staging/src/{old}":
            replaces.append((old, staging_version))
    return replaces


def _staging_version(kubernetes_version: str) -> str:
    match = re.fullmatch(r"v1\.(\d+)\.(\d+)", kubernetes_version)
    if not match:
        raise VfleetError(f"cannot derive staging module versions from Kubernetes {kubernetes_version!r}")
    return f"v0.{match[1]}.{match[2]}"


def _godebugs(gomod: Mapping[str, Any]) -> list[tuple[str, str]]:
    # k8s.io/kubernetes sets `godebug default=go1.25`; it only applies to the main module, so the
    # wrapper has to repeat it or the binaries run with different runtime behaviour than upstream's.
    return [(entry["Key"], entry["Value"]) for entry in gomod.get("GoDebug") or []]


def _client_go_facts(go: _Go, work: Path) -> dict[str, str]:
    """Kubernetes major/minor of the resolved k8s.io/client-go (v0.37.x -> 1, 37), as in Helm's Makefile."""
    version = go.run(["list", "-m", "-f", "{{.Version}}", "k8s.io/client-go"], cwd=work).strip()
    match = re.fullmatch(r"v0\.(\d+)\.\d+.*", version)
    if not match:
        raise _StepFailed("go list -m k8s.io/client-go", 0, f"unexpected client-go version {version!r}")
    return {"kube_major": "1", "kube_minor": match[1]}


def _ldflags_args(tool: Tool, facts: Mapping[str, str]) -> list[str]:
    if not tool.ldflags:
        return []
    return ["-ldflags=" + " ".join(flag.format_map(_stamp_values(tool, facts)) for flag in tool.ldflags)]


def _stamp_values(tool: Tool, facts: Mapping[str, str]) -> dict[str, str]:
    semver = tool.version.removeprefix("v")
    major, minor = [*semver.split("."), "", ""][:2]
    return {"version": tool.version, "semver": semver, "major": major, "minor": minor, **facts}


_RECIPES: dict[Recipe, Callable[[Tool, _Go, Path, Path], None]] = {
    Recipe.GO_INSTALL: _build_go_install,
    Recipe.WRAPPER: _build_wrapper,
    Recipe.KUBERNETES: _build_kubernetes,
    Recipe.GENERATED: _build_generated,
}
