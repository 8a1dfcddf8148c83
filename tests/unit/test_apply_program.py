"""The stacks/ program under Pulumi's own mocks: what each cluster's stack registers, and that a policy
deny or a broken policy registers nothing. The monitor records every RegisterResource request as the
engine would receive it (type, name, inputs with their secret markers, provider, dependencies, protect,
aliases, import id)."""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pmocks

from vfleet import compile as compiler
from vfleet import desired
from vfleet.apply import adapter, aliases, prechecks, program
from vfleet.apply.adapter import ClusterSettings
from vfleet.core.findings import Finding, Findings, Location, Severity
from vfleet.desired import DesiredState
from vfleet.specs import KubeconfigRef
from vfleet.specs import kubeconfig as kubeconfigs

REPO = Path(__file__).resolve().parents[2]
SIG_KEY = "4dabf18193072939515e22adb298388d"  # Pulumi's wire encoding: {SIG_KEY: <kind>, "value": ...}
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # the kind of a secret value
TOKEN = "s3cr3t-token-for-tests"
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]  # as sent, secrets still wrapped
    provider: str
    dependencies: list[str]
    protect: bool
    aliases: list[Any]
    import_id: str
    urn: str
    timeouts: dict[str, str]  # the customTimeouts sent (create, update, delete), those set


class _Mocks(pmocks.Mocks):
    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pmocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class _Monitor(pmocks.MockMonitor):
    def __init__(self, m: pmocks.Mocks) -> None:
        super().__init__(m)
        self.registered: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        raw = json_format.MessageToDict(request.object)
        alias_specs = [json_format.MessageToDict(a) for a in request.aliases]
        self.registered.append(
            Registered(
                request.type,
                request.name,
                raw,
                request.provider,
                list(request.dependencies),
                request.protect,
                alias_specs,
                request.importId,
                response.urn,
                json_format.MessageToDict(request.customTimeouts),
            )
        )
        return response


def run_program(stack: str, body: Callable[[], Any]) -> _Monitor:
    """Run `body` as the program of `stack` under the mocks; the monitor holds what was registered."""
    monitor = _Monitor(_Mocks())
    pulumi.runtime.set_mocks(_Mocks(), project="vfleet", stack=stack, preview=False, monitor=monitor)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def go() -> Any:
        body()

    go()
    return monitor


@pytest.fixture(scope="module")
def compiled() -> compiler.Compiled:
    result = compiler.compile_fleet(REPO)
    assert result.ok, [str(f) for f in result.findings.errors]
    return result


def kube_env(tmp: Path, refs: dict[str, KubeconfigRef]) -> dict[str, str]:
    """Env that makes every cluster's kubeconfig reference resolve (env content, a file, a context)."""
    env: dict[str, str] = {"HOME": str(tmp)}
    contexts: list[str] = []
    for name, ref in refs.items():
        context = ref.context or name
        text = kubeconfig_text(context)
        if ref.env is not None:
            env[ref.env] = text
        elif ref.file is not None:
            path = Path(ref.file.replace("~", str(tmp), 1))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        else:
            contexts.append(context)
    if contexts:
        merged = tmp / "merged.kubeconfig"
        merged.write_text(kubeconfig_text(*contexts))
        env["KUBECONFIG"] = str(merged)
    return env


def kubeconfig_text(*contexts: str) -> str:
    ca = base64.b64encode(b"not-a-real-ca").decode()
    return str(yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": contexts[0],
            "clusters": [
                {"name": c, "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": ca}}
                for c in contexts
            ],
            "users": [{"name": c, "user": {"token": TOKEN}} for c in contexts],
            "contexts": [{"name": c, "context": {"cluster": c, "user": c}} for c in contexts],
        }
    ))


def prepared_for(compiled: compiler.Compiled, cluster: str, adopt: tuple[str, ...] = ()) -> program.Prepared:
    spec = compiled.fleet.clusters[cluster].manifest.spec
    return program.Prepared(
        compiled.desired[cluster], ClusterSettings(cluster, spec.rollout.awaitTenants, REPO), spec.kubeconfig, adopt
    )


def expected_type(resource: desired.Resource) -> str:
    if resource.kind == desired.HELM_RELEASE:
        return "kubernetes:helm.sh/v3:Release"
    group_version = resource.api_version if "/" in resource.api_version else f"core/{resource.api_version}"
    return f"kubernetes:{group_version}:{resource.kind}"


def plain(value: Any) -> Any:
    """Inputs as sent, with secret wrappers removed (for comparing values)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return plain(value["value"])
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


# ------------------------------------------------------------------------------------------------ tests

CLUSTERS = ("eu-central", "eu-dev", "us-east")


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_each_stack_registers_exactly_its_desired_resources(
    compiled: compiler.Compiled, cluster: str, tmp_path: Path
) -> None:
    refs = {name: item.manifest.spec.kubeconfig for name, item in compiled.fleet.clusters.items()}
    env = kube_env(tmp_path, refs)
    state = compiled.desired[cluster]
    assert state.resources, f"the example fleet puts tenants on {cluster}"
    monitor = run_program(cluster, lambda: program.declare(prepared_for(compiled, cluster), env))

    providers = [r for r in monitor.registered if r.type == adapter.PROVIDER_TYPE]
    assert len(providers) == 1 and providers[0].name == cluster
    provider = providers[0]
    provider_ref = f"{provider.urn}::{provider.name}-id"
    objects = [r for r in monitor.registered if r.type not in (adapter.PROVIDER_TYPE, STACK_TYPE)]
    # exactly the desired resources, each once: types and logical names (registration order is the
    # engine's business; the order that matters is expressed as dependencies, checked below)
    assert sorted((r.type, r.name) for r in objects) == sorted(
        (expected_type(d), adapter.logical_name(d.id)) for d in state.resources
    )
    by_name = {r.name: r for r in objects}
    urn_of = {d.id: by_name[adapter.logical_name(d.id)].urn for d in state.resources}
    spec = compiled.fleet.clusters[cluster].manifest.spec
    for want in state.resources:
        got = by_name[adapter.logical_name(want.id)]
        assert got.provider == provider_ref, got.name
        assert sorted(got.dependencies) == sorted(urn_of[d] for d in want.depends_on), got.name
        assert got.protect is want.protect, got.name
        assert got.import_id == ""  # nothing is adopted unless asked
        inputs = plain(got.inputs)
        if want.kind == desired.HELM_RELEASE:
            body = want.body["spec"]
            assert inputs["name"] == body["releaseName"] and inputs["namespace"] == body["namespace"]
            assert inputs["values"] == body["values"]
            assert inputs["skipAwait"] is (not spec.rollout.awaitTenants)
            if "path" in body:
                assert inputs["chart"] == str(REPO / body["path"])
            elif str(body["repository"]).startswith("oci://"):
                assert inputs["chart"] == f"{body['repository']}/{body['chart']}" and "repositoryOpts" not in inputs
                assert inputs["version"] == body["version"]
            else:
                assert inputs["chart"] == body["chart"] and inputs["repositoryOpts"] == {"repo": body["repository"]}
                assert inputs["version"] == body["version"]
        else:
            meta = dict(want.body["metadata"])
            meta["annotations"] = {**meta.get("annotations", {}), adapter.FIELD_MANAGER_ANNOTATION: "vfleet"}
            assert inputs["metadata"] == meta, got.name
            assert inputs["apiVersion"] == want.api_version and inputs["kind"] == want.kind
            for key in ("spec", "rules", "roleRef", "subjects"):
                assert inputs.get(key) == want.body.get(key), (got.name, key)


def test_the_provider_gets_the_kubeconfig_as_a_secret_and_server_side_apply(
    compiled: compiler.Compiled, tmp_path: Path
) -> None:
    refs = {name: item.manifest.spec.kubeconfig for name, item in compiled.fleet.clusters.items()}
    env = kube_env(tmp_path, refs)
    monitor = run_program("eu-central", lambda: program.declare(prepared_for(compiled, "eu-central"), env))
    provider = next(r for r in monitor.registered if r.type == adapter.PROVIDER_TYPE)
    assert is_secret(provider.inputs["kubeconfig"])
    assert TOKEN in plain(provider.inputs)["kubeconfig"]
    # nothing but the kubeconfig carries the credential
    for item in monitor.registered:
        rest = {k: v for k, v in item.inputs.items() if k != "kubeconfig"}
        assert TOKEN not in repr(rest)
    assert plain(provider.inputs)["enableServerSideApply"] == "true"
    assert plain(provider.inputs)["clusterIdentifier"] == "eu-central"


def test_protected_tenants_are_protected_and_others_are_not(compiled: compiler.Compiled, tmp_path: Path) -> None:
    protected = {k for k, t in compiled.fleet.tenants.items() if t.manifest.spec.protect}
    assert protected, "the example fleet has a protected tenant"
    refs = {name: item.manifest.spec.kubeconfig for name, item in compiled.fleet.clusters.items()}
    env = kube_env(tmp_path, refs)
    for cluster in CLUSTERS:
        state = compiled.desired[cluster]
        monitor = run_program(cluster, functools.partial(
            lambda c: program.declare(prepared_for(compiled, c), env), cluster))
        by_name = {r.name: r for r in monitor.registered}
        for res in state.resources:
            if res.tenant is not None:
                assert by_name[adapter.logical_name(res.id)].protect is (res.tenant in protected)


def test_quotas_are_awaited_longer_than_the_providers_minute(compiled: compiler.Compiled, tmp_path: Path) -> None:
    # kube-controller-manager may take over a minute to compute a new quota's status after an apiserver
    # restart (adapter._AWAIT_TIMEOUTS): the provider waits 5 minutes for quotas, its default for the rest.
    refs = {name: item.manifest.spec.kubeconfig for name, item in compiled.fleet.clusters.items()}
    env = kube_env(tmp_path, refs)
    monitor = run_program("eu-dev", lambda: program.declare(prepared_for(compiled, "eu-dev"), env))
    timeouts = {r.type: r.timeouts for r in monitor.registered if r.type.startswith("kubernetes:")}
    assert timeouts.pop("kubernetes:core/v1:ResourceQuota") == {"create": "5m", "update": "5m"}
    assert timeouts and all(t == {} for t in timeouts.values()), timeouts


def test_adopted_resources_are_imported_by_their_kubernetes_id(compiled: compiler.Compiled, tmp_path: Path) -> None:
    refs = {name: item.manifest.spec.kubeconfig for name, item in compiled.fleet.clusters.items()}
    env = kube_env(tmp_path, refs)
    state = compiled.desired["eu-dev"]
    namespace = next(r for r in state.resources if r.kind == "Namespace")
    release = next(r for r in state.resources if r.kind == desired.HELM_RELEASE)
    quota = next(r for r in state.resources if r.kind == "ResourceQuota")
    adopt = (namespace.id, release.id, quota.id)
    monitor = run_program("eu-dev", lambda: program.declare(prepared_for(compiled, "eu-dev", adopt), env))
    imports = {r.name: r.import_id for r in monitor.registered if r.import_id}
    assert imports == {
        adapter.logical_name(namespace.id): namespace.name,
        adapter.logical_name(release.id): f"{release.body['spec']['namespace']}/{release.body['spec']['releaseName']}",
        adapter.logical_name(quota.id): f"{quota.namespace}/{quota.name}",
    }


def test_a_rename_registers_an_alias_to_the_former_name(compiled: compiler.Compiled, tmp_path: Path) -> None:
    refs = {name: item.manifest.spec.kubeconfig for name, item in compiled.fleet.clusters.items()}
    env = kube_env(tmp_path, refs)
    rename = aliases.Rename(
        "0.2.0",
        "test: ids once had no apiVersion",
        lambda r: aliases.Former(f"{r.kind}/{r.namespace or ''}/{r.name}") if r.kind == "Namespace" else None,
    )
    prepared = prepared_for(compiled, "eu-dev")

    def body() -> None:
        resolved = kubeconfigs.resolve(prepared.kubeconfig, "eu-dev", env)
        adapter.declare(prepared.state, prepared.settings, resolved, renames=(rename,))

    monitor = run_program("eu-dev", body)
    namespaces = [r for r in monitor.registered if r.type == "kubernetes:core/v1:Namespace"]
    assert namespaces
    # pulumi_kubernetes adds its own type aliases (older apiVersions of a kind); ours rename.
    for ns in namespaces:
        renamed = [a["spec"]["name"] for a in ns.aliases if a.get("spec", {}).get("name")]
        assert renamed == [f"Namespace//{ns.name.rsplit('/', 1)[-1]}"]
    others = [
        r
        for r in monitor.registered
        if r.type not in ("kubernetes:core/v1:Namespace", adapter.PROVIDER_TYPE, STACK_TYPE)
    ]
    assert others and all(not a.get("spec", {}).get("name") for r in others for a in r.aliases)


def _deny(compiled_: compiler.Compiled) -> Findings:
    return Findings.of([Finding(Severity.DENY, "policy.quota", "quota too large", Location("fleet/x.yaml", 3))])


def _broken(compiled_: compiler.Compiled) -> Findings:
    return Findings.of([Finding(Severity.ERROR, "policy.compile", "rego parse error", Location("policies/x.rego"))])


def _unreachable(compiled_: compiler.Compiled) -> Findings:
    raise prechecks.Broken("OPA at http://127.0.0.1:1 cannot be reached", Findings.of([]))


@pytest.mark.parametrize(
    ("verdict", "error"), [(_deny, prechecks.Refused), (_broken, prechecks.Broken), (_unreachable, prechecks.Broken)]
)
def test_a_policy_deny_or_broken_policy_registers_nothing(
    verdict: Callable[[compiler.Compiled], Findings],
    error: type[Exception],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refs = {"eu-dev": KubeconfigRef(context="eu-dev-admin")}
    env = kube_env(tmp_path, refs) | {"VFLEET_STATE_DIR": str(tmp_path / "state")}

    def body() -> None:
        program.declare(program.prepare(REPO, "eu-dev", env=env, policy=verdict), env)

    with pytest.raises(error):
        run_program("eu-dev", body)
    # The program raised before declaring anything: not even the provider (the stack's root resource is
    # registered by the runtime before any program runs).
    monitor = pulumi.runtime.settings.get_monitor()
    assert isinstance(monitor, _Monitor)
    assert [r.type for r in monitor.registered if r.type != STACK_TYPE] == []


def test_the_bare_program_refuses_deleting_a_protected_tenant(compiled: compiler.Compiled, tmp_path: Path) -> None:
    """`pulumi up` without vfleet: the guard compares with what the stack last applied (the state dir)."""
    from vfleet.apply.records import Records

    protected = next(k for k, t in compiled.fleet.tenants.items() if t.manifest.spec.protect)
    cluster = compiled.placement.clusters[protected]
    head = compiled.desired[cluster]
    ghost = [
        replace(r, id=r.id.replace(r.name, r.name + "-gone"), name=r.name + "-gone", tenant="p/gone", protect=True)
        for r in head.resources
        if r.tenant == protected and r.kind == "Namespace"
    ]
    base = DesiredState(cluster, head.resources + tuple(ghost))
    state = tmp_path / "state"
    Records(state).save_applied(base)
    refs = {cluster: compiled.fleet.clusters[cluster].manifest.spec.kubeconfig}
    env = kube_env(tmp_path, refs) | {"VFLEET_STATE_DIR": str(state)}

    def body() -> None:
        program.declare(program.prepare(REPO, cluster, env=env, policy=lambda c: Findings.of([])), env)

    with pytest.raises(prechecks.Refused, match="protected"):
        run_program(cluster, body)


def registrations(monitor: _Monitor) -> list[tuple[Any, ...]]:
    """Everything the engine would be told, comparable across runs (URNs of dependencies as names)."""
    name_of = {r.urn: r.name for r in monitor.registered}
    return sorted(
        (
            r.type,
            r.name,
            repr(plain(r.inputs)),
            sorted(name_of.get(d, d) for d in r.dependencies),
            r.provider.split("::")[-2] if r.provider else "",
            r.protect,
            repr(r.aliases),
            r.import_id,
        )
        for r in monitor.registered
    )


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_pulumi_up_and_vfleet_apply_register_the_same_resources(
    compiled: compiler.Compiled, cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two entry points of one program: stacks/__main__.py as a person's `pulumi up -s <cluster>` runs
    it, and the inline program `vfleet apply` hands the engine (`runner.job_prepared` of the orchestration's
    own `job_for`). The policy gate is a pass here (its real tier is tests/policy)."""
    import runpy

    from vfleet.apply import orchestrate, runner
    from vfleet.apply.decide import Target

    refs = {name: item.manifest.spec.kubeconfig for name, item in compiled.fleet.clusters.items()}
    for key, value in (kube_env(tmp_path, refs) | {"VFLEET_STATE_DIR": str(tmp_path / "state")}).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(prechecks, "policy_gate", lambda compiled_: Findings.of([]))
    by_pulumi_up = run_program(cluster, lambda: runpy.run_path(str(REPO / "stacks" / "__main__.py")))
    pulumi.runtime.settings.reset_options()

    wave = compiled.fleet.clusters[cluster].manifest.spec.rollout.wave
    target = Target(cluster, wave, compiled.desired[cluster])
    job = orchestrate.job_for(compiled, target, orchestrate.Options(), None, 0)
    by_vfleet_apply = run_program(cluster, lambda: program.main(REPO, runner.job_prepared(job)))
    assert registrations(by_pulumi_up) == registrations(by_vfleet_apply)
    assert len(by_vfleet_apply.registered) == len(compiled.desired[cluster].resources) + 2  # + provider, stack


@pytest.fixture(autouse=True)
def _reset_mocks() -> Iterator[None]:
    yield
    pulumi.runtime.settings.reset_options()
