# Private nodes: pools come from providers the tenant's cluster offers, node types stay within their
# fleet-wide capacity, and tenants that need GPUs get them on private nodes.
package vfleet.rules.nodes

import data.vfleet.lib

violation contains lib.violation(
	"node-provider-offered",
	t.subject,
	sprintf("private node pool %q uses provider %q, which cluster %q does not offer (offers: %s); use one of those or place the tenant on a cluster that offers %q", [pool.name, pool.provider, t.cluster, lib.names(input.clusters[t.cluster].nodeProviders), pool.provider]),
	["spec", "privateNodes", i, "provider"],
) if {
	_any_pools # most fleets have few pools: without any, no tenant is looked at
	some t in input.tenants
	some i, pool in t.privateNodes # most tenants have none: the pass stops here for them
	t.cluster != null
	not offers[t.cluster][pool.provider]
}

# cluster -> the set of node providers it offers.
offers[name] := {p | some p in c.nodeProviders} if some name, c in input.clusters

violation contains lib.violation(
	"node-type-capacity",
	provider.subject,
	sprintf("tenants claim %d nodes of type %q from provider %q, but only %d exist; reduce privateNodes quantities or raise maxCapacity", [node_type.claimed, name, provider.name, node_type.maxCapacity]),
	["spec", "nodeTypes", node_type.index, "maxCapacity"],
) if {
	some provider in input.nodeProviders
	some name, node_type in provider.nodeTypes
	node_type.maxCapacity != null
	node_type.claimed > node_type.maxCapacity
}

violation contains lib.violation(
	"gpu-private-nodes",
	t.subject,
	sprintf("tenant requests %d GPUs but has no private node pool; GPU workloads run on private nodes: add spec.privateNodes with a GPU node type", [t.resources.gpus]),
	["spec", "privateNodes"],
) if {
	_any_gpus
	some t in input.tenants
	t.resources.gpus > 0
	not t.privateNodes[0]
}

# Whether any tenant has a pool / requests GPUs, from the per-project sums vfleet computed: one look
# at each project instead of one at each tenant in the common case of none.
_any_pools if {
	some p in input.projects
	count(p.usage.nodeClaims) > 0
}

_any_gpus if {
	some p in input.projects
	p.usage.gpus > 0
}
