"""The host-side guardrails of a tenant's namespace: its ResourceQuota and LimitRange from the tenant's
size, and the NetworkPolicies that isolate it (default deny; the control plane alone reaches out)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from vfleet.core.units import Quantity, parse_quantity
from vfleet.params import Resources

# LimitRange defaults per container, lowered to the tenant's quota when that is smaller: a container
# that sets nothing must still fit, and a default above the quota would make every such pod fail.
DEFAULT_CPU_REQUEST = parse_quantity("100m")
DEFAULT_CPU_LIMIT = parse_quantity("1")
DEFAULT_MEMORY_REQUEST = parse_quantity("128Mi")
DEFAULT_MEMORY_LIMIT = parse_quantity("1Gi")
# Pod count quota: 20 pods per requested core, within [20, 1000]; 200 when the size sets no cpu.
PODS_PER_CORE, MIN_PODS, MAX_PODS, DEFAULT_PODS = 20, 20, 1000, 200
# The vcluster API port, reachable from outside the namespace (ingress, load balancer); the API is
# authenticated, everything else in the namespace is not reachable from other namespaces.
VCLUSTER_API_PORT = 8443



@lru_cache(maxsize=1024)  # sizes repeat (they come from templates); the result is shared, read-only
def quota(size: Resources) -> dict[str, str]:
    """ResourceQuota.spec.hard for a tenant of this size; an unset dimension is not limited."""
    hard: dict[str, str] = {}
    if size.cpu is not None:
        hard["requests.cpu"] = size.cpu.text
    if size.memory is not None:
        hard["requests.memory"] = size.memory.text
    if size.storage is not None:
        hard["requests.storage"] = size.storage.text
    hard["requests.nvidia.com/gpu"] = str(size.gpus)  # 0 unless granted: no GPU by accident
    hard["pods"] = str(pod_limit(size.cpu))
    return hard


def pod_limit(cpu: Quantity | None) -> int:
    if cpu is None:
        return DEFAULT_PODS
    wanted = math.ceil(cpu.value * PODS_PER_CORE)
    return max(MIN_PODS, min(MAX_PODS, wanted))


def _lowest(default: Quantity, cap: Quantity | None) -> Quantity:
    return cap if cap is not None and cap.value < default.value else default


@lru_cache(maxsize=1024)
def limit_range(size: Resources) -> dict[str, Any]:
    """Container defaults that never exceed the quota (and a default request never above its limit)."""
    cpu_limit = _lowest(DEFAULT_CPU_LIMIT, size.cpu)
    memory_limit = _lowest(DEFAULT_MEMORY_LIMIT, size.memory)
    return {
        "type": "Container",
        "default": {"cpu": cpu_limit.text, "memory": memory_limit.text},
        "defaultRequest": {
            "cpu": _lowest(DEFAULT_CPU_REQUEST, cpu_limit).text,
            "memory": _lowest(DEFAULT_MEMORY_REQUEST, memory_limit).text,
        },
    }


# Default deny: traffic only within the namespace, plus DNS to the cluster's resolver (shared, read-only).
ISOLATE: dict[str, Any] = {
    "podSelector": {},
    "policyTypes": ["Ingress", "Egress"],
    "ingress": [{"from": [{"podSelector": {}}]}],
    "egress": [
        {"to": [{"podSelector": {}}]},
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
    ],
}


def control_plane(release: str) -> dict[str, Any]:
    """The vcluster control plane must reach the host API server (its address is cluster-specific, so
    egress is open for it alone) and be reachable on its API port; no other pod gets either."""
    return {
        "podSelector": {"matchLabels": {"app": "vcluster", "release": release}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"ports": [{"protocol": "TCP", "port": VCLUSTER_API_PORT}]}],
        "egress": [{}],
    }
