"""The toolchain's pins and binary lookup. Pure and fast: nothing here runs `go` or builds anything."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vfleet import toolchain
from vfleet.core.errors import VfleetError
from vfleet.toolchain import TOOLS, Recipe, ToolMissing, binary, build, cache_dir, env_var, gobuild


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty cache, an empty PATH and no overrides, whatever the developer's machine has."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("VFLEET_TOOLCHAIN_DIR", str(cache))
    empty_path = tmp_path / "path"
    empty_path.mkdir()
    monkeypatch.setenv("PATH", str(empty_path))
    for name in list(os.environ):
        if name.startswith("VFLEET_") and name.endswith("_BIN"):
            monkeypatch.delenv(name)
    return cache


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# --- pins -------------------------------------------------------------------------------------------------


def test_all_nine_tools_are_pinned() -> None:
    pins = {name: (tool.module, tool.version) for name, tool in TOOLS.items()}
    assert pins == {
        "opa": ("github.com/open-policy-agent/opa", "v1.22.2"),
        "conftest": ("github.com/open-policy-agent/conftest", "v0.71.1"),
        "helm": ("helm.sh/helm/v3", "v3.22.0"),
        "etcd": ("go.etcd.io/etcd/server/v3", "v3.7.3"),
        "kube-apiserver": ("k8s.io/kubernetes", "v1.35.4"),
        "kube-controller-manager": ("k8s.io/kubernetes", "v1.35.4"),
        "pulumi": ("github.com/pulumi/pulumi/pkg/v3", "v3.276.0"),
        "pulumi-resource-kubernetes": (
            "github.com/pulumi/pulumi-kubernetes/provider/v4",
            "v4.0.0-20260115033456-f47bc2d6f199",
        ),
        "versitygw": ("github.com/versity/versitygw", "v1.8.0"),
    }


def test_each_tool_builds_its_own_package_with_the_right_recipe() -> None:
    assert TOOLS["helm"].package == "helm.sh/helm/v3/cmd/helm"
    assert TOOLS["etcd"].package == "go.etcd.io/etcd/server/v3"
    assert TOOLS["kube-apiserver"].package == "k8s.io/kubernetes/cmd/kube-apiserver"
    assert TOOLS["kube-controller-manager"].package == "k8s.io/kubernetes/cmd/kube-controller-manager"
    recipes = {name: tool.recipe for name, tool in TOOLS.items()}
    assert recipes == {
        "opa": Recipe.GO_INSTALL,
        "conftest": Recipe.GO_INSTALL,
        "helm": Recipe.WRAPPER,
        "etcd": Recipe.WRAPPER,
        "kube-apiserver": Recipe.KUBERNETES,
        "kube-controller-manager": Recipe.KUBERNETES,
        "pulumi": Recipe.WRAPPER,
        "pulumi-resource-kubernetes": Recipe.GENERATED,
        "versitygw": Recipe.GO_INSTALL,
    }


def test_the_s3_server_is_built_from_its_command_package_and_stamped_with_its_release() -> None:
    assert TOOLS["versitygw"].package == "github.com/versity/versitygw/cmd/versitygw"
    assert gobuild._ldflags_args(TOOLS["versitygw"], {}) == ["-ldflags=-X main.Version=v1.8.0"]


def test_the_engine_binaries_report_the_versions_the_sdks_ask_for() -> None:
    (cli,) = gobuild._ldflags_args(TOOLS["pulumi"], {})
    assert cli == "-ldflags=-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v3.276.0"
    (provider,) = gobuild._ldflags_args(TOOLS["pulumi-resource-kubernetes"], {})
    assert provider.endswith("provider/v4/pkg/version.Version=4.25.0")


def test_the_provider_embeds_are_written_by_its_generate_rule(tmp_path: Path) -> None:
    """schema.json with `version` set, compact, Go's escaping; terraform-mapping.json compact."""
    (tmp_path / "schema.json").write_text(
        '{\n  "name": "kubernetes",\n  "displayName": "Kubernetes",\n  "description": "a <b> & c\u2028"\n}'
    )
    (tmp_path / "terraform-mapping.json").write_text('{\n  "k": [1, 2]\n}')
    toolchain.write_kubernetes_provider_embeds(tmp_path, "4.25.0")
    assert (tmp_path / "schema-embed.json").read_text() == (
        '{"name":"kubernetes","displayName":"Kubernetes","version":"4.25.0",'
        '"description":"a \\u003cb\\u003e \\u0026 c\\u2028"}'
    )
    assert (tmp_path / "terraform-mapping-embed.json").read_text() == '{"k":[1,2]}'


def test_kubernetes_binaries_are_stamped_with_their_version() -> None:
    # Without the stamp kube-apiserver reports v0.0.0.
    flags = gobuild._ldflags_args(TOOLS["kube-apiserver"], {})
    assert flags == [
        "-ldflags=-X k8s.io/component-base/version.gitVersion=v1.35.4"
        " -X k8s.io/component-base/version.gitMajor=1"
        " -X k8s.io/component-base/version.gitMinor=35"
        " -X k8s.io/component-base/version.gitTreeState=clean"
    ]


def test_helm_stamp_uses_the_resolved_client_go_version() -> None:
    (flags,) = gobuild._ldflags_args(TOOLS["helm"], {"kube_major": "1", "kube_minor": "37"})
    assert "-X helm.sh/helm/v3/internal/version.version=v3.22.0" in flags
    assert "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37" in flags
    assert "{" not in flags


def test_opa_needs_no_stamp_and_conftest_gets_a_bare_semver() -> None:
    assert gobuild._ldflags_args(TOOLS["opa"], {}) == []
    assert gobuild._ldflags_args(TOOLS["conftest"], {}) == [
        "-ldflags=-X github.com/open-policy-agent/conftest/internal/version.Version=0.71.1"
    ]


def test_staging_replaces_become_published_v0_modules() -> None:
    gomod = {
        "Replace": [
            {"Old": {"Path": "k8s.io/api"}, "New": {"Path": "./staging/src/k8s.io/api"}},
            {"Old": {"Path": "k8s.io/client-go"}, "New": {"Path": "./staging/src/k8s.io/client-go"}},
            {"Old": {"Path": "example.com/other"}, "New": {"Path": "example.com/fork", "Version": "v1.0.0"}},
        ],
        "GoDebug": [{"Key": "default", "Value": "go1.25"}],
    }
    assert gobuild._staging_replaces(gomod, "v1.35.4") == [
        ("k8s.io/api", "v0.35.4"),
        ("k8s.io/client-go", "v0.35.4"),
    ]
    assert gobuild._godebugs(gomod) == [("default", "go1.25")]


def test_staging_version_refuses_what_it_cannot_map() -> None:
    with pytest.raises(VfleetError):
        gobuild._staging_version("v2.0.0")


# --- where binaries come from ------------------------------------------------------------------------------


def test_cache_dir_from_env(isolated: Path) -> None:
    assert cache_dir() == isolated


def test_cache_dir_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("VFLEET_TOOLCHAIN_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "vfleet" / "toolchain"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # one cache folder for all of vfleet
    assert cache_dir() == tmp_path / "xdg" / "vfleet" / "toolchain"
    monkeypatch.setenv("VFLEET_CACHE_DIR", str(tmp_path / "runs"))  # moves the run caches, not the tools
    assert cache_dir() == tmp_path / "xdg" / "vfleet" / "toolchain"


def test_env_var_names() -> None:
    assert env_var("opa") == "VFLEET_OPA_BIN"
    assert env_var("kube-apiserver") == "VFLEET_KUBE_APISERVER_BIN"
    assert env_var("kube-controller-manager") == "VFLEET_KUBE_CONTROLLER_MANAGER_BIN"


def test_cached_binary_is_found_in_its_versioned_dir(isolated: Path) -> None:
    cached = executable(isolated / "kube-apiserver-v1.35.4" / "kube-apiserver")
    assert binary("kube-apiserver") == cached


def test_cache_wins_over_path(isolated: Path, tmp_path: Path) -> None:
    executable(tmp_path / "path" / "opa")
    cached = executable(isolated / "opa-v1.22.2" / "opa")
    assert binary("opa") == cached


def test_binary_of_another_version_in_the_cache_is_ignored(isolated: Path) -> None:
    executable(isolated / "helm-v3.0.0" / "helm")
    with pytest.raises(ToolMissing):
        binary("helm")


def test_path_is_the_fallback(tmp_path: Path) -> None:
    on_path = executable(tmp_path / "path" / "helm")
    assert binary("helm") == on_path


def test_env_override_wins_over_cache(
    monkeypatch: pytest.MonkeyPatch, isolated: Path, tmp_path: Path
) -> None:
    executable(isolated / "opa-v1.22.2" / "opa")
    mine = executable(tmp_path / "elsewhere" / "my-opa")
    monkeypatch.setenv("VFLEET_OPA_BIN", str(mine))
    assert binary("opa") == mine


def test_env_override_to_a_missing_file_simulates_a_missing_tool(
    monkeypatch: pytest.MonkeyPatch, isolated: Path, tmp_path: Path
) -> None:
    executable(isolated / "kube-apiserver-v1.35.4" / "kube-apiserver")
    executable(tmp_path / "path" / "kube-apiserver")
    monkeypatch.setenv("VFLEET_KUBE_APISERVER_BIN", str(tmp_path / "nope"))
    with pytest.raises(ToolMissing) as caught:
        binary("kube-apiserver")
    message = str(caught.value)
    assert "VFLEET_KUBE_APISERVER_BIN" in message
    assert "python -m vfleet.toolchain build kube-apiserver" in message
    assert caught.value.tool == "kube-apiserver"


def test_empty_env_override_also_means_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    executable(tmp_path / "path" / "etcd")
    monkeypatch.setenv("VFLEET_ETCD_BIN", "")
    with pytest.raises(ToolMissing):
        binary("etcd")


def test_missing_tool_says_which_and_how_to_build_it(isolated: Path) -> None:
    with pytest.raises(ToolMissing) as caught:
        binary("etcd")
    message = str(caught.value)
    assert message.startswith("etcd is missing")
    assert str(isolated / "etcd-v3.7.3" / "etcd") in message
    assert "python -m vfleet.toolchain build etcd" in message
    assert isinstance(caught.value, VfleetError)


def test_unpinned_tools_are_looked_up_on_path_only(tmp_path: Path) -> None:
    with pytest.raises(ToolMissing) as caught:
        binary("kubectl")
    assert "VFLEET_KUBECTL_BIN" in str(caught.value)
    assert "vfleet.toolchain build" not in str(caught.value)
    kubectl = executable(tmp_path / "path" / "kubectl")
    assert binary("kubectl") == kubectl


# --- build without building --------------------------------------------------------------------------------


def test_build_skips_what_is_cached_without_running_go(isolated: Path) -> None:
    # PATH is empty, so this would fail with ToolMissing("go") if it tried to build anything.
    opa = executable(isolated / "opa-v1.22.2" / "opa")
    helm = executable(isolated / "helm-v3.22.0" / "helm")
    lines: list[str] = []
    assert build(["helm", "opa", "helm"], lines.append) == [helm, opa]
    assert len(lines) == 2
    assert all("already built" in line for line in lines)


def test_build_refuses_unknown_names_before_doing_anything(isolated: Path) -> None:
    with pytest.raises(VfleetError, match="unknown tool 'kubectl'"):
        build(["opa", "kubectl"], lambda _line: None)
    assert not isolated.exists()


def test_cli_path_prints_the_binary(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cached = executable(isolated / "conftest-v0.71.1" / "conftest")
    assert toolchain.main(["path", "conftest"]) == 0
    assert capsys.readouterr().out.strip() == str(cached)


def test_cli_path_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    assert toolchain.main(["path", "conftest"]) != 0
    assert "python -m vfleet.toolchain build conftest" in capsys.readouterr().err


def fake_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """A stand-in `go` (via VFLEET_GO_BIN) so the build bookkeeping is tested without compiling."""
    go = executable(tmp_path / "fake" / "go")
    go.write_text("#!/bin/sh\nPATH=/usr/bin:/bin\n" + script)
    monkeypatch.setenv("VFLEET_GO_BIN", str(go))


def test_build_installs_atomically_into_the_versioned_dir(
    monkeypatch: pytest.MonkeyPatch, isolated: Path, tmp_path: Path
) -> None:
    # `go install` drops the binary into $GOBIN; check the shared GOPATH and the pinned toolchain too.
    fake_go(
        tmp_path,
        monkeypatch,
        'test "$GOTOOLCHAIN" = local && test "$CGO_ENABLED" = 0 || exit 3\n'
        f'test "$GOPATH" = "{isolated}/go" || exit 4\n'
        'mkdir -p "$GOBIN" && printf "#!/bin/sh\\n" > "$GOBIN/opa" && chmod +x "$GOBIN/opa"\n',
    )
    lines: list[str] = []
    assert build(["opa"], lines.append) == [isolated / "opa-v1.22.2" / "opa"]
    assert binary("opa") == isolated / "opa-v1.22.2" / "opa"
    assert any("built in" in line for line in lines)
    assert not list(isolated.glob(".build-*"))


def test_a_failed_build_names_the_tool_and_keeps_going(
    monkeypatch: pytest.MonkeyPatch, isolated: Path, tmp_path: Path
) -> None:
    fake_go(tmp_path, monkeypatch, "echo 'proxy said no' >&2\nexit 1\n")
    cached = executable(isolated / "helm-v3.22.0" / "helm")
    with pytest.raises(toolchain.ToolBuildFailed) as caught:
        build(["opa", "helm", "etcd"], lambda _line: None)
    assert caught.value.tools == ["opa", "etcd"]
    message = str(caught.value)
    assert "building opa v1.22.2 failed" in message
    assert "building etcd v3.7.3 failed" in message
    assert "proxy said no" in message
    assert not (isolated / "opa-v1.22.2").exists()
    assert not list(isolated.glob(".build-*"))
    assert (isolated / "logs" / "opa-v1.22.2.log").is_file()
    assert binary("helm") == cached
