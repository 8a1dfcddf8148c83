"""The spec documents (`apiVersion`, `kind`, `metadata`, `spec`) by kind, and version ordering."""

from __future__ import annotations

from typing import Literal

from vfleet.specs.access import PlatformSpec, TeamSpec
from vfleet.specs.base import SEMVER, Metadata, Strict
from vfleet.specs.cluster import ClusterSpec
from vfleet.specs.nodes import NodeProviderSpec
from vfleet.specs.project import ProjectSpec
from vfleet.specs.template import TemplateSpec
from vfleet.specs.tenant import TenantSpec


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
    m = SEMVER.match(version)
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
