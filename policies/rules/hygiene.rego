# Hygiene: names, owners, protection of production, sleep of dev tenants, pod security, isolation.
# Thresholds and label conventions come from data.vfleet.config (policies/data.yaml).
package vfleet.rules.hygiene

import data.vfleet.lib

_dns_label := `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`

# A tenant's name is the Helm release name of its vcluster; Helm limits release names to 53 characters.
_max_tenant_name := lib.setting("maxTenantNameLength", 53)

# One pass over the tenants with one regex that checks the label syntax and the length together (a
# label of at most _max_tenant_name characters); the two messages below then look at the few that fail.
_release_name := sprintf(`^[a-z0-9]([-a-z0-9]{0,%d}[a-z0-9])?$`, [_max_tenant_name - 2])

_bad_tenant_names := [t | some t in input.tenants; not regex.match(_release_name, t.name)]

violation contains lib.violation("name-dns1123", t.subject, msg, ["metadata", "name"]) if {
	some t in _bad_tenant_names
	not regex.match(_dns_label, t.name)
	msg := sprintf("tenant name %q is not a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit); rename the tenant", [t.name])
}

violation contains lib.violation("name-dns1123", t.subject, msg, ["metadata", "name"]) if {
	some t in _bad_tenant_names
	count(t.name) > _max_tenant_name
	msg := sprintf("tenant name %q has %d characters; it becomes the vcluster's Helm release name, which allows at most %d; choose a shorter name", [t.name, count(t.name), _max_tenant_name])
}

violation contains lib.violation("name-dns1123", x.subject, msg, ["metadata", "name"]) if {
	some x in array.concat([p | some p in input.projects], [c | some c in input.clusters])
	not _is_label(x.name)
	msg := sprintf("name %q is not a DNS-1123 label of at most 63 characters; rename it", [x.name])
}

_is_label(name) if {
	regex.match(_dns_label, name)
	count(name) <= 63
}

# Who may own a tenant: a user named directly as a member of the tenant's project (any role), or a
# user listed in spec.members of a Team that is a member of the project. OIDC groups do not count:
# their membership is not known when the change is reviewed.
project_users[name] := users if {
	some name, p in input.projects
	direct := {m.user | some m in p.members; m.user}
	via_teams := {u | some m in p.members; m.team; some u in object.get(input.teams, [m.team, "members"], [])}
	users := direct | via_teams
}

violation contains lib.violation(
	"owner-member",
	t.subject,
	sprintf("owner %q is not a member of project %q (neither a user member nor in one of its member teams); make the owner a project member or pick an owner who is", [t.owner, t.project]),
	["spec", "owner"],
) if {
	some t in input.tenants
	not project_users[t.project][t.owner]
}

_env_label := lib.setting("envLabel", "env")

violation contains lib.violation(
	"prod-protected",
	t.subject,
	sprintf("production tenant (label %s=%s) is not protected; set spec.protect: true so it cannot be deleted by accident", [_env_label, t.labels[_env_label]]),
	["spec", "protect"],
) if {
	some t in input.tenants
	not t.protect
	_production_envs[t.labels[_env_label]]
}

_production_envs := {env | some env in lib.setting("productionEnvs", ["prod"])}

_dev_max := lib.setting("devSleepAfterInactivityMaxSeconds", 86400)

violation contains lib.violation(
	"dev-sleep",
	t.subject,
	sprintf("dev tenant (label %s=%s) never sleeps; set spec.sleep.afterInactivity (at most %vh) or a project default", [_env_label, t.labels[_env_label], _dev_max / 3600]),
	["spec", "sleep"],
) if {
	some t in _sleep_suspects
	_dev_envs[t.labels[_env_label]]
	not _sleeps_when_inactive(t)
}

violation contains lib.violation(
	"dev-sleep",
	t.subject,
	sprintf("dev tenant (label %s=%s) sleeps only after %s of inactivity; use at most %vh", [_env_label, t.labels[_env_label], t.sleep.afterInactivity, _dev_max / 3600]),
	["spec", "sleep", "afterInactivity"],
) if {
	some t in _sleep_suspects
	_dev_envs[t.labels[_env_label]]
	_sleeps_when_inactive(t)
}

# One pass for both rules above: the tenants, dev or not, that do not sleep within the limit.
_sleep_suspects := [t | some t in input.tenants; not _sleeps_within_limit(t)]

_sleeps_within_limit(t) if {
	seconds := t.sleep.afterInactivitySeconds
	seconds != null # null sorts below every number in Rego: it must not pass for "short"
	seconds <= _dev_max
}

# No sleep settings at all, or no afterInactivity in them (null), means the tenant never sleeps.
_sleeps_when_inactive(t) if t.sleep.afterInactivitySeconds != null

_dev_envs := {env | some env in lib.setting("devEnvs", ["dev"])}

_floor := lib.setting("podSecurityFloor", "baseline")

violation contains lib.violation(
	"pod-security-floor",
	t.subject,
	sprintf("pod security level %q is below the fleet's floor %q; set spec.podSecurity to %q or stricter", [t.podSecurity, _floor, _floor]),
	["spec", "podSecurity"],
) if {
	some t in input.tenants
	not _at_or_above_floor[t.podSecurity]
}

violation contains lib.violation(
	"pod-security-floor",
	t.subject,
	sprintf("rendered values set policies.podSecurityStandard to %q, below the fleet's floor %q; fix the template or its parameters", [level, _floor]),
	["spec", "parameters"],
) if {
	some t in input.tenants
	level := t.values.policies.podSecurityStandard
	level != t.podSecurity # vfleet renders spec.podSecurity here itself: reported once, by the rule above
	not _at_or_above_floor[level]
}

# The levels that pass, worked out once. A level not in the list (a typo, an unknown level) is not in
# this set and fails the check rather than passing it; so does everything when the configured floor
# itself is unknown.
_at_or_above_floor := {level |
	some level, rank in lib.pod_security_rank
	rank >= lib.pod_security_rank[_floor]
}

# vfleet isolates every tenant itself: a default-deny NetworkPolicy in the tenant's host namespace
# (see src/vfleet/desired), so the chart's own network policy stays off. NetworkPolicies add up, so what breaks
# that isolation is a value that lets more traffic in or out of the namespace — above all syncing the
# tenant's own NetworkPolicies to the host, where any allow rule a tenant user writes would apply.
# The list is data (isolationBreakingValues), so a fleet that relies on other settings can extend it.
_isolation_breaking := lib.setting("isolationBreakingValues", [{
	"path": ["sync", "toHost", "networkPolicies", "enabled"],
	"value": true,
	"why": "the tenant's own NetworkPolicies would be synced to the host and override its default deny",
}])

violation contains lib.violation(
	"network-isolation",
	t.subject,
	sprintf("rendered values set %s to %v, which disables the tenant's network isolation: %s; remove the parameter or template value that sets it", [concat(".", breaking.path), breaking.value, object.get(breaking, "why", "see isolationBreakingValues in policies/data.yaml")]),
	["spec", "parameters"],
) if {
	some t in input.tenants
	some breaking in _isolation_breaking
	t.values[breaking.path[0]] # a cheap reference first: most values never set the top-level key
	object.get(t.values, breaking.path, null) == breaking.value
}
