package vfleet.rules.quotas_test

import data.vfleet.test.fixture

# Usage exactly at the quota is allowed (the clean fixture sits at every limit).
test_quotas_allow_usage_at_the_limit if {
	rules := fixture.rules(fixture.clean)
	every rule in ["quota-tenants", "quota-awake-tenants", "quota-template", "quota-cpu", "quota-memory", "quota-storage", "quota-gpus", "quota-node-claims"] {
		not rule in rules
	}
}

with_usage(usage) := object.union(fixture.clean, {"projects": {"a": {"usage": usage}}})

# One allow case per rule: usage exactly at that quota (the clean fixture) and below it.
test_quota_tenants_allows_up_to_the_quota if {
	not "quota-tenants" in fixture.rules(fixture.clean)
	not "quota-tenants" in fixture.rules(with_usage({"tenants": 1}))
}

test_quota_awake_tenants_allows_up_to_the_quota if {
	not "quota-awake-tenants" in fixture.rules(fixture.clean)
	not "quota-awake-tenants" in fixture.rules(with_usage({"awakeTenants": 0}))
}

test_quota_template_allows_up_to_the_quota if {
	not "quota-template" in fixture.rules(fixture.clean)
	not "quota-template" in fixture.rules(with_usage({"templates": {"small": 1, "other": 7}})) # "other" has no quota
}

test_quota_cpu_allows_up_to_the_quota if {
	not "quota-cpu" in fixture.rules(fixture.clean)
	not "quota-cpu" in fixture.rules(with_usage({"cpu": 1.99}))
}

test_quota_memory_allows_up_to_the_quota if {
	not "quota-memory" in fixture.rules(fixture.clean)
	not "quota-memory" in fixture.rules(with_usage({"memory": 4 * fixture.gib}))
}

test_quota_storage_allows_up_to_the_quota if {
	not "quota-storage" in fixture.rules(fixture.clean)
	not "quota-storage" in fixture.rules(with_usage({"storage": 10 * fixture.gib}))
}

test_quota_gpus_allows_up_to_the_quota if {
	not "quota-gpus" in fixture.rules(fixture.clean)
	inp := object.union(with_usage({"gpus": 4}), {"projects": {"a": {"quotas": {"gpus": 4}}}})
	not "quota-gpus" in fixture.rules(inp)
}

test_quota_tenants_denies if {
	fixture.subjects("quota-tenants", with_usage({"tenants": 3})) == {"project:a"}
}

test_quota_tenants_unset_does_not_limit if {
	inp := object.union(with_usage({"tenants": 30}), {"projects": {"a": {"quotas": {"tenants": null}}}})
	not "quota-tenants" in fixture.rules(inp)
}

test_quota_awake_tenants_denies if {
	fixture.subjects("quota-awake-tenants", with_usage({"awakeTenants": 3})) == {"project:a"}
}

test_quota_template_denies if {
	inp := with_usage({"templates": {"small": 3}})
	fixture.subjects("quota-template", inp) == {"project:a"}
	some v in fixture.violations(inp)
	v.field == ["spec", "quotas", "templates", "small"]
}

test_quota_cpu_denies if {
	fixture.subjects("quota-cpu", with_usage({"cpu": 2.5})) == {"project:a"}
}

test_quota_memory_denies if {
	fixture.subjects("quota-memory", with_usage({"memory": (4 * fixture.gib) + 1})) == {"project:a"}
}

test_quota_storage_denies if {
	fixture.subjects("quota-storage", with_usage({"storage": 11 * fixture.gib})) == {"project:a"}
}

test_quota_gpus_denies if {
	fixture.subjects("quota-gpus", with_usage({"gpus": 1})) == {"project:a"}
}

test_quota_node_claims_allows_within if {
	inp := object.union(with_usage({"nodeClaims": {"metal": 2}}), {"projects": {"a": {"quotas": {"nodeClaims": {"metal": 2}}}}})
	not "quota-node-claims" in fixture.rules(inp)
}

test_quota_node_claims_denies if {
	fixture.subjects("quota-node-claims", with_usage({"nodeClaims": {"metal": 1}})) == {"project:a"}
}
