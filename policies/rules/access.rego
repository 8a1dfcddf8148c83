# Access: tenants never touch the connected cluster; platform roles are how anyone does.
#
# A tenant's host namespace holds its vcluster's control plane and the Secret with its admin kubeconfig:
# whoever can write there, exec into the control plane or read its Secrets is cluster-admin of the
# tenant, whatever the tenant's access rules say. vfleet gives project members nothing there, or — if
# the project asks — a read-only view (input.projects[_].hostAccess.rules: the very rules it renders).
# These rules refuse whatever would grant more: the host view's rules themselves, and rendered values
# (from a template or a parameter) that hand the control plane or the tenant rights on the host.
package vfleet.rules.access

import data.vfleet.lib

_read_verbs := {"get", "list", "watch"}

# Never in a host view: Secrets, the API to run or reach into processes, logs, and the kinds that make
# up the control plane (its StatefulSet, ServiceAccount, RBAC, config).
_never_resources := {
	"*", "secrets", "pods/exec", "pods/attach", "pods/portforward", "pods/proxy", "services/proxy",
	"nodes/proxy", "pods/log", "serviceaccounts", "serviceaccounts/token", "configmaps",
	"persistentvolumeclaims",
}

_never_groups := {"*", "apps", "rbac.authorization.k8s.io"}

_beyond_view(rule) := (_verbs_beyond(rule) | _resources_beyond(rule)) | _groups_beyond(rule)

_verbs_beyond(rule) := {sprintf("verb %q", [v]) | some v in object.get(rule, "verbs", []); not _read_verbs[v]}

_resources_beyond(rule) := {sprintf("resource %q", [r]) |
	some r in object.get(rule, "resources", [])
	_never_resources[r]
}

_groups_beyond(rule) := {sprintf("API group %q", [g]) | some g in object.get(rule, "apiGroups", []); _never_groups[g]}

violation contains lib.violation(
	"host-access-read-only",
	p.subject,
	sprintf("the host view of project %q would grant %s in its tenants' host namespaces; a host view is read-only and never reaches Secrets, exec/attach/port-forward, logs or the control plane's objects: give the access inside the tenant clusters (spec.access of a tenant) instead", [p.name, concat(", ", sort(what))]),
	["spec", "hostAccess"],
) if {
	some p in input.projects
	some rule in object.get(p, ["hostAccess", "rules"], [])
	what := _beyond_view(rule)
	count(what) > 0
}

# Rendered values that reach the host: {path, why}; any value there that is set (true, a non-empty
# string, list or object) is refused. Data, so a fleet can extend it (policies/data.yaml).
_host_access_values := lib.setting("hostAccessValues", [
	{"path": ["experimental", "deploy", "host", "manifests"], "why": "it applies raw manifests to the connected cluster"},
	{"path": ["rbac", "clusterRole", "extraRules"], "why": "it gives the tenant's control plane rights on the whole connected cluster"},
])

_set(v) if v == true

_set(v) if {
	is_string(v)
	v != ""
}

_set(v) if {
	is_array(v)
	count(v) > 0
}

_set(v) if {
	is_object(v)
	count(v) > 0
}

violation contains lib.violation(
	"host-access-values",
	t.subject,
	sprintf("rendered values set %s, which grants access to the connected cluster: %s; tenants only get access inside their tenant cluster, so remove the template value or parameter that sets it", [concat(".", setting.path), object.get(setting, "why", "see hostAccessValues in policies/data.yaml")]),
	["spec", "parameters"],
) if {
	some t in input.tenants
	some root, settings in _host_access_by_root
	t.values[root] # a cheap reference first: most values never set the top-level key
	some setting in settings
	_set(object.get(t.values, setting.path, false))
}

# The settings by their top-level key: one lookup per key and tenant, not one per setting (the 7 of
# policies/data.yaml share 3 keys). `opa eval --profile` gave this rule ~0.5 s before and ~0.2 s after
# at 10,000 tenants, but the profiler inflates every step: the whole policy step, unprofiled, did not
# measurably change (docs/performance.md).
_host_access_by_root[root] := [s | some s in _host_access_values; s.path[0] == root] if {
	some setting in _host_access_values
	root := setting.path[0]
}

# The vcluster's admin kubeconfig stays in its own namespace: exported to another one, whoever reads
# Secrets there is cluster-admin of the tenant.
violation contains lib.violation(
	"host-access-values",
	t.subject,
	sprintf("rendered values export the tenant's admin kubeconfig into host namespace %q; it may only live in the tenant's own namespace %q: remove exportKubeConfig's namespace", [ns, t.namespace]),
	["spec", "parameters"],
) if {
	some t in input.tenants
	t.values.exportKubeConfig
	some ns in _export_namespaces(t.values.exportKubeConfig)
	ns != ""
	ns != t.namespace
}

_export_namespaces(export) := {ns | ns := export.secret.namespace} | {ns |
	some extra in object.get(export, "additionalSecrets", [])
	ns := extra.namespace
}

_env_label := lib.setting("envLabel", "env")

_production_envs := {env | some env in lib.setting("productionEnvs", ["prod"])}

_production(c) if _production_envs[c.labels[_env_label]]

violation contains lib.violation(
	"platform-prod-admins",
	c.subject,
	sprintf("production cluster %q has no platform admin group: nobody could administer it through the identity provider; add a `group: <oidc group>, role: admin` member to the fleet's Platform document", [c.name]),
	["metadata", "labels", _env_label],
) if {
	some c in input.clusters
	_production(c)
	count(object.get(c, ["platformRoles", "admin", "groups"], [])) == 0
}

# On production clusters platform roles go to OIDC groups only: a person's access then follows the
# identity provider (joiners, leavers), never a name in Git. A team binds its members by name.
violation contains lib.violation(
	"platform-prod-no-users",
	input.platform.subject,
	sprintf("platform %s on production cluster(s) %s is bound to user(s) %s by name; on production bind OIDC groups only (a team's `groups`, or `group:`), or limit this member with a `clusters` selector", [m.role, concat(", ", sort(clusters)), concat(", ", sort(users))]),
	["spec", "members", i],
) if {
	some i, m in input.platform.members
	users := _member_users(m)
	count(users) > 0
	clusters := {c.name | some c in input.clusters; _production(c); _member_on(m, c)}
	count(clusters) > 0
}

_member_users(m) := {m.user} if m.user

_member_users(m) := {u | some u in object.get(input.teams, [m.team, "members"], [])} if m.team

_member_users(m) := set() if m.group

_member_on(m, _) if m.clusters == null

_member_on(m, c) if {
	m.clusters != null
	lib.selector_matches(m.clusters, c.labels)
}
