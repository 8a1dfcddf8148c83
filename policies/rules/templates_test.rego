package vfleet.rules.templates_test

import data.vfleet.test.fixture

test_clean_fleet_has_no_violation if {
	count(fixture.violations(fixture.clean)) == 0
}

test_template_allowed_allows_an_allowed_template if {
	not "template-allowed" in fixture.rules(fixture.clean)
}

test_template_allowed_denies_another_template if {
	fixture.subjects("template-allowed", fixture.with_t1({"template": "big"})) == {"tenant:a/t1"}
}

test_template_version_allowed_allows_a_matching_range if {
	inp := fixture.with_t1({"version": "1.9.3"})
	not "template-version-allowed" in fixture.rules(inp)
}

test_template_version_allowed_denies_another_major if {
	inp := fixture.with_t1({"version": "2.0.0"})
	fixture.subjects("template-version-allowed", inp) == {"tenant:a/t1"}
	not "template-allowed" in fixture.rules(inp)
}

test_template_version_allowed_exact_and_star if {
	exact := object.union(fixture.clean, {"projects": {"a": {"templates": [{"name": "small", "versions": ["1.2.0"]}]}}})
	not "template-version-allowed" in fixture.rules(exact)
	star := object.union(fixture.clean, {"projects": {"a": {"templates": [{"name": "small", "versions": ["*"]}]}}})
	not "template-version-allowed" in fixture.rules(object.union(star, {"tenants": {"a/t1": {"version": "7.0.0"}}}))
}

test_template_version_allowed_denies_a_version_the_fleet_does_not_define if {
	star := object.union(fixture.clean, {"projects": {"a": {"templates": [{"name": "small", "versions": ["*"]}]}}})
	inp := object.union(star, {"tenants": {"a/t1": {"version": "9.9.9"}}})
	fixture.subjects("template-version-allowed", inp) == {"tenant:a/t1"}
}

test_template_allowed_lists_a_template_twice if {
	twice := [{"name": "small", "versions": ["2.x"]}, {"name": "small", "versions": ["1.x"]}]
	inp := object.union(fixture.clean, {"projects": {"a": {"templates": twice}}})
	count(fixture.violations(inp)) == 0
}

test_cluster_allowed_allows_a_named_cluster if {
	not "cluster-allowed" in fixture.rules(fixture.clean)
}

test_cluster_allowed_denies_another_cluster if {
	fixture.subjects("cluster-allowed", fixture.with_t1({"cluster": "c2"})) == {"tenant:a/t1"}
}

test_cluster_allowed_by_selector if {
	inp := object.union(fixture.clean, {
		"projects": {"a": {"clusters": {"names": [], "selector": {"matchLabels": {"region": "us"}}}}},
		"tenants": {"a/t1": {"cluster": "c2"}},
	})
	fixture.subjects("cluster-allowed", inp) == {"tenant:a/t2"}
}

test_cluster_allowed_without_restriction if {
	inp := object.union(fixture.clean, {
		"projects": {"a": {"clusters": {"names": [], "selector": null}}},
		"tenants": {"a/t1": {"cluster": "c2"}},
	})
	not "cluster-allowed" in fixture.rules(inp)
}

test_cluster_allowed_ignores_unplaced_tenants if {
	not "cluster-allowed" in fixture.rules(fixture.with_t1({"cluster": null}))
}

test_cluster_allowed_message_names_what_is_allowed if {
	inp := object.union(fixture.clean, {
		"projects": {"a": {"clusters": {"names": ["c1"], "selector": {"matchLabels": {"region": "eu"}}}}},
		"tenants": {"a/t1": {"cluster": "c2"}},
	})
	some v in fixture.violations(inp)
	v.rule == "cluster-allowed"
	contains(v.message, `allowed: c1, or clusters labelled {"region": "eu"}`)
}
