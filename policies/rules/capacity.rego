# Cluster capacity: the tenants placed on a connected cluster fit its declared capacity. Every tenant
# counts, sleeping or not: a sleeping tenant may wake up at any time.
package vfleet.rules.capacity

import data.vfleet.lib

violation contains lib.violation(
	"cluster-capacity",
	c.subject,
	sprintf("tenants placed on cluster %q request %s %s in total, its capacity is %s; place tenants elsewhere or raise spec.capacity.%s", [c.name, lib.amount(resource, c.usage[resource]), resource, lib.amount(resource, c.capacity[resource]), resource]),
	["spec", "capacity", resource],
) if {
	some c in input.clusters
	some resource in ["cpu", "memory", "storage", "gpus"]
	c.capacity[resource] != null
	c.usage[resource] > c.capacity[resource]
}

violation contains lib.violation(
	"cluster-max-tenants",
	c.subject,
	sprintf("%d tenants are placed on cluster %q, its maxTenants is %d; place tenants elsewhere or raise spec.capacity.maxTenants", [c.usage.tenants, c.name, c.capacity.maxTenants]),
	["spec", "capacity", "maxTenants"],
) if {
	some c in input.clusters
	c.capacity.maxTenants != null
	c.usage.tenants > c.capacity.maxTenants
}
