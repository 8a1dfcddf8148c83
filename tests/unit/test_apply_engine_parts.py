"""The parts of the engine adapter that are not the engine call: preconditions (CLI, plugin, passphrase,
backend), event -> progress, change counts, failure classification, recovery from a killed apply
(pending creates, stale locks), kubeconfig resolution without leaks, stack files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from pulumi.automation import events

from vfleet import toolchain
from vfleet.apply import engine, outcome, project
from vfleet.apply.decide import Result
from vfleet.specs import KubeconfigRef, kubeconfig

TOKEN = "tok-very-secret-123"


FAKE_PULUMI = """#!/bin/sh
# A stand-in for the CLI (unit tier): `version`, and `plugin install ... --file F` copying F into PULUMI_HOME.
case "$1" in
  version) echo "${FAKE_PULUMI_VERSION:-v3.276.0}" ;;
  plugin) dir="$PULUMI_HOME/plugins/resource-kubernetes-v$5"; mkdir -p "$dir" && cp "$7" "$dir/" ;;
esac
"""


def _tools(tmp: Path, *, provider: bool = True) -> dict[str, str]:
    """An environment whose pulumi (and provider) are the stand-ins above, in an empty toolchain cache."""
    folder = tmp / "bin"
    folder.mkdir(exist_ok=True)
    cli = folder / "pulumi"
    cli.write_text(FAKE_PULUMI)
    cli.chmod(cli.stat().st_mode | stat.S_IEXEC)
    env = {
        "PATH": f"{folder}:/usr/bin:/bin",
        "HOME": str(tmp),
        "PULUMI_HOME": str(tmp / "pulumi-home"),
        "VFLEET_TOOLCHAIN_DIR": str(tmp / "toolchain"),
        "VFLEET_PULUMI_BIN": str(cli),
        "PULUMI_CONFIG_PASSPHRASE": "pw",
    }
    if provider:
        plugin = folder / "pulumi-resource-kubernetes"
        plugin.write_text("#!/bin/sh\n")
        plugin.chmod(plugin.stat().st_mode | stat.S_IEXEC)
        env["VFLEET_PULUMI_RESOURCE_KUBERNETES_BIN"] = str(plugin)
    else:
        env["VFLEET_PULUMI_RESOURCE_KUBERNETES_BIN"] = ""  # the override that simulates a missing tool
    return env


def test_no_pulumi_is_one_clear_error_with_how_to_build_it(tmp_path: Path) -> None:
    env = _tools(tmp_path) | {"VFLEET_PULUMI_BIN": ""}
    with pytest.raises(engine.EngineMissing) as exc:
        engine.configure(tmp_path, tmp_path / "state", env=env)
    assert exc.value.exit_code == 2
    message = str(exc.value)
    assert "pulumi is missing" in message and "python -m vfleet.toolchain build" in message
    assert toolchain.PULUMI_VERSION in message and engine.PROVIDER_VERSION in message


def test_a_cli_older_than_the_sdk_is_refused(tmp_path: Path) -> None:
    env = _tools(tmp_path) | {"FAKE_PULUMI_VERSION": "v3.200.0"}
    with pytest.raises(engine.EngineMissing, match=r"older than 3\.272\.0"):
        engine.configure(tmp_path, tmp_path / "state", env=env)


def test_the_pinned_plugin_is_installed_once_from_the_toolchain_build(tmp_path: Path) -> None:
    env = _tools(tmp_path)
    config = engine.configure(tmp_path, tmp_path / "state", env=env)
    installed = engine.plugin_path(env)
    assert installed.is_file() and installed.parent.name == f"resource-kubernetes-v{engine.PROVIDER_VERSION}"
    assert config.version == "3.276.0" and config.pulumi == Path(env["VFLEET_PULUMI_BIN"])
    # installed: the toolchain's build is no longer needed
    again = engine.configure(tmp_path, tmp_path / "state", env=env | {"VFLEET_PULUMI_RESOURCE_KUBERNETES_BIN": ""})
    assert again.version == "3.276.0"


def test_no_plugin_and_no_build_of_it_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(engine.EngineMissing, match="pulumi-resource-kubernetes is missing"):
        engine.configure(tmp_path, tmp_path / "s", env=_tools(tmp_path, provider=False))


def test_the_engine_sdk_and_provider_versions_agree() -> None:
    """pyproject.toml pins the SDK that asks the engine for exactly the plugin version vfleet builds."""
    import importlib.metadata

    assert importlib.metadata.version("pulumi-kubernetes") == toolchain.KUBERNETES_PROVIDER_RELEASE
    pins = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert f'"pulumi-kubernetes=={toolchain.KUBERNETES_PROVIDER_RELEASE}"' in pins
    assert f'"pulumi=={engine.MIN_VERSION}"' in pins and importlib.metadata.version("pulumi") == engine.MIN_VERSION


def test_passphrase_provider_without_passphrase_is_exit_2(tmp_path: Path) -> None:
    env = _tools(tmp_path)
    env.pop("PULUMI_CONFIG_PASSPHRASE")
    with pytest.raises(engine.PassphraseMissing) as exc:
        engine.configure(tmp_path, tmp_path / "state", env=env)
    assert exc.value.exit_code == 2 and "PULUMI_CONFIG_PASSPHRASE" in str(exc.value)
    with pytest.raises(engine.PassphraseMissing):
        engine.configure(tmp_path, tmp_path / "state", env=env, secrets_provider="passphrase")
    # another provider passes through; a passphrase file is as good as the variable
    kms = engine.configure(tmp_path, tmp_path / "state", env=env, secrets_provider="awskms://alias/vfleet")
    assert kms.secrets_provider == "awskms://alias/vfleet"
    assert (
        engine.configure(tmp_path, tmp_path / "s", env=env | {"PULUMI_CONFIG_PASSPHRASE_FILE": "/p"}).secrets_provider
        is None
    )


def test_backend_is_the_state_dir_unless_pulumi_backend_url_is_set(tmp_path: Path) -> None:
    env = _tools(tmp_path)
    local = engine.configure(tmp_path, tmp_path / "state", env=env)
    assert local.backend_url == f"file://{tmp_path / 'state'}" and (tmp_path / "state").is_dir()
    assert local.env["PULUMI_BACKEND_URL"] == local.backend_url
    assert local.env["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert local.env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert local.env["PULUMI_IGNORE_AMBIENT_PLUGINS"] == "true"
    assert "PULUMI_CONFIG_PASSPHRASE" not in local.env  # inherited by the engine, never copied around
    shared = engine.configure(tmp_path, tmp_path / "state", env=env | {"PULUMI_BACKEND_URL": "s3://b/vfleet"})
    assert shared.backend_url == "s3://b/vfleet" and shared.env["PULUMI_BACKEND_URL"] == "s3://b/vfleet"


def _meta(op: events.OpType, name: str) -> events.StepEventMetadata:
    return events.StepEventMetadata(
        op, f"urn:pulumi:eu-dev::vfleet::kubernetes:core/v1:Namespace::{name}", "kubernetes:core/v1:Namespace", "p"
    )


def test_engine_events_become_progress_per_resource() -> None:
    seen: list[tuple[int, int, str]] = []
    counter = outcome.EventCounter(lambda d, t, w: seen.append((d, t, w)), total=3)
    counter(events.EngineEvent(1, 0, resource_pre_event=events.ResourcePreEvent(_meta(events.OpType.CREATE, "a"))))
    counter(events.EngineEvent(2, 0, res_outputs_event=events.ResOutputsEvent(_meta(events.OpType.CREATE, "a"))))
    counter(
        events.EngineEvent(3, 0, res_op_failed_event=events.ResOpFailedEvent(_meta(events.OpType.UPDATE, "b"), 1, 1))
    )
    counter(events.EngineEvent(4, 0, summary_event=events.SummaryEvent(False, 1, {events.OpType.CREATE: 1}, {})))
    assert seen == [(1, 3, "create a"), (2, 3, "update b"), (3, 3, "done")]


def test_change_counts_use_plain_operation_names() -> None:
    assert outcome.change_counts({events.OpType.CREATE: 2, events.OpType.SAME: 5, "update": 1, "delete": 0}) == {
        "create": 2,
        "same": 5,
        "update": 1,
    }


def test_failures_are_classified_and_protected_deletes_are_refusals() -> None:
    protected = (
        "error: update failed\n  kubernetes:core/v1:Namespace (v1/Namespace/_/vc-a):\n"
        '    error: unable to delete resource "urn:..."\n    as it is currently marked for protection. '
        "To unprotect the resource, remove the `protect` flag from the resource in your Pulumi program"
    )
    result, message = outcome.classify(protected)
    assert result is Result.REFUSED and "protected" in message
    result, message = outcome.classify("error: configured Kubernetes cluster is unreachable: dial tcp 127.0.0.1:1")
    assert result is Result.FAILED and message.startswith("cluster unreachable")
    result, message = outcome.classify("error: the stack is currently locked by 1 lock(s).")
    assert result is Result.FAILED and "pulumi cancel" in message
    result, message = outcome.classify("stdout: ...\nstderr: error: helm: additional properties 'x' not allowed\n")
    assert result is Result.FAILED and "additional properties 'x' not allowed" in message


def test_a_provider_that_crashed_is_named_not_taken_for_an_unreachable_cluster() -> None:
    # What the engine prints when the kubernetes provider dies mid-run (pulumi pkg/resource/plugin/plugin.go),
    # then the resources still waiting on it, failing on the dead provider's own gRPC port.
    crashed = (
        "stderr: error:\n\n        Detected that /cache/provider/pulumi-resource-kubernetes exited prematurely. \n"
        "       This is *always* a bug in the provider. Please report the issue to the provider author as "
        "appropriate.\n       To assist with debugging we have dumped the STDOUT and STDERR streams of the "
        "plugin:\npanic: runtime error: invalid memory address or nil pointer dereference\n"
        "goroutine 214 [running]:\ngithub.com/pulumi/pulumi-kubernetes/provider/v4/pkg/await.(*Awaiter)\n"
        "  kubernetes:core/v1:ResourceQuota (urn:pulumi:live-a::vfleet::kubernetes:core/v1:ResourceQuota::q):\n"
        "    error: rpc error: code = Unavailable desc = error reading from server: EOF\n"
        '    error: transport: Error while dialing: dial tcp 127.0.0.1:41999: connect: connection refused\n'
    )
    result, message = outcome.classify(crashed)
    assert result is Result.FAILED
    assert message.startswith("the engine's plugin pulumi-resource-kubernetes crashed during the run (panic: "
                              "runtime error: invalid memory address or nil pointer dereference)"), message
    assert "cluster unreachable" not in message and "urn:pulumi:live-a::" in message and "EOF" in message
    # Without the engine's crash notice the same refusal is an unreachable cluster, as before.
    result, message = outcome.classify(crashed.split("goroutine 214")[1])
    assert message.startswith("cluster unreachable: "), message


def test_pending_creates_of_a_killed_apply_are_found_and_dropped() -> None:
    urn = "urn:pulumi:eu-dev::vfleet::kubernetes:core/v1:Namespace::v1/Namespace/_/vc-a"
    deployment = {
        "resources": [],
        "pending_operations": [
            {"resource": {"urn": urn, "type": "kubernetes:core/v1:Namespace"}, "type": "creating"},
            {"resource": {"urn": urn + "x"}, "type": "updating"},
        ],
    }
    assert outcome.pending_creates(deployment) == [urn]
    assert outcome.without_pending(deployment)["pending_operations"] == [deployment["pending_operations"][1]]
    assert outcome.urn_name(urn) == "v1/Namespace/_/vc-a"


def test_only_dead_local_locks_are_removed(tmp_path: Path) -> None:
    locks = tmp_path / ".pulumi" / "locks" / "organization" / "vfleet" / "eu-dev"
    locks.mkdir(parents=True)
    dead = locks / "dead.json"
    dead.write_text(json.dumps({"pid": 111, "hostname": "me", "username": "ci"}))
    live = locks / "live.json"
    live.write_text(json.dumps({"pid": 222, "hostname": "me"}))
    other = locks / "other.json"
    other.write_text(json.dumps({"pid": 111, "hostname": "another-runner"}))
    removed = outcome.remove_stale_locks(f"file://{tmp_path}", "eu-dev", hostname="me", alive=lambda pid: pid == 222)
    assert removed == [dead] and not dead.exists() and live.exists() and other.exists()
    assert outcome.remove_stale_locks("s3://bucket", "eu-dev", hostname="me", alive=lambda pid: False) == []


# ------------------------------------------------------------------------------------------- kubeconfig


def _kubeconfig(context: str = "ctx", current: bool = True) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            **({"current-context": context} if current else {}),
            "clusters": [
                {"name": context, "cluster": {"server": "https://127.0.0.1:1", "certificate-authority": "ca.crt"}}
            ],
            "users": [{"name": context, "user": {"token": TOKEN}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        }
    )


def test_kubeconfig_from_env_content_env_path_file_and_context(tmp_path: Path) -> None:
    path = tmp_path / "kube" / "config"
    path.parent.mkdir()
    path.write_text(_kubeconfig())
    by_content = kubeconfig.resolve(KubeconfigRef(env="K"), "c", {"K": _kubeconfig() + "\n"})
    assert TOKEN in by_content.content and by_content.source == "env K"
    by_path = kubeconfig.resolve(KubeconfigRef(env="K"), "c", {"K": str(path)})
    assert str(tmp_path / "kube" / "ca.crt") in by_path.content  # relative file refs made absolute
    by_file = kubeconfig.resolve(KubeconfigRef(file="~/kube/config", context="ctx"), "c", {"HOME": str(tmp_path)})
    assert by_file.context == "ctx"
    by_context = kubeconfig.resolve(KubeconfigRef(context="ctx"), "c", {"KUBECONFIG": str(path), "HOME": "/none"})
    assert by_context.context == "ctx" and TOKEN in by_context.content
    assert by_content.secrets() == (TOKEN,)
    assert TOKEN not in repr(by_content)


def test_kubeconfig_errors_name_the_reference_never_the_content(tmp_path: Path) -> None:
    with pytest.raises(kubeconfig.KubeconfigError, match="environment variable K is not set"):
        kubeconfig.resolve(KubeconfigRef(env="K"), "c", {})
    with pytest.raises(kubeconfig.KubeconfigError, match="which does not exist"):
        kubeconfig.resolve(KubeconfigRef(file="/nope/config"), "c", {})
    with pytest.raises(kubeconfig.KubeconfigError) as exc:
        kubeconfig.resolve(KubeconfigRef(env="K", context="other"), "c", {"K": _kubeconfig()})
    assert "no context 'other'" in str(exc.value) and TOKEN not in str(exc.value)
    broken = "apiVersion: v1\nusers: [{name: x, user: {token: " + TOKEN + "}\n"  # YAML error quoting the token
    with pytest.raises(kubeconfig.KubeconfigError) as exc:
        kubeconfig.resolve(KubeconfigRef(env="K"), "c", {"K": broken})
    assert TOKEN not in str(exc.value)
    assert kubeconfig.redact(f"error: Unauthorized (token {TOKEN})", (TOKEN,)) == "error: Unauthorized (token [secret])"


# ------------------------------------------------------------------------------------------ stack files


def test_stack_files_are_written_verified_and_orphans_reported(tmp_path: Path) -> None:
    clusters = {"a": "fleet/clusters/a.yaml", "b": "fleet/clusters/b.yaml"}
    first = project.verify(tmp_path, clusters)
    assert sorted(f.code for f in first.findings.errors) == ["stacks.missing", "stacks.missing", "stacks.project"]
    assert project.sync(tmp_path, clusters) == ["Pulumi.yaml", "stacks/Pulumi.a.yaml", "stacks/Pulumi.b.yaml"]
    assert not project.verify(tmp_path, clusters).findings
    assert project.sync(tmp_path, clusters) == []
    # Pulumi adds its encryption salt when it creates a stack: kept, and still verified
    stack_a = tmp_path / "stacks" / "Pulumi.a.yaml"
    stack_a.write_text("encryptionsalt: v1:abc:def\n" + stack_a.read_text())
    assert not project.verify(tmp_path, clusters).findings
    # a cluster removed from the fleet: its stack file is reported, not deleted
    result = project.verify(tmp_path, {"a": clusters["a"]})
    assert result.orphans == ("b",) and [f.code for f in result.findings] == ["stacks.orphan"]
    assert result.findings.exit_code == 0
    # a credential in a stack file is an error and sync does not paper over it
    stack_a.write_text(
        stack_a.read_text().replace("config:\n", "config:\n  kubernetes:kubeconfig: /root/.kube/config\n")
    )
    bad = project.verify(tmp_path, clusters)
    assert [f.code for f in bad.findings.errors] == ["stacks.credential"]
    assert project.sync(tmp_path, clusters) == []
    # a stale stack file is rewritten, keeping Pulumi's own keys
    stack_a.write_text("encryptionsalt: v1:abc:def\nconfig:\n  vfleet:cluster: zzz\n")
    assert [f.code for f in project.verify(tmp_path, clusters).findings.errors] == ["stacks.stale"]
    assert project.sync(tmp_path, clusters) == ["stacks/Pulumi.a.yaml"]
    assert "encryptionsalt: v1:abc:def" in stack_a.read_text()
    assert not project.verify(tmp_path, clusters).findings


def test_the_repository_project_files_are_what_vfleet_writes() -> None:
    repo = Path(__file__).resolve().parents[2]
    from vfleet import compile as compiler

    compiled = compiler.compile_fleet(
        repo, env={**os.environ, "VFLEET_CHART_SCHEMAS": str(repo.parent / "shared" / "contracts")}
    )
    result = project.verify(repo, {n: i.doc.file for n, i in compiled.fleet.clusters.items()})
    assert not result.findings, [str(f.message) for f in result.findings]


def test_the_adapter_loads_the_sdk_modules_it_uses_before_any_thread_does() -> None:
    """pulumi_kubernetes's lazy submodules are not thread-safe to load; two stacks of a wave declare at once."""
    import subprocess
    import sys

    probe = ("import sys, vfleet.apply.adapter as a; print(sorted(n for n in a.EAGER_MODULES "
             "if type(sys.modules['pulumi_kubernetes.' + n]).__name__ != 'module'))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
