package vfleet.rules.capacity_test

import data.vfleet.test.fixture

with_usage(usage) := object.union(fixture.clean, {"clusters": {"c1": {"usage": usage}}})

test_cluster_capacity_allows_usage_at_capacity if {
	inp := with_usage({"cpu": 8, "memory": 32 * fixture.gib, "storage": 100 * fixture.gib, "gpus": 2})
	not "cluster-capacity" in fixture.rules(inp)
}

test_cluster_capacity_denies_each_exceeded_resource if {
	inp := with_usage({"cpu": 8.5, "gpus": 3})
	fixture.subjects("cluster-capacity", inp) == {"cluster:c1"}
	fields := {v.field | some v in fixture.violations(inp); v.rule == "cluster-capacity"}
	fields == {["spec", "capacity", "cpu"], ["spec", "capacity", "gpus"]}
}

test_cluster_capacity_unset_does_not_limit if {
	inp := object.union(fixture.clean, {"clusters": {"c2": {"usage": {"cpu": 1000}}}})
	not "cluster-capacity" in fixture.rules(inp)
}

test_cluster_max_tenants_allows_up_to_max if {
	not "cluster-max-tenants" in fixture.rules(with_usage({"tenants": 3}))
}

test_cluster_max_tenants_denies_above_max if {
	fixture.subjects("cluster-max-tenants", with_usage({"tenants": 4})) == {"cluster:c1"}
}
