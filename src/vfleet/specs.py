"""The user-facing specs: Kubernetes-style documents of `apiVersion: vfleet.dev/v1alpha1`.

pydantic v2 models with unknown fields rejected everywhere, so a typo is an error with a file:line,
never a silently ignored setting. Values users write as strings (quantities, durations, cron, time
zones) are parsed here. Cross-references between documents are checked later, in `model`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from vfleet.units import CronField, DurationField, QuantityField, TimezoneField

API_VERSION = "vfleet.dev/v1alpha1"

# RFC 1123 label: what Kubernetes requires of namespace, release and most object names.
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Label keys/values as Kubernetes accepts them (prefix/name, 63-character name, value may be empty).
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$")
# A tenant pins a template version exactly ("1.2.0") or by major ("1.x") or major.minor ("1.2.x").
_VERSION_REF = re.compile(r"^(0|[1-9]\d*)\.(x|(0|[1-9]\d*)\.x)$")


class Strict(BaseModel):
    """Base of every spec model: unknown fields are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _dns_label(value: str, what: str = "name", max_len: int = 63) -> str:
    if len(value) > max_len or not DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid {what}: lower-case letters, digits and '-', starting and ending "
            f"with a letter or digit, at most {max_len} characters"
        )
    return value


Name = Annotated[str, Field(min_length=1, max_length=63)]


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        name = key.rsplit("/", 1)[-1]
        if len(name) > 63 or not _LABEL_KEY.match(key):
            raise ValueError(f"label key {key!r} is not a valid Kubernetes label key")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            raise ValueError(f"label {key}={value!r}: value is not a valid Kubernetes label value")
    return labels


class Metadata(Strict):
    name: Name
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_labels(value)


class LabelSelectorRequirement(Strict):
    """One `matchExpressions` entry, with Kubernetes' semantics (NotIn also matches an absent key)."""

    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs a non-empty 'values' list")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no 'values'")
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values
        return (self.key in labels) == (self.operator == "Exists")

    def __str__(self) -> str:
        if self.operator in ("In", "NotIn"):
            return f"{self.key} {self.operator.lower()} ({', '.join(self.values)})"
        return self.key if self.operator == "Exists" else f"!{self.key}"


class LabelSelector(Strict):
    """A Kubernetes label selector: every matchLabels entry and every matchExpressions requirement holds."""

    matchLabels: dict[str, str] = Field(default_factory=dict)
    matchExpressions: list[LabelSelectorRequirement] = Field(default_factory=list)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return not self.unmet(labels)

    def unmet(self, labels: Mapping[str, str]) -> list[str]:
        """The requirements `labels` do not meet, written as kubectl writes selectors (for messages)."""
        unmet = [f"{k}={v}" for k, v in self.matchLabels.items() if labels.get(k) != v]
        return unmet + [str(e) for e in self.matchExpressions if not e.matches(labels)]

    def __hash__(self) -> int:  # frozen, but its dict and list fields are not hashable themselves
        return hash((tuple(sorted(self.matchLabels.items())),
                     tuple((e.key, e.operator, tuple(e.values)) for e in self.matchExpressions)))


# ---------------------------------------------------------------------------------------------- Cluster


class KubeconfigRef(Strict):
    """How to reach a cluster at run time. Never the credentials themselves: those stay out of Git."""

    env: str | None = Field(None, description="env var holding a kubeconfig (content) or a path to one")
    file: str | None = Field(None, description="path to a kubeconfig outside the repository (~ allowed)")
    context: str | None = Field(None, description="context name; alone, a context of the default kubeconfig")

    @model_validator(mode="after")
    def _one_source(self) -> KubeconfigRef:
        if self.env is not None and self.file is not None:
            raise ValueError("give either 'env' or 'file', not both")
        if self.env is None and self.file is None and self.context is None:
            raise ValueError("give one of 'env', 'file' or 'context'")
        if self.env is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", self.env):
            raise ValueError(f"{self.env!r} is not an environment variable name")
        if self.file is not None and not (self.file.startswith("/") or self.file.startswith("~")):
            raise ValueError(
                "'file' must be an absolute path or start with '~': kubeconfigs live outside the repository"
            )
        return self


class ClusterCapacity(Strict):
    cpu: QuantityField | None = None
    memory: QuantityField | None = None
    storage: QuantityField | None = None
    gpus: int | None = Field(None, ge=0)
    maxTenants: int | None = Field(None, ge=0)


class Rollout(Strict):
    wave: int = Field(0, ge=0, le=100, description="clusters of wave k are applied after every cluster of wave k-1")
    awaitTenants: bool = Field(True, description="wait for each tenant's release to become ready on apply")


class ChartSource(Strict):
    """Where this cluster's vcluster chart comes from, overriding https://charts.loft.sh."""

    repository: str | None = Field(None, description="an HTTP(S) chart repository or an oci:// registry")
    path: str | None = Field(None, description="a local chart directory (air-gapped fleets, tests)")

    @model_validator(mode="after")
    def _one(self) -> ChartSource:
        if (self.repository is None) == (self.path is None):
            raise ValueError("give exactly one of 'repository' or 'path'")
        if self.repository is not None and not re.match(r"^(https?|oci)://", self.repository):
            raise ValueError(f"{self.repository!r}: a chart repository is an https://, http:// or oci:// URL")
        return self


class ClusterSpec(Strict):
    kubeconfig: KubeconfigRef
    capacity: ClusterCapacity = Field(default_factory=ClusterCapacity)
    nodeProviders: list[Name] = Field(default_factory=list)
    rollout: Rollout = Field(default_factory=Rollout)
    chart: ChartSource | None = None
    apiServer: str | None = Field(
        None, description="the https:// URL people reach this cluster's API server at (serviceProxy exposure)"
    )

    @field_validator("apiServer")
    @classmethod
    def _api_server(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https://[^/\s]+(/[^\s]*)?$", value):
            raise ValueError(f"{value!r}: apiServer is an https:// URL (https://api.eu-1.example.com:6443)")
        return value.rstrip("/") if value is not None else None


# ---------------------------------------------------------------------------------------- access / teams


ProjectRole = Literal["admin", "user", "viewer"]


class Member(Strict):
    """One subject with a role: exactly one of a user, a team, or an OIDC group."""

    user: str | None = None
    team: Name | None = None
    group: str | None = None
    role: ProjectRole

    @model_validator(mode="after")
    def _one_subject(self) -> Member:
        if sum(x is not None for x in (self.user, self.team, self.group)) != 1:
            raise ValueError("a member names exactly one of 'user', 'team' or 'group'")
        return self


# A forge's name for a team or a user, as CODEOWNERS writes it: @org/team (GitHub), @group/subgroup (GitLab).
_FORGE_HANDLE = re.compile(r"^@[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")


class TeamSpec(Strict):
    displayName: str | None = None
    members: list[str] = Field(default_factory=list, description="user names")
    groups: list[str] = Field(default_factory=list, description="OIDC groups whose members belong to the team")
    codeowners: str | None = Field(
        None, description="the team's handle on the forge (@org/team): how CODEOWNERS names it as a reviewer"
    )

    @field_validator("codeowners")
    @classmethod
    def _handle(cls, value: str | None) -> str | None:
        if value is not None and not _FORGE_HANDLE.match(value):
            raise ValueError(f"{value!r} is not a forge handle such as '@example-org/payments'")
        return value


PlatformRole = Literal["admin", "operator", "viewer"]


class PlatformMember(Strict):
    """One subject with a platform role on the connected clusters: all of them, or those `clusters` selects."""

    user: str | None = None
    team: Name | None = None
    group: str | None = None
    role: PlatformRole
    clusters: LabelSelector | None = Field(None, description="only connected clusters with these labels")

    @model_validator(mode="after")
    def _one_subject(self) -> PlatformMember:
        if sum(x is not None for x in (self.user, self.team, self.group)) != 1:
            raise ValueError("a platform member names exactly one of 'user', 'team' or 'group'")
        return self


class PlatformSpec(Strict):
    """Access for the people who run the fleet, declared once: the only access to connected clusters."""

    members: list[PlatformMember] = Field(default_factory=list)


class HostAccess(Strict):
    """What project members may see of their tenants' host namespaces: nothing, or a read-only view.

    There is deliberately no way to ask for more: the host namespace holds the tenant's control plane
    and the Secret with its admin kubeconfig, so any write, exec or Secret read there is cluster-admin
    of the tenant, whatever its access rules say.
    """

    view: list[ProjectRole] = Field(
        default_factory=list, description="project roles whose members get the read-only host view"
    )


class AccessRule(Strict):
    """Access inside a tenant cluster: users / teams / OIDC groups bound to a cluster role there."""

    users: list[str] = Field(default_factory=list)
    teams: list[Name] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    clusterRole: Literal["cluster-admin", "admin", "edit", "view"]

    @model_validator(mode="after")
    def _someone(self) -> AccessRule:
        if not (self.users or self.teams or self.groups):
            raise ValueError("an access rule needs at least one of 'users', 'teams' or 'groups'")
        return self


# ----------------------------------------------------------------------------------- sleep / auto-delete


class Sleep(Strict):
    """When a tenant sleeps: manually, after inactivity, and/or on a schedule with a wake-up."""

    sleeping: bool = Field(False, description="manual sleep: scaled down until set back to false")
    afterInactivity: DurationField | None = None
    schedule: CronField | None = None
    wakeup: CronField | None = None
    timezone: TimezoneField | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Sleep:
        if self.wakeup is not None and self.schedule is None:
            raise ValueError("'wakeup' needs a sleep 'schedule'")
        if self.timezone is not None and self.schedule is None:
            raise ValueError("'timezone' applies to 'schedule'/'wakeup'; set a schedule or drop it")
        return self


class AutoDelete(Strict):
    """When a tenant is deleted automatically. A tenant's block replaces the project default as a whole;
    `never: true` opts a tenant out of an inherited default (a production tenant, say)."""

    afterInactivity: DurationField | None = None
    expiry: str | None = Field(None, description="RFC 3339 date (2026-12-31) or time with offset")
    never: bool = False

    @field_validator("expiry")
    @classmethod
    def _expiry(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from datetime import date, datetime

        try:
            if "T" in value or " " in value:
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None:
                    raise ValueError("no offset")
            else:
                date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not an RFC 3339 date (2026-12-31) or time with an offset (2026-12-31T18:00:00Z)"
            ) from exc
        return value

    @model_validator(mode="after")
    def _something(self) -> AutoDelete:
        if self.never and (self.afterInactivity is not None or self.expiry is not None):
            raise ValueError("'never: true' cannot be combined with 'afterInactivity' or 'expiry'")
        if not self.never and self.afterInactivity is None and self.expiry is None:
            raise ValueError("give 'afterInactivity' and/or 'expiry', or 'never: true'")
        return self


class ArgoCDRegistration(Strict):
    """Register the tenant cluster in an Argo CD instance (declared in vfleet.yaml `argocd.instances`).
    A tenant's block replaces the project default as a whole; `never: true` opts a tenant out."""

    instance: Name | None = Field(None, description="the Argo CD instance, by its name in vfleet.yaml")
    project: str = Field("default", min_length=1, description="the Argo CD project the cluster belongs to")
    labels: dict[str, str] = Field(default_factory=dict, description="labels of the cluster Secret (for "
                                   "ApplicationSet cluster generators)")
    never: bool = False

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_labels(value)

    @model_validator(mode="after")
    def _coherent(self) -> ArgoCDRegistration:
        if self.never and (self.instance is not None or self.labels):
            raise ValueError("'never: true' cannot be combined with 'instance' or 'labels'")
        if not self.never and self.instance is None:
            raise ValueError("give the Argo CD 'instance' to register in, or 'never: true'")
        return self


# ---------------------------------------------------------------------------------------------- Project


class ProjectQuotas(Strict):
    tenants: int | None = Field(None, ge=0)
    awakeTenants: int | None = Field(None, ge=0)
    templates: dict[Name, int] = Field(default_factory=dict, description="max tenants per template")
    cpu: QuantityField | None = Field(None, description="sum of tenants' requests.cpu")
    memory: QuantityField | None = Field(None, description="sum of tenants' requests.memory")
    storage: QuantityField | None = Field(None, description="sum of tenants' requests.storage")
    gpus: int | None = Field(None, ge=0)
    nodeClaims: dict[Name, int] = Field(default_factory=dict, description="max node claims per provider")


class AllowedTemplate(Strict):
    name: Name
    versions: list[str] = Field(default_factory=lambda: ["*"], description="exact versions, '1.x' or '*'")

    @field_validator("versions")
    @classmethod
    def _versions(cls, value: list[str]) -> list[str]:
        for v in value:
            if v != "*" and not _VERSION_REF.match(v) and not _SEMVER.match(v):
                raise ValueError(f"{v!r} is not a version, a '1.x'-style range or '*'")
        return value


class TemplateRef(Strict):
    name: Name
    version: str

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _SEMVER.match(value) and not _VERSION_REF.match(value):
            raise ValueError(f"{value!r} is not a template version ('1.2.0') or range ('1.x', '1.2.x')")
        return value


class AllowedClusters(Strict):
    names: list[Name] = Field(default_factory=list)
    selector: LabelSelector | None = None


class ProjectDefaults(Strict):
    sleep: Sleep | None = None
    autoDelete: AutoDelete | None = None
    podSecurity: Literal["privileged", "baseline", "restricted"] | None = None
    argocd: ArgoCDRegistration | None = None


class ProjectSpec(Strict):
    displayName: str | None = None
    description: str | None = None
    members: list[Member] = Field(default_factory=list)
    quotas: ProjectQuotas = Field(default_factory=ProjectQuotas)
    templates: list[AllowedTemplate] = Field(min_length=1)
    defaultTemplate: TemplateRef | None = None
    clusters: AllowedClusters = Field(default_factory=AllowedClusters)
    defaults: ProjectDefaults = Field(default_factory=ProjectDefaults)
    hostAccess: HostAccess = Field(default_factory=HostAccess)


# ----------------------------------------------------------------------- reaching a tenant cluster

# What an endpoint host may name, filled in per tenant: `{tenant}.{project}.vc.example.com`.
ENDPOINT_PLACEHOLDERS = ("cluster", "namespace", "project", "release", "tenant")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_HOST = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def _host_pattern(value: str) -> str:
    for name in _PLACEHOLDER.findall(value):
        if name not in ENDPOINT_PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in ENDPOINT_PLACEHOLDERS)
            raise ValueError(f"{value!r}: unknown placeholder {{{name}}}; use {known}")
    if not _HOST.match(_PLACEHOLDER.sub("x", value)):
        raise ValueError(f"{value!r} is not a host name (no scheme, port or path; placeholders such as "
                         f"{{tenant}} allowed)")
    return value


HostPattern = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_host_pattern)]


class HostExpose(Strict):
    """The tenant's API server behind a DNS name: an ingress host, or a load balancer's name."""

    host: HostPattern
    port: int = Field(443, ge=1, le=65535)


class NodePortExpose(Strict):
    """The tenant's API server on a node port of the connected cluster: a node address and the port."""

    host: HostPattern = Field(description="a node's address (pattern, e.g. nodes.{cluster}.example.com)")
    port: int | str = Field(description="the node port, or the name of an 'int' parameter holding it")

    @field_validator("port")
    @classmethod
    def _port(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 30000 <= value <= 32767:
            raise ValueError(f"{value} is not in the node port range 30000-32767")
        return value


class ServiceProxyExpose(Strict):
    """Through the connected cluster's API server service proxy (its URL: the Cluster's `apiServer`)."""

    port: int = Field(443, ge=1, le=65535, description="the port of the tenant's Service")


class Expose(Strict):
    """How a template version exposes its tenants' API servers: exactly one way."""

    ingress: HostExpose | None = None
    loadBalancer: HostExpose | None = None
    nodePort: NodePortExpose | None = None
    serviceProxy: ServiceProxyExpose | None = None
    caFile: str | None = Field(None, description="PEM of the CA that signs the endpoint's certificate "
                               "(a file in the template's folder; a CA certificate is public)")

    @model_validator(mode="after")
    def _one(self) -> Expose:
        given = [k for k in ("ingress", "loadBalancer", "nodePort", "serviceProxy") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'ingress', 'loadBalancer', 'nodePort' or 'serviceProxy'"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("ingress", "loadBalancer", "nodePort", "serviceProxy") if getattr(self, k))


# --------------------------------------------------------------------------------------------- Template

ParameterType = Literal["string", "int", "number", "bool", "enum", "quantity", "duration"]
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names the renderer provides to every template; a parameter may not shadow them.
BUILTIN_NAMES = frozenset({"project", "tenant", "cluster", "namespace", "owner", "params", "labels"})


class Parameter(Strict):
    name: str
    type: ParameterType
    description: str | None = None
    default: Any = None
    required: bool = False
    min: float | str | None = Field(None, description="number, or quantity/duration text for those types")
    max: float | str | None = None
    regex: str | None = None
    options: list[str | int | float | bool] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _IDENT.match(value) or value in BUILTIN_NAMES:
            raise ValueError(
                f"{value!r} is not a parameter name: letters, digits and '_', not starting with a digit, "
                f"and not one of {sorted(BUILTIN_NAMES)}"
            )
        return value

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Parameter:
        if self.type == "enum" and not self.options:
            raise ValueError("an 'enum' parameter needs 'options'")
        if self.options is not None and self.type != "enum":  # never checked there: refused, not ignored
            raise ValueError(f"'options' apply to 'enum' parameters only; make {self.name!r} an 'enum'")
        if self.regex is not None and self.type != "string":
            raise ValueError("'regex' applies to 'string' parameters only")
        if (self.min is not None or self.max is not None) and self.type in {"string", "bool", "enum"}:
            raise ValueError(f"'min'/'max' do not apply to '{self.type}' parameters")
        if self.required and self.default is not None:
            raise ValueError("a 'required' parameter cannot have a 'default'")
        return self


class TemplateResources(Strict):
    """The tenant's size: each a literal quantity or the name of a parameter that holds it."""

    cpu: str | None = None
    memory: str | None = None
    storage: str | None = None
    gpus: int | str | None = None


class TemplateVersion(Strict):
    version: str
    chartVersion: str
    values: str = Field(description="the Jinja2 vcluster.yaml template, a file in the template's folder")
    parameters: list[Parameter] = Field(default_factory=list)
    resources: TemplateResources = Field(default_factory=TemplateResources)
    schema_: str | None = Field(
        None,
        alias="schema",
        description="path of the chart's values.schema.json; default: the one registered for chartVersion",
    )
    deprecated: bool = False
    expose: Expose | None = Field(None, description="how the tenant's API server is reached (docs/access.md)")

    @field_validator("version", "chartVersion")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not _SEMVER.match(value):
            raise ValueError(f"{value!r} is not a semantic version (e.g. '1.2.0')")
        return value

    @model_validator(mode="after")
    def _unique_parameters(self) -> TemplateVersion:
        seen: set[str] = set()
        for p in self.parameters:
            if p.name in seen:
                raise ValueError(f"parameter {p.name!r} is declared twice")
            seen.add(p.name)
        port = self.expose.nodePort.port if self.expose and self.expose.nodePort else None
        if isinstance(port, str):
            param = next((p for p in self.parameters if p.name == port), None)
            if param is None or param.type != "int":
                raise ValueError(f"expose.nodePort.port {port!r} names no 'int' parameter of this version; "
                                 f"declare one or give the port number")
        return self


class TemplateSpec(Strict):
    displayName: str | None = None
    description: str | None = None
    versions: list[TemplateVersion] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_versions(self) -> TemplateSpec:
        seen: set[str] = set()
        for v in self.versions:
            if v.version in seen:
                raise ValueError(f"version {v.version!r} is declared twice")
            seen.add(v.version)
        return self


# ---------------------------------------------------------------------------------------------- Nodes


class NodeType(Strict):
    name: Name
    resources: dict[str, QuantityField] = Field(description="e.g. cpu: '16', memory: 64Gi, nvidia.com/gpu: '1'")
    properties: dict[str, str] = Field(default_factory=dict)
    maxCapacity: int | None = Field(None, ge=0, description="how many of this type exist across the fleet")


class NodeProviderSpec(Strict):
    displayName: str | None = None
    type: str = Field("generic", description="kind of provider, e.g. terraform, kubevirt, metal3, nvidia-bcm")
    nodeTypes: list[NodeType] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> NodeProviderSpec:
        names = [t.name for t in self.nodeTypes]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"node type(s) declared twice: {sorted(dup)}")
        return self


class Taint(Strict):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class PrivateNodePool(Strict):
    name: Name
    provider: Name
    nodeType: Name
    quantity: int = Field(ge=1, le=1000)
    taints: list[Taint] = Field(default_factory=list)


# ----------------------------------------------------------------------------------------------- Tenant


class TenantSpec(Strict):
    project: Name | None = Field(None, description="implied by the folder; if given, must match it")
    template: TemplateRef | None = Field(None, description="default: the project's defaultTemplate")
    parameters: dict[str, Any] = Field(default_factory=dict)
    cluster: Name | None = Field(None, description="explicit placement")
    placement: LabelSelector | None = Field(None, description="or: any allowed cluster matching these labels")
    owner: str
    description: str | None = None
    sleep: Sleep | None = None
    autoDelete: AutoDelete | None = None
    protect: bool = False
    podSecurity: Literal["privileged", "baseline", "restricted"] | None = None
    privateNodes: list[PrivateNodePool] = Field(default_factory=list)
    access: list[AccessRule] = Field(default_factory=list)
    argocd: ArgoCDRegistration | None = Field(None, description="register in Argo CD; default: the project's")

    @model_validator(mode="after")
    def _placement(self) -> TenantSpec:
        if self.cluster is not None and self.placement is not None:
            raise ValueError("give either 'cluster' or 'placement', not both")
        names = [p.name for p in self.privateNodes]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"private node pool name(s) used twice: {sorted(dup)}")
        return self


# ------------------------------------------------------------------------- vfleet.yaml: identity


class OidcIdentity(Strict):
    """The fleet's OIDC provider, as kubeconfigs name it. No client secret: kubeconfigs hold no secret."""

    issuer: str = Field(description="the issuer URL tenant API servers trust")
    clientID: str = Field(min_length=1)
    extraScopes: list[str] = Field(default_factory=lambda: ["groups"])
    command: str = Field("kubectl", description="the exec credential plugin's command (kubelogin: kubectl "
                         "oidc-login, or kubelogin itself)")
    args: list[str] = Field(default_factory=lambda: ["oidc-login", "get-token"],
                            description="its first arguments; issuer, client and scopes are appended")

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        if not re.match(r"^https://[^/\s]+(/[^\s]*)?$", value):
            raise ValueError(f"{value!r}: an OIDC issuer is an https:// URL")
        return value


class ArgoCDInstance(Strict):
    """One Argo CD the fleet registers tenant clusters in: which connected cluster and namespace run it."""

    cluster: Name
    namespace: Name = "argocd"

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return _dns_label(value, "namespace")


class ArgoCDSettings(Strict):
    """`argocd:` in vfleet.yaml: the fleet's Argo CD instances, by name."""

    instances: dict[Name, ArgoCDInstance] = Field(default_factory=dict)


class Identity(Strict):
    """How people authenticate to tenant clusters (`identity:` in vfleet.yaml)."""

    oidc: OidcIdentity


# ------------------------------------------------------------------------------------------- documents


class _Doc(Strict):
    apiVersion: Literal["vfleet.dev/v1alpha1"]
    metadata: Metadata


class Cluster(_Doc):
    kind: Literal["Cluster"]
    spec: ClusterSpec


class Project(_Doc):
    kind: Literal["Project"]
    spec: ProjectSpec


class Template(_Doc):
    kind: Literal["Template"]
    spec: TemplateSpec


class Tenant(_Doc):
    kind: Literal["Tenant"]
    spec: TenantSpec


class NodeProvider(_Doc):
    kind: Literal["NodeProvider"]
    spec: NodeProviderSpec


class Team(_Doc):
    kind: Literal["Team"]
    spec: TeamSpec


class Platform(_Doc):
    kind: Literal["Platform"]
    spec: PlatformSpec


Spec = Cluster | Project | Template | Tenant | NodeProvider | Team | Platform
KINDS: dict[str, type[_Doc]] = {
    "Cluster": Cluster,
    "Project": Project,
    "Template": Template,
    "Tenant": Tenant,
    "NodeProvider": NodeProvider,
    "Team": Team,
    "Platform": Platform,
}


def semver_key(version: str) -> tuple[int, int, int, int, str]:
    """Sort key for semantic versions; a pre-release sorts before its release."""
    m = _SEMVER.match(version)
    if not m:
        return (-1, -1, -1, -1, version)
    pre = m.group(4) or ""
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if pre else 1, pre)


def version_matches(pattern: str, version: str) -> bool:
    """'*' any, '1.x' any 1.*.*, '1.2.x' any 1.2.*, else exact."""
    if pattern == "*":
        return True
    if not pattern.endswith(".x"):
        return pattern == version
    return version.startswith(pattern[:-1])
