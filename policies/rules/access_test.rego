package vfleet.rules.access_test

import data.vfleet.test.fixture

_view_rules := [{"apiGroups": [""], "resources": ["events", "limitranges", "pods", "resourcequotas"], "verbs": ["get", "list", "watch"]}]

with_host_rules(rules) := object.union(fixture.clean, {"projects": {"a": {"hostAccess": {"view": ["viewer"], "rules": rules}}}})

test_host_access_read_only_allows_the_view_vfleet_renders if {
	not "host-access-read-only" in fixture.rules(with_host_rules(_view_rules))
}

test_host_access_read_only_allows_no_host_access if {
	not "host-access-read-only" in fixture.rules(fixture.clean)
}

test_host_access_read_only_denies_secrets if {
	rules := [{"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get"]}]
	fixture.subjects("host-access-read-only", with_host_rules(rules)) == {"project:a"}
}

test_host_access_read_only_denies_exec_and_writes if {
	rules := [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]
	fixture.subjects("host-access-read-only", with_host_rules(rules)) == {"project:a"}
}

test_host_access_read_only_denies_the_control_plane_statefulset if {
	rules := [{"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["get"]}]
	fixture.subjects("host-access-read-only", with_host_rules(rules)) == {"project:a"}
}

test_host_access_values_allows_values_that_stay_in_the_tenant if {
	inp := fixture.with_t1({"values": {"exportKubeConfig": {"context": "x", "secret": {"namespace": "vc-a-t1"}}, "rbac": {"role": {"enabled": true}}}})
	not "host-access-values" in fixture.rules(inp)
}

test_host_access_values_allows_an_empty_setting if {
	inp := fixture.with_t1({"values": {"experimental": {"deploy": {"host": {"manifests": ""}}}, "rbac": {"clusterRole": {"extraRules": []}}}})
	not "host-access-values" in fixture.rules(inp)
}

test_host_access_values_denies_host_manifests if {
	inp := fixture.with_t1({"values": {"experimental": {"deploy": {"host": {"manifests": "kind: ClusterRoleBinding"}}}}})
	fixture.subjects("host-access-values", inp) == {"tenant:a/t1"}
}

test_host_access_values_denies_extra_cluster_rules if {
	inp := fixture.with_t1({"values": {"rbac": {"clusterRole": {"extraRules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}}}})
	fixture.subjects("host-access-values", inp) == {"tenant:a/t1"}
}

test_host_access_values_denies_an_enabled_switch if {
	inp := fixture.with_t1({"values": {"sync": {"fromHost": {"secrets": {"enabled": true}}}}})
	fixture.subjects("host-access-values", inp) == {"tenant:a/t1"}
}

test_host_access_values_denies_a_listed_mapping if {
	inp := fixture.with_t1({"values": {"sync": {"fromHost": {"secrets": {"mappings": {"byName": {"ops/token": "default/token"}}}}}}})
	vs := data.vfleet.main.violations with input as inp
		with data.vfleet.config.hostAccessValues as [{"path": ["sync", "fromHost", "secrets", "mappings"]}]
	{v.subject | some v in vs; v.rule == "host-access-values"} == {"tenant:a/t1"}
}

test_host_access_values_denies_each_setting_under_one_key if {
	inp := fixture.with_t1({"values": {"rbac": {"role": {"extraRules": [{"verbs": ["*"]}]}, "clusterRole": {"overwriteRules": [{"verbs": ["*"]}]}}}})
	said := {v.message | some v in fixture.violations(inp); v.rule == "host-access-values"}
	count(said) == 2
	some role in said
	contains(role, "rbac.role.extraRules")
	some cluster_role in said
	contains(cluster_role, "rbac.clusterRole.overwriteRules")
}

test_host_access_values_allows_a_key_set_without_its_settings if {
	inp := fixture.with_t1({"values": {"rbac": {"role": {"enabled": true}}, "sync": {"fromHost": {"nodes": {"enabled": true}}}}})
	not "host-access-values" in fixture.rules(inp)
}

test_host_access_values_denies_a_kubeconfig_exported_elsewhere if {
	inp := fixture.with_t1({"values": {"exportKubeConfig": {"secret": {"namespace": "shared"}}}})
	fixture.subjects("host-access-values", inp) == {"tenant:a/t1"}
}

test_host_access_values_denies_an_additional_secret_elsewhere if {
	inp := fixture.with_t1({"values": {"exportKubeConfig": {"additionalSecrets": [{"name": "k", "namespace": "ci"}]}}})
	fixture.subjects("host-access-values", inp) == {"tenant:a/t1"}
}

_prod_c2(roles) := object.union(fixture.clean, {"clusters": {"c2": {"labels": {"env": "prod"}, "platformRoles": roles}}})

_roles(admin_groups, admin_users) := {
	"admin": {"groups": admin_groups, "users": admin_users},
	"operator": {"groups": [], "users": []},
	"viewer": {"groups": [], "users": []},
}

test_platform_prod_admins_allows_an_admin_group if {
	not "platform-prod-admins" in fixture.rules(_prod_c2(_roles(["eng-platform"], [])))
}

test_platform_prod_admins_allows_a_dev_cluster_without_admins if {
	not "platform-prod-admins" in fixture.rules(fixture.clean) # no cluster of the fixture is production
}

test_platform_prod_admins_denies_a_prod_cluster_with_user_admins_only if {
	fixture.subjects("platform-prod-admins", _prod_c2(_roles([], ["maria"]))) == {"cluster:c2"}
}

_with_platform(members, c2_labels) := object.union(fixture.clean, {
	"clusters": {"c2": {"labels": c2_labels, "platformRoles": _roles(["eng-platform"], [])}},
	"platform": {
		"name": "platform", "subject": "platform:platform", "members": members,
		"source": {"file": "fleet/platform.yaml", "line": 1},
	},
})

test_platform_prod_no_users_allows_groups_and_users_limited_to_dev if {
	members := [
		{"group": "eng-platform", "role": "admin", "clusters": null},
		{"user": "maria", "role": "operator", "clusters": {"matchLabels": {"env": "dev"}}},
		{"team": "devs", "role": "viewer", "clusters": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}},
	]
	not "platform-prod-no-users" in fixture.rules(_with_platform(members, {"env": "prod"}))
}

test_platform_prod_no_users_allows_users_where_nothing_is_production if {
	members := [{"user": "maria", "role": "admin", "clusters": null}]
	not "platform-prod-no-users" in fixture.rules(_with_platform(members, {"env": "dev"}))
}

test_platform_prod_no_users_denies_a_user_on_prod if {
	members := [{"group": "eng-platform", "role": "admin", "clusters": null}, {"user": "maria", "role": "admin", "clusters": null}]
	vs := fixture.violations(_with_platform(members, {"env": "prod"}))
	{[v.subject, v.field] | some v in vs; v.rule == "platform-prod-no-users"} == {["platform:platform", ["spec", "members", 1]]}
}

test_platform_prod_no_users_denies_a_team_of_users_on_prod if {
	members := [{"team": "devs", "role": "operator", "clusters": {"matchLabels": {"env": "prod"}}}]
	fixture.subjects("platform-prod-no-users", _with_platform(members, {"env": "prod"})) == {"platform:platform"}
}
