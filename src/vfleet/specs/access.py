"""Teams, platform roles and members, a project's host access and a tenant's access rules."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from vfleet.specs.base import LabelSelector, Name, Strict

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
