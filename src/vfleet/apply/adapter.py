"""The engine adapter: one cluster's DesiredState -> pulumi_kubernetes resources. Nothing is decided here.

Every choice about *what* to apply was made by the compiler (the desired state) and by the orchestration
(which stacks run, what to adopt); this module only spells it in Pulumi's terms:

- one explicit `kubernetes.Provider` per cluster (the stack's only provider; the stack config disables
  the default one), built from the resolved kubeconfig passed as a secret, server-side apply on,
  `clusterIdentifier` = the cluster name;
- a typed class per core kind, `helm.v3.Release` for the HelmRelease pseudo-kind, the NodeClaim CRD and
  its objects through `apiextensions`;
- logical name = the stable resource id without its cluster prefix (the stack is the cluster);
  `depends_on` = the desired order; `protect` = the tenant's; aliases from `aliases.RENAMES`;
  `import_` for the ids the orchestration decided to adopt;
- field manager `vfleet` on every server-side-applied object (pulumi-kubernetes reads it from the
  `pulumi.com/patchFieldManager` annotation).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from vfleet import desired
from vfleet.apply import adopt as adopt_marks
from vfleet.apply import aliases
from vfleet.apply import argocd as argocd_apply
from vfleet.apply.project import PROJECT_NAME
from vfleet.core.errors import VfleetError
from vfleet.desired import DesiredState, Resource, argocd
from vfleet.specs.kubeconfig import Kubeconfig

# pulumi_kubernetes loads its submodules lazily (importlib.util.LazyLoader), which is not thread-safe: two
# stacks of one wave declaring at once saw "module 'pulumi_kubernetes.helm' has no attribute 'v3'". So
# every submodule the adapter (and the SDK's own typed args) uses is loaded here, once, at import.
EAGER_MODULES = ("core.v1", "networking.v1", "rbac.v1", "apiextensions", "apiextensions.v1", "helm", "helm.v3",
                 "meta", "meta.v1")
for _name in EAGER_MODULES:
    # An attribute lookup (not __dict__ or __file__, which the lazy module answers itself) runs the module.
    getattr(importlib.import_module(f"pulumi_kubernetes.{_name}"), "_loaded_by_vfleet", None)

FIELD_MANAGER = adopt_marks.FIELD_MANAGER
FIELD_MANAGER_ANNOTATION = "pulumi.com/patchFieldManager"
PROVIDER_TYPE = "pulumi:providers:kubernetes"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"

_TYPED: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ResourceQuota"): k8s.core.v1.ResourceQuota,
    ("v1", "LimitRange"): k8s.core.v1.LimitRange,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.rbac.v1.ClusterRoleBinding,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): k8s.apiextensions.v1.CustomResourceDefinition,
}
# How long the provider waits for an object to be ready, where its default is too short. A ResourceQuota
# is ready once kube-controller-manager has computed its status.hard (the provider waits 1 min by
# default). That controller pauses its workers whenever discovery changes until its informers have
# resynced, up to its 30 s discovery period each time (pkg/controller/resourcequota, Sync): after a
# kube-apiserver restart, with CRDs installed, the engine tier saw new quotas wait longer than a minute
# and a converging apply fail on them. A longer wait costs nothing when the controller is quick.
_AWAIT_TIMEOUTS: dict[tuple[str, str], pulumi.CustomTimeouts] = {
    ("v1", "ResourceQuota"): pulumi.CustomTimeouts(create="5m", update="5m"),
}
# Top-level fields of a Kubernetes body and the keyword the typed classes take them as.
_FIELDS = {
    "metadata": "metadata",
    "spec": "spec",
    "rules": "rules",
    "roleRef": "role_ref",
    "subjects": "subjects",
    "aggregationRule": "aggregation_rule",
}


class AdapterError(VfleetError):
    """A desired resource this adapter cannot express (a kind it does not know)."""


@dataclass(frozen=True)
class ClusterSettings:
    """What the adapter needs of a Cluster spec besides its kubeconfig."""

    name: str
    await_tenants: bool  # wait for each release to become ready (off where nothing ever does)
    root: Path  # the repository: relative local chart paths are relative to it


@dataclass(frozen=True)
class Declared:
    provider: k8s.Provider
    resources: dict[str, pulumi.CustomResource]  # by resource id
    adopted: tuple[str, ...]  # ids registered with `import_`


def logical_name(resource_id: str) -> str:
    """The Pulumi logical name of a resource: its id without the leading `<cluster>/`."""
    return resource_id.split("/", 1)[1]


def pulumi_type(resource: Resource) -> str:
    """The Pulumi type token `_register` gives `resource` (what its URN is made of)."""
    if resource.kind == desired.HELM_RELEASE:
        return RELEASE_TYPE
    group_version = resource.api_version if "/" in resource.api_version else f"core/{resource.api_version}"
    return f"kubernetes:{group_version}:{resource.kind}"


def urn(stack: str, type_: str, name: str) -> str:
    """The URN of a resource registered at the top of stack `stack` (the program has no components)."""
    return f"urn:pulumi:{stack}::{PROJECT_NAME}::{type_}::{name}"


def resource_urn(stack: str, resource: Resource) -> str:
    return urn(stack, pulumi_type(resource), logical_name(resource.id))


def urns_of(stack: str, resource: Resource) -> tuple[str, ...]:
    """Its URN and every URN it had under an earlier derivation (its aliases): any of them in the state
    means the stack already holds the object."""
    former = aliases.former_names(resource, aliases.RENAMES)
    return (resource_urn(stack, resource), *(urn(stack, f.type_ or pulumi_type(resource), f.name) for f in former))


def provider_urn(stack: str) -> str:
    return urn(stack, PROVIDER_TYPE, stack)  # the provider is named after the cluster = the stack


def stack_urn(stack: str) -> str:
    """The stack's root resource, which holds its outputs (`vfleetDesiredHash`)."""
    return urn(stack, "pulumi:pulumi:Stack", f"{PROJECT_NAME}-{stack}")


def import_id(resource: Resource) -> str:
    """The id pulumi-kubernetes imports an existing object (or Helm release) under."""
    if resource.kind == desired.HELM_RELEASE:
        spec = resource.body["spec"]
        return f"{spec['namespace']}/{spec['releaseName']}"
    return f"{resource.namespace}/{resource.name}" if resource.namespace else resource.name


def declare(
    state: DesiredState,
    cluster: ClusterSettings,
    kubeconfig: Kubeconfig,
    *,
    adopt: Collection[str] = (),
    renames: Sequence[aliases.Rename] | None = None,
    credentials: argocd_apply.Resolver | None = None,
) -> Declared:
    """Register the provider and every resource of `state`, in its order. `credentials` resolves the
    kubeconfig of the cluster an Argo CD registration reads its tenant's credentials from (vfleet.desired.argocd)."""
    provider = k8s.Provider(
        cluster.name,
        kubeconfig=pulumi.Output.secret(kubeconfig.content),
        context=kubeconfig.context,
        cluster_identifier=cluster.name,
        enable_server_side_apply=True,
        # This provider (4.25) creates with a server-side apply patch, so it would take over an object that
        # already exists without a word. vfleet never lets it: before an engine run, the objects the stack
        # is about to create are looked up on the cluster (`adopt.probe_cluster`), and any that exist are
        # refused, or imported when `--adopt` says so.
    )
    declared: dict[str, pulumi.CustomResource] = {}
    adopted: list[str] = []
    for resource in state.resources:
        try:
            depends = [declared[d] for d in resource.depends_on]
        except KeyError as missing:
            raise AdapterError(f"{resource.id} depends on {missing}, which is not declared before it") from None
        imported = resource.id in adopt
        opts = pulumi.ResourceOptions(
            provider=provider,
            depends_on=depends,
            protect=resource.protect,
            aliases=[_alias(f) for f in aliases.former_names(resource, aliases.RENAMES if renames is None else renames)]
            or None,
            import_=import_id(resource) if imported else None,
            custom_timeouts=_AWAIT_TIMEOUTS.get((resource.api_version, resource.kind)),
        )
        source = argocd.credentials_from(resource.body)
        if source is not None:  # an Argo CD registration: credentials read at apply time, a Pulumi secret
            resolve = credentials or _no_credentials
            body = with_field_manager(resource.body)
            declared[resource.id] = argocd_apply.register(logical_name(resource.id), body, source, resolve,
                                                          depends, opts)
        else:
            declared[resource.id] = _register(resource, opts, cluster)
        if imported:
            adopted.append(resource.id)
    return Declared(provider, declared, tuple(adopted))


def _no_credentials(cluster: str) -> Kubeconfig:
    raise AdapterError(f"an Argo CD registration reads credentials from cluster {cluster}, whose kubeconfig the "
                       f"program was not given")


def _alias(former: aliases.Former) -> pulumi.Alias:
    if former.type_ is None:
        return pulumi.Alias(name=former.name)
    return pulumi.Alias(name=former.name, type_=former.type_)


def _register(resource: Resource, opts: pulumi.ResourceOptions, cluster: ClusterSettings) -> pulumi.CustomResource:
    name = logical_name(resource.id)
    if resource.kind == desired.HELM_RELEASE:
        return k8s.helm.v3.Release(name, opts=opts, **release_args(resource.body["spec"], cluster))
    body = with_field_manager(resource.body)
    typed = _TYPED.get((resource.api_version, resource.kind))
    if typed is not None:
        return typed(name, opts=opts, **_typed_args(resource, body))
    if set(body) - {"apiVersion", "kind", "metadata", "spec"}:
        raise AdapterError(
            f"{resource.id}: no typed class for {resource.kind}, and a custom resource takes only metadata and spec"
        )
    return k8s.apiextensions.CustomResource(
        name,
        api_version=resource.api_version,
        kind=resource.kind,
        metadata=body["metadata"],
        spec=body.get("spec"),
        opts=opts,
    )


def _typed_args(resource: Resource, body: Mapping[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("apiVersion", "kind"):
            continue
        if key not in _FIELDS:
            raise AdapterError(f"{resource.id}: field {key!r} of {resource.kind} is not supported by the adapter")
        args[_FIELDS[key]] = value
    return args


def with_field_manager(body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` with the annotation that makes pulumi-kubernetes apply it as field manager `vfleet`.

    Copies: desired bodies are shared with the render stage and must stay untouched.
    """
    metadata = dict(body["metadata"])
    metadata["annotations"] = {**metadata.get("annotations", {}), FIELD_MANAGER_ANNOTATION: FIELD_MANAGER}
    return {**body, "metadata": metadata}


def release_args(spec: Mapping[str, Any], cluster: ClusterSettings) -> dict[str, Any]:
    """The helm.v3.Release inputs of a HelmRelease body: chart source, version, namespace, name, values."""
    args: dict[str, Any] = {
        "name": spec["releaseName"],
        "namespace": spec["namespace"],
        "values": spec["values"],
        "skip_await": not cluster.await_tenants,
    }
    if "path" in spec:
        # A local chart directory: Helm ignores --version for it, so none is passed.
        path = Path(spec["path"])
        args["chart"] = str(path if path.is_absolute() else (cluster.root / path))
    else:
        repository = str(spec["repository"])
        args["version"] = spec["version"]
        if repository.startswith("oci://"):
            args["chart"] = f"{repository.rstrip('/')}/{spec['chart']}"
        else:
            args["chart"] = spec["chart"]
            args["repository_opts"] = {"repo": repository}
    if _has_null(spec["values"]):
        args["allow_null_values"] = True  # a null in values.yaml means "unset the chart default"; keep it
    return args


def _has_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return False
