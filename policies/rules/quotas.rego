# Project quotas: what all tenants of a project add up to stays within the project's spec.quotas.
# The sums are computed by vfleet (input.projects[_].usage, see docs/policy-input.md); a quota that
# is not set (null) does not limit anything.
package vfleet.rules.quotas

import data.vfleet.lib

violation contains lib.violation(
	"quota-tenants",
	p.subject,
	sprintf("project %q has %d tenants, its quota allows %d; remove tenants or raise spec.quotas.tenants", [p.name, p.usage.tenants, p.quotas.tenants]),
	["spec", "quotas", "tenants"],
) if {
	some p in input.projects
	p.quotas.tenants != null
	p.usage.tenants > p.quotas.tenants
}

violation contains lib.violation(
	"quota-awake-tenants",
	p.subject,
	sprintf("project %q has %d awake tenants, its quota allows %d; put tenants to sleep (spec.sleep.sleeping) or raise spec.quotas.awakeTenants", [p.name, p.usage.awakeTenants, p.quotas.awakeTenants]),
	["spec", "quotas", "awakeTenants"],
) if {
	some p in input.projects
	p.quotas.awakeTenants != null
	p.usage.awakeTenants > p.quotas.awakeTenants
}

violation contains lib.violation(
	"quota-template",
	p.subject,
	sprintf("project %q has %d tenants of template %q, its quota allows %d; use another template or raise spec.quotas.templates.%s", [p.name, used, template, limit, template]),
	["spec", "quotas", "templates", template],
) if {
	some p in input.projects
	some template, limit in p.quotas.templates
	used := object.get(p.usage.templates, template, 0)
	used > limit
}

# One rule per summed resource, so that each can have its own severity and exceptions.
_resource_rules := {"cpu": "quota-cpu", "memory": "quota-memory", "storage": "quota-storage", "gpus": "quota-gpus"}

violation contains lib.violation(
	rule,
	p.subject,
	sprintf("project %q requests %s %s in total, its quota allows %s; shrink tenants or raise spec.quotas.%s", [p.name, lib.amount(resource, p.usage[resource]), resource, lib.amount(resource, p.quotas[resource]), resource]),
	["spec", "quotas", resource],
) if {
	some resource, rule in _resource_rules
	some p in input.projects
	p.quotas[resource] != null
	p.usage[resource] > p.quotas[resource]
}

violation contains lib.violation(
	"quota-node-claims",
	p.subject,
	sprintf("project %q claims %d private nodes from provider %q, its quota allows %d; reduce privateNodes quantities or raise spec.quotas.nodeClaims.%s", [p.name, used, provider, limit, provider]),
	["spec", "quotas", "nodeClaims", provider],
) if {
	some p in input.projects
	some provider, limit in p.quotas.nodeClaims
	used := object.get(p.usage.nodeClaims, provider, 0)
	used > limit
}
