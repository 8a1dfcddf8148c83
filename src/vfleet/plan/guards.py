"""Deletion guards: one implementation for `vfleet plan` and `vfleet apply` (`vfleet.apply.prechecks` imports
`check_cluster`, whose signature is the apply gate's `Guard` protocol).

Rules (DESIGN.md "Deletion is never silent"), per connected cluster:

- `guard.protected`: a tenant with `protect: true` in the base would lose its objects on this cluster
  (deleted, or moved away). Never overridable: a commit must first set `protect: false`.
- `guard.mass-delete`: more than `maxDeletes` tenants, or (when more than one) more than `maxDeleteShare`
  of the cluster's tenants, would be deleted from it.
- `guard.cluster-removed`: the connected cluster disappears from the fleet while it still has tenants.
- `guard.namespace-delete`: a tenant's namespace would be deleted while the tenant still exists — under
  another namespace on the same cluster, or on another cluster (a move: workloads and volumes do not
  follow). The cross-cluster case needs the whole fleet, so the plan checks it (`check_moves`).

All but the first pass with an override (a reason, recorded in the plan). Thresholds come from the base
revision's `vfleet.yaml` (`guards: {maxDeletes, maxDeleteShare}`) — never the head's, so a change cannot
loosen its own guards — and from command-line flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vfleet.core import subjects
from vfleet.core.findings import Finding, Location, error
from vfleet.core.yamldoc import YamlError, parse_documents
from vfleet.desired import DesiredState
from vfleet.plan.changes import GuardHit
from vfleet.render.schemas import CONFIG_FILE
from vfleet.repo.tree import Tree, TreeError

DEFAULT_MAX_DELETES = 10
DEFAULT_MAX_DELETE_SHARE = 0.25


@dataclass(frozen=True)
class GuardConfig:
    max_deletes: int = DEFAULT_MAX_DELETES
    max_delete_share: float = DEFAULT_MAX_DELETE_SHARE

    def to_json(self) -> dict[str, Any]:
        return {"maxDeletes": self.max_deletes, "maxDeleteShare": self.max_delete_share}

    def with_flags(self, max_deletes: int | None, max_delete_share: float | None) -> GuardConfig:
        config = self
        if max_deletes is not None:
            config = replace(config, max_deletes=max_deletes)
        if max_delete_share is not None:
            config = replace(config, max_delete_share=max_delete_share)
        return config


def read_config(tree: Tree) -> tuple[GuardConfig, tuple[Finding, ...]]:
    """`guards:` of the tree's vfleet.yaml (defaults when absent); a bad value is an ERROR finding."""
    if not tree.exists(CONFIG_FILE):
        return GuardConfig(), ()
    try:
        docs = list(parse_documents(tree.read(CONFIG_FILE).decode("utf-8-sig")))
    except (YamlError, UnicodeDecodeError, TreeError, FileNotFoundError):
        return GuardConfig(), ()  # the compile reports a broken vfleet.yaml with its line
    data = docs[0][2] if docs else None
    guards = data.get("guards") if isinstance(data, dict) else None
    if guards is None:
        return GuardConfig(), ()
    where = Location(CONFIG_FILE, docs[0][1], "guards")
    if not isinstance(guards, dict) or set(guards) - {"maxDeletes", "maxDeleteShare"}:
        return GuardConfig(), (error("config.guards", "guards must be a mapping with maxDeletes (a number of "
                                     "tenants) and/or maxDeleteShare (a share between 0 and 1)", where),)
    count = guards.get("maxDeletes", DEFAULT_MAX_DELETES)
    share = guards.get("maxDeleteShare", DEFAULT_MAX_DELETE_SHARE)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return GuardConfig(), (error("config.guards", f"guards.maxDeletes must be a whole number >= 0, got "
                                     f"{count!r}", where),)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        return GuardConfig(), (error("config.guards", f"guards.maxDeleteShare must be a number between 0 and 1, "
                                     f"got {share!r}", where),)
    return GuardConfig(count, float(share)), ()


@dataclass(frozen=True)
class ClusterTenants:
    """What the guards need to know of one cluster's desired state."""

    tenants: Mapping[str, bool]  # tenant key -> protected
    namespaces: Mapping[str, str]  # tenant namespace -> tenant key

    @staticmethod
    def of(state: DesiredState) -> ClusterTenants:
        tenants: dict[str, bool] = {}
        namespaces: dict[str, str] = {}
        for r in state.resources:
            if r.tenant is None:
                continue
            tenants[r.tenant] = tenants.get(r.tenant, False) or r.protect
            if r.kind == "Namespace" and r.namespace is None:
                namespaces[r.name] = r.tenant
        return ClusterTenants(tenants, namespaces)


def evaluate(cluster: str, before: ClusterTenants | None, after: ClusterTenants | None, config: GuardConfig,
             override: str | None) -> list[GuardHit]:
    """Every guard the change of one cluster trips; overridable ones marked overridden with a reason."""
    if before is None:
        return []  # a new cluster deletes nothing
    remaining = after.tenants if after is not None else {}
    gone = sorted(set(before.tenants) - set(remaining))
    hits: list[GuardHit] = []
    for key in gone:
        if before.tenants[key]:
            hits.append(GuardHit(
                "guard.protected", cluster,
                f"tenant {key} is protected (`protect: true`) and would be deleted from cluster {cluster}; "
                "a commit must first set `protect: false` (no override)", subjects.tenant(key), False))
    overridden = override is not None
    if after is None and before.tenants:
        hits.append(GuardHit(
            "guard.cluster-removed", cluster,
            f"cluster {cluster} would be removed from the fleet while it still has {len(before.tenants)} "
            "tenant(s); move or delete them first, or override with a reason", subjects.cluster(cluster), True,
            overridden))
    elif gone and _too_many(len(gone), len(before.tenants), config):
        hits.append(GuardHit(
            "guard.mass-delete", cluster,
            f"{len(gone)} of the {len(before.tenants)} tenants of cluster {cluster} would be deleted (limits: "
            f"more than {config.max_deletes}, or more than {config.max_delete_share:.0%} of them); override "
            "with a reason if this is intended", subjects.cluster(cluster), True, overridden))
    if after is not None:
        for namespace, key in sorted(before.namespaces.items()):
            if namespace not in after.namespaces and key in after.tenants:
                hits.append(GuardHit(
                    "guard.namespace-delete", cluster,
                    f"namespace {namespace} of tenant {key} would be deleted from cluster {cluster} while the "
                    "tenant still exists there under another namespace: its workloads and volumes do not "
                    "follow; override with a reason if this is intended", subjects.tenant(key), True, overridden))
    return hits


def _too_many(gone: int, total: int, config: GuardConfig) -> bool:
    # A single deletion never trips the share rule: a cluster with three tenants must be able to lose one.
    return gone > config.max_deletes or (gone > 1 and gone > config.max_delete_share * total)


def check_moves(moves: Sequence[tuple[str, str, str, bool]], override: str | None) -> list[GuardHit]:
    """(tenant, from, to, protected) moves: the source namespace is deleted while the tenant lives on.

    Protected tenants are refused by `evaluate` on the source cluster already.
    """
    return [
        GuardHit("guard.namespace-delete", source,
                 f"tenant {key} would move from cluster {source} to {target}: its namespace on {source} is "
                 "deleted and a new, empty one created on the target (workloads and volumes do not move); "
                 "override with a reason if this is intended", subjects.tenant(key), True, override is not None)
        for key, source, target, _protected in sorted(moves)
    ]


def check_cluster(cluster: str, base: DesiredState | None, head: DesiredState | None, *,
                  override: str | None) -> Sequence[Finding]:
    """The apply gate's `Guard`: DENY findings for the guards this stack's change trips (default limits)."""
    return configured(GuardConfig())(cluster, base, head, override=override)


def configured(config: GuardConfig) -> _ConfiguredGuard:
    """A `Guard` with the given limits (e.g. `read_config` of the base revision)."""
    return _ConfiguredGuard(config)


@dataclass(frozen=True)
class _ConfiguredGuard:
    config: GuardConfig

    def __call__(self, cluster: str, base: DesiredState | None, head: DesiredState | None, *,
                 override: str | None) -> Sequence[Finding]:
        before = ClusterTenants.of(base) if base is not None else None
        after = ClusterTenants.of(head) if head is not None else None
        hits = evaluate(cluster, before, after, self.config, override)
        return [h.finding() for h in hits if h.blocking]
