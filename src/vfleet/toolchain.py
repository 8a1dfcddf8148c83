"""The real external tools vfleet runs, pinned in one place, built from source into a user cache.

Nothing here is downloaded as a prebuilt binary: on the machines vfleet is developed and tested on only
package registries are reachable, so every tool is built from its Go module through the Go module proxy
(see TOOLCHAIN.md in the shared notes for where each recipe comes from and how long it takes).

Layout of the cache (``$VFLEET_TOOLCHAIN_DIR``, else ``$XDG_CACHE_HOME/vfleet/toolchain`` or
``~/.cache/vfleet/toolchain``: vfleet.caches)::

    <cache>/<name>-<version>/<name>     one finished binary per pinned tool (the directory appears atomically)
    <cache>/go/                         GOPATH and GOMODCACHE shared by every build, so downloads are reused
    <cache>/logs/<name>-<version>.log   full output of the last build attempt of a tool
    <cache>/.lock                       held while building, so concurrent bootstraps take turns

Usage::

    python -m vfleet.toolchain build [name ...]   # build what is missing (default: every pinned tool)
    python -m vfleet.toolchain path <name>        # print the binary vfleet would run
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from vfleet import caches
from vfleet.errors import VfleetError

__all__ = [
    "TOOLS",
    "Recipe",
    "Tool",
    "ToolBuildFailed",
    "ToolMissing",
    "binary",
    "build",
    "build_command",
    "cache_dir",
    "env_var",
    "installed_path",
]


class Recipe(StrEnum):
    """How a tool is built from its Go module."""

    # `go install <package>@<version>`: only for modules whose go.mod has no replace directives.
    GO_INSTALL = "go-install"
    # A throwaway module that requires the tool: `go get <package>@<version>`, then `go build`. Needed
    # when the main package is not the module root or the module's own replaces point outside its zip.
    WRAPPER = "wrapper"
    # A wrapper that also copies k8s.io/kubernetes's staging replaces (as published k8s.io/X@v0.Y.Z
    # modules) and its godebug line, because its go.mod points those 31 modules at ./staging paths
    # that are not in the module zip, so `go install` refuses it.
    KUBERNETES = "kubernetes"
    # A wrapper whose required module is first copied out of the module cache into a writable directory
    # (and `go mod edit -replace`d to it), so that files its `go:generate` step would write can be written
    # there before `go build`: pulumi-resource-kubernetes embeds schema-embed.json and
    # terraform-mapping-embed.json, which are not in its module zip.
    GENERATED = "generated"


@dataclass(frozen=True, slots=True)
class Tool:
    """One pinned tool: where its source comes from and how to turn it into `<name>`.

    `ldflags` are `-X` stamps the upstream release builds set; without them several tools report a
    wrong version (kube-apiserver says v0.0.0, helm says "v3.22", conftest says "dev"). They are
    templates: `{version}` is the pinned version, `{semver}` the same without "v", `{major}`/`{minor}`
    its first two numbers, and `{kube_major}`/`{kube_minor}` the Kubernetes version matching the
    k8s.io/client-go the wrapper module resolved (how Helm's own Makefile derives its defaults).
    """

    name: str
    module: str
    version: str
    package: str
    recipe: Recipe
    ldflags: tuple[str, ...] = ()

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.version}"


# The Kubernetes version stamp, as the upstream release build (hack/lib/version.sh) sets it.
_KUBE_VERSION_STAMP = (
    "-X k8s.io/component-base/version.gitVersion={version}",
    "-X k8s.io/component-base/version.gitMajor={major}",
    "-X k8s.io/component-base/version.gitMinor={minor}",
    "-X k8s.io/component-base/version.gitTreeState=clean",
)

_KUBERNETES_VERSION = "v1.35.4"

# The Pulumi engine. The CLI is the newest release the Go module proxy serves that was seen to build here.
# The Kubernetes provider's module is served at one pseudo-version only: the commit of 2026-01-15, one day
# before pulumi-kubernetes 4.25.0 was published; it is stamped (binary and embedded schema) as that release,
# and pyproject.toml pins the Python SDK pulumi-kubernetes to the same version, so the SDK asks the engine
# for exactly the plugin version this binary reports (no "provider is older than the SDK wants" warning).
PULUMI_VERSION = "v3.276.0"
KUBERNETES_PROVIDER_MODULE_VERSION = "v4.0.0-20260115033456-f47bc2d6f199"
KUBERNETES_PROVIDER_RELEASE = "4.25.0"

# THE place where versions are pinned. Bumping a tool means editing its line here and nothing else;
# the new version lands in a new cache directory, so the old binary is never reused by mistake.
TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            name="opa",
            module="github.com/open-policy-agent/opa",
            version="v1.22.2",
            package="github.com/open-policy-agent/opa",
            recipe=Recipe.GO_INSTALL,
            # opa keeps its version in source (v1/version.Version), so no stamp is needed.
        ),
        Tool(
            name="conftest",
            module="github.com/open-policy-agent/conftest",
            version="v0.71.1",
            package="github.com/open-policy-agent/conftest",
            recipe=Recipe.GO_INSTALL,
            ldflags=("-X github.com/open-policy-agent/conftest/internal/version.Version={semver}",),
        ),
        Tool(
            name="helm",
            module="helm.sh/helm/v3",
            version="v3.22.0",
            package="helm.sh/helm/v3/cmd/helm",
            recipe=Recipe.WRAPPER,
            # As helm's Makefile for a tagged release; the k8sVersion pair is the default
            # .Capabilities.KubeVersion of `helm template` (v1.20 when left unstamped).
            ldflags=(
                "-X helm.sh/helm/v3/internal/version.version={version}",
                "-X helm.sh/helm/v3/internal/version.gitTreeState=clean",
                "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor={kube_major}",
                "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor={kube_minor}",
                "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor={kube_major}",
                "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor={kube_minor}",
            ),
        ),
        Tool(
            name="etcd",
            module="go.etcd.io/etcd/server/v3",
            version="v3.7.3",
            # The module root is etcd's main package; its replaces (../api ...) are outside the zip.
            package="go.etcd.io/etcd/server/v3",
            recipe=Recipe.WRAPPER,
        ),
        Tool(
            name="kube-apiserver",
            module="k8s.io/kubernetes",
            version=_KUBERNETES_VERSION,
            package="k8s.io/kubernetes/cmd/kube-apiserver",
            recipe=Recipe.KUBERNETES,
            ldflags=_KUBE_VERSION_STAMP,
        ),
        Tool(
            name="kube-controller-manager",
            module="k8s.io/kubernetes",
            version=_KUBERNETES_VERSION,
            package="k8s.io/kubernetes/cmd/kube-controller-manager",
            recipe=Recipe.KUBERNETES,
            ldflags=_KUBE_VERSION_STAMP,
        ),
        Tool(
            name="pulumi",
            module="github.com/pulumi/pulumi/pkg/v3",
            version=PULUMI_VERSION,
            package="github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
            recipe=Recipe.WRAPPER,
            # Unstamped, the CLI reports v3.0.0 (and the Automation API's version checks read that).
            ldflags=("-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={version}",),
        ),
        Tool(
            name="pulumi-resource-kubernetes",
            module="github.com/pulumi/pulumi-kubernetes/provider/v4",
            version=KUBERNETES_PROVIDER_MODULE_VERSION,
            package="github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes",
            recipe=Recipe.GENERATED,
            ldflags=(
                "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version="
                + KUBERNETES_PROVIDER_RELEASE,
            ),
        ),
        Tool(
            # Versity S3 Gateway: a real S3-compatible object store (its `posix` backend keeps objects
            # as files in a directory); the tests point Pulumi's `s3://` backend at it on loopback.
            name="versitygw",
            module="github.com/versity/versitygw",
            version="v1.8.0",
            package="github.com/versity/versitygw/cmd/versitygw",
            recipe=Recipe.GO_INSTALL,
            # As its Makefile stamps a release (unstamped, `versitygw --version` says "git").
            ldflags=("-X main.Version={version}",),
        ),
    )
}

# A single go command may legitimately run for many minutes on 2 cores (kube-apiserver: ~5 min);
# the limit only exists so that a hung download cannot block a bootstrap forever.
_STEP_TIMEOUT_S = 3600
_LOG_TAIL_LINES = 25


class ToolMissing(VfleetError):
    """A tool vfleet needs is neither overridden, nor built into the cache, nor on PATH."""

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(message)
        self.tool = tool


class ToolBuildFailed(VfleetError):
    """Building one or more pinned tools failed; `tools` names each of them."""

    def __init__(self, tools: list[str], message: str) -> None:
        super().__init__(message)
        self.tools = tools


# ---------------------------------------------------------------------------------------------------------
# Finding binaries


def cache_dir() -> Path:
    """Where built tools live: outside any repository, so every checkout and worktree shares them
    (vfleet.caches: $VFLEET_TOOLCHAIN_DIR, else toolchain/ of vfleet's folder in the user's cache)."""
    return caches.toolchain_dir()


def env_var(name: str) -> str:
    """The variable that overrides a tool's binary: VFLEET_KUBE_APISERVER_BIN for kube-apiserver."""
    return "VFLEET_" + name.upper().replace("-", "_") + "_BIN"


def build_command(name: str) -> str:
    return f"python -m vfleet.toolchain build {name}"


def installed_path(name: str) -> Path:
    """Where the pinned binary of `name` is (or would be) in the cache."""
    tool = _tool(name)
    return cache_dir() / tool.dirname / tool.name


def binary(name: str, env: Mapping[str, str] | None = None) -> Path:
    """The program to run for tool `name`.

    Order: the `VFLEET_<NAME>_BIN` override (always wins, so tests can simulate a missing tool), then
    the pinned build in the cache, then the same-named program on PATH. Names that are not pinned here
    (e.g. "go") are looked up the same way, minus the cache. `env` (default: this process's) is where
    the override and PATH are read.
    """
    env = os.environ if env is None else env
    override = env.get(env_var(name))
    if override is not None:
        return _from_override(name, override)
    if name in TOOLS:
        cached = installed_path(name)
        if _is_executable(cached):
            return cached
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found:
        return Path(found)
    raise ToolMissing(name, _missing_message(name))


def _from_override(name: str, value: str) -> Path:
    # shutil.which accepts both a path and a bare program name, and checks that it is executable.
    found = shutil.which(value) if value else None
    if not found:
        problem = f"{env_var(name)}={value!r} is not an executable program."
        raise ToolMissing(name, f"{name} is missing: {problem}" + _how_to_get(name))
    return Path(found)


def _missing_message(name: str) -> str:
    if name in TOOLS:
        where = f"not built in the toolchain cache ({installed_path(name)}) and not on PATH."
    else:
        where = "not on PATH."
    return f"{name} is missing: {where}" + _how_to_get(name)


def _how_to_get(name: str) -> str:
    if name in TOOLS:
        tool = TOOLS[name]
        return f" Build it ({tool.module} {tool.version}) with: {build_command(name)}"
    return f" vfleet does not build {name}; install it on PATH or set {env_var(name)}."


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _tool(name: str) -> Tool:
    try:
        return TOOLS[name]
    except KeyError:
        known = ", ".join(TOOLS)
        raise VfleetError(f"unknown tool {name!r}; the toolchain pins: {known}") from None


# ---------------------------------------------------------------------------------------------------------
# Building


def build(names: Iterable[str], log: Callable[[str], None]) -> list[Path]:
    """Build every named tool that is not in the cache yet; return the binary of each, in order.

    Each tool is built on its own, so a failure names that tool and does not stop the others; all
    failures are raised together at the end as `ToolBuildFailed`.
    """
    tools = [_tool(name) for name in dict.fromkeys(names)]  # validate all names before any work
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    failures: dict[str, str] = {}
    with _exclusive_lock(cache / ".lock", log):
        _remove_stale_builds(cache)
        for tool in tools:
            target = cache / tool.dirname / tool.name
            if _is_executable(target):
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
        if not _is_executable(staged / tool.name):
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


# ---------------------------------------------------------------------------------------------------------
# Command line


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m vfleet.toolchain", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="build the pinned tools that are not in the cache yet")
    build_cmd.add_argument("names", nargs="*", metavar="name", help=f"default: all of {', '.join(TOOLS)}")
    path_cmd = commands.add_parser("path", help="print the binary vfleet runs for a tool")
    path_cmd.add_argument("name")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "build":
            for path in build(args.names or list(TOOLS), log=lambda line: print(line, file=sys.stderr)):
                print(path)
        else:
            print(binary(args.name))
    except VfleetError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
