"""The user-facing specs: Kubernetes-style documents of `apiVersion: vfleet.dev/v1alpha1`.

pydantic v2 models with unknown fields rejected everywhere, so a typo is an error with a file:line,
never a silently ignored setting. Values users write as strings (quantities, durations, cron, time
zones) are parsed here. Cross-references between documents are checked later, in `model`.

One module per kind of spec (base: what they share; documents: the kinds themselves); every name is
imported from here, `vfleet.specs`.
"""

from __future__ import annotations

from vfleet.specs.access import (
    AccessRule,
    HostAccess,
    Member,
    PlatformMember,
    PlatformRole,
    PlatformSpec,
    ProjectRole,
    TeamSpec,
)
from vfleet.specs.base import (
    API_VERSION,
    DNS_LABEL,
    SEMVER,
    VERSION_REF,
    LabelSelector,
    LabelSelectorRequirement,
    Metadata,
    Name,
    Strict,
    check_labels,
    dns_label,
)
from vfleet.specs.cluster import (
    ChartSource,
    ClusterCapacity,
    ClusterSpec,
    KubeconfigRef,
    Rollout,
)
from vfleet.specs.documents import (
    KINDS,
    Cluster,
    NodeProvider,
    Platform,
    Project,
    Spec,
    Team,
    Template,
    Tenant,
    semver_key,
    version_matches,
)
from vfleet.specs.expose import (
    ENDPOINT_PLACEHOLDERS,
    Expose,
    HostExpose,
    HostPattern,
    NodePortExpose,
    ServiceProxyExpose,
)
from vfleet.specs.lifecycle import (
    ArgoCDRegistration,
    AutoDelete,
    Sleep,
)
from vfleet.specs.nodes import (
    NodeProviderSpec,
    NodeType,
    PrivateNodePool,
    Taint,
)
from vfleet.specs.project import (
    AllowedClusters,
    AllowedTemplate,
    ProjectDefaults,
    ProjectQuotas,
    ProjectSpec,
    TemplateRef,
)
from vfleet.specs.settings import (
    ArgoCDInstance,
    ArgoCDSettings,
    Identity,
    OidcIdentity,
)
from vfleet.specs.template import (
    BUILTIN_NAMES,
    Parameter,
    ParameterType,
    TemplateResources,
    TemplateSpec,
    TemplateVersion,
)
from vfleet.specs.tenant import (
    TenantSpec,
)

__all__ = [
    "API_VERSION",
    "BUILTIN_NAMES",
    "DNS_LABEL",
    "ENDPOINT_PLACEHOLDERS",
    "KINDS",
    "SEMVER",
    "VERSION_REF",
    "AccessRule",
    "AllowedClusters",
    "AllowedTemplate",
    "ArgoCDInstance",
    "ArgoCDRegistration",
    "ArgoCDSettings",
    "AutoDelete",
    "ChartSource",
    "Cluster",
    "ClusterCapacity",
    "ClusterSpec",
    "Expose",
    "HostAccess",
    "HostExpose",
    "HostPattern",
    "Identity",
    "KubeconfigRef",
    "LabelSelector",
    "LabelSelectorRequirement",
    "Member",
    "Metadata",
    "Name",
    "NodePortExpose",
    "NodeProvider",
    "NodeProviderSpec",
    "NodeType",
    "OidcIdentity",
    "Parameter",
    "ParameterType",
    "Platform",
    "PlatformMember",
    "PlatformRole",
    "PlatformSpec",
    "PrivateNodePool",
    "Project",
    "ProjectDefaults",
    "ProjectQuotas",
    "ProjectRole",
    "ProjectSpec",
    "Rollout",
    "ServiceProxyExpose",
    "Sleep",
    "Spec",
    "Strict",
    "Taint",
    "Team",
    "TeamSpec",
    "Template",
    "TemplateRef",
    "TemplateResources",
    "TemplateSpec",
    "TemplateVersion",
    "Tenant",
    "TenantSpec",
    "check_labels",
    "dns_label",
    "semver_key",
    "version_matches",
]
