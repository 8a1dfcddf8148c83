package vfleet.rules.hygiene_test

import data.vfleet.test.fixture

test_name_dns1123_allows_a_label if {
	not "name-dns1123" in fixture.rules(fixture.with_t1({"name": "t-1"}))
}

test_name_dns1123_denies_a_non_label if {
	fixture.subjects("name-dns1123", fixture.with_t1({"name": "T_1"})) == {"tenant:a/t1"}
}

test_name_dns1123_denies_a_name_too_long_for_a_release if {
	name := concat("", [concat("", ["x" | some _ in numbers.range(1, 50)]), "-abc"]) # 54 characters
	fixture.subjects("name-dns1123", fixture.with_t1({"name": name})) == {"tenant:a/t1"}
	not "name-dns1123" in fixture.rules(fixture.with_t1({"name": substring(name, 1, 53)}))
}

test_name_dns1123_denies_a_bad_cluster_name if {
	inp := object.union(fixture.clean, {"clusters": {"c2": {"name": "C2"}}})
	fixture.subjects("name-dns1123", inp) == {"cluster:c2"}
}

test_owner_member_allows_a_user_member if {
	not "owner-member" in fixture.rules(fixture.clean) # alice is a user member
}

test_owner_member_allows_a_member_of_a_member_team if {
	not "owner-member" in fixture.rules(fixture.with_t1({"owner": "bob"})) # bob is in team devs
}

test_owner_member_denies_a_stranger if {
	fixture.subjects("owner-member", fixture.with_t1({"owner": "mallory"})) == {"tenant:a/t1"}
}

test_owner_member_denies_an_oidc_group_name if {
	fixture.subjects("owner-member", fixture.with_t1({"owner": "oidc:ops"})) == {"tenant:a/t1"}
}

test_prod_protected_allows_a_protected_prod_tenant if {
	not "prod-protected" in fixture.rules(fixture.with_t1({"labels": {"env": "prod"}, "protect": true}))
}

test_prod_protected_denies_an_unprotected_prod_tenant if {
	fixture.subjects("prod-protected", fixture.with_t1({"labels": {"env": "prod"}})) == {"tenant:a/t1"}
}

sleep(text, seconds) := {"sleep": {
	"sleeping": false, "afterInactivity": text, "afterInactivitySeconds": seconds,
	"schedule": null, "wakeup": null, "timezone": null,
}}

test_dev_sleep_allows_a_dev_tenant_that_sleeps if {
	inp := fixture.with_t1(object.union({"labels": {"env": "dev"}}, sleep("2h", 7200)))
	not "dev-sleep" in fixture.rules(inp)
}

test_dev_sleep_denies_a_dev_tenant_that_never_sleeps if {
	fixture.subjects("dev-sleep", fixture.with_t1({"labels": {"env": "dev"}})) == {"tenant:a/t1"}
}

test_dev_sleep_denies_a_too_long_inactivity if {
	inp := fixture.with_t1(object.union({"labels": {"env": "dev"}}, sleep("48h", 172800)))
	fixture.subjects("dev-sleep", inp) == {"tenant:a/t1"}
}

test_dev_sleep_ignores_other_envs if {
	not "dev-sleep" in fixture.rules(fixture.with_t1({"labels": {"env": "staging"}}))
}

test_pod_security_floor_allows_the_floor_and_above if {
	not "pod-security-floor" in fixture.rules(fixture.with_t1({"podSecurity": "restricted"}))
}

test_pod_security_floor_denies_below_the_floor if {
	fixture.subjects("pod-security-floor", fixture.with_t1({"podSecurity": "privileged"})) == {"tenant:a/t1"}
}

test_pod_security_floor_is_configurable if {
	inp := fixture.with_t1({"podSecurity": "baseline"})
	not "pod-security-floor" in fixture.rules(inp)
	strict := fixture.subjects("pod-security-floor", inp) with data.vfleet.config as {"podSecurityFloor": "restricted"}
	strict == {"tenant:a/t1", "tenant:a/t2"}
}

test_pod_security_floor_checks_rendered_values if {
	inp := fixture.with_t1({"values": {"policies": {"podSecurityStandard": "privileged"}}})
	fixture.subjects("pod-security-floor", inp) == {"tenant:a/t1"}
}

test_pod_security_floor_reports_a_level_once if {
	inp := fixture.with_t1({"podSecurity": "privileged", "values": {"policies": {"podSecurityStandard": "privileged"}}})
	count([v | some v in fixture.violations(inp); v.rule == "pod-security-floor"]) == 1
}

test_network_isolation_allows_values_that_keep_it if {
	not "network-isolation" in fixture.rules(fixture.clean)
	not "network-isolation" in fixture.rules(fixture.with_t1({"values": {}}))
	not "network-isolation" in fixture.rules(fixture.with_t1({"values": null}))
	off := {"values": {"sync": {"toHost": {"networkPolicies": {"enabled": false}}}}}
	not "network-isolation" in fixture.rules(fixture.with_t1(off))
}

test_network_isolation_denies_syncing_tenant_network_policies_to_the_host if {
	inp := fixture.with_t1({"values": {"sync": {"toHost": {"networkPolicies": {"enabled": true}}}}})
	fixture.subjects("network-isolation", inp) == {"tenant:a/t1"}
}

test_network_isolation_values_are_configurable if {
	cfg := {"isolationBreakingValues": [{"path": ["policies", "networkPolicy", "enabled"], "value": false}]}
	inp := fixture.with_t1({"values": {"policies": {"networkPolicy": {"enabled": false}}}})
	not "network-isolation" in fixture.rules(inp)
	rules := fixture.rules(inp) with data.vfleet.config as cfg
	"network-isolation" in rules
}
