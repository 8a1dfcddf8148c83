package vfleet.main_test

import data.vfleet.main
import data.vfleet.test.fixture

stranger := fixture.with_t1({"owner": "mallory"})

dev := fixture.with_t1({"labels": {"env": "dev"}})

test_severity_comes_from_data if {
	entries := main.deny with input as stranger with data.vfleet.config as {"severity": {"owner-member": "deny"}}
	{e.rule | some e in entries} == {"owner-member"}
	warned := main.warn with input as stranger with data.vfleet.config as {"severity": {"owner-member": "warn"}}
	{e.subject | some e in warned} == {"tenant:a/t1"}
	count(main.deny) == 0 with input as stranger with data.vfleet.config as {"severity": {"owner-member": "warn"}}
}

test_off_reports_nothing if {
	cfg := {"severity": {"owner-member": "off"}}
	(count(main.deny) + count(main.warn)) + count(main.excepted) == 0 with input as stranger with data.vfleet.config as cfg
}

test_unknown_rules_default_to_deny if {
	count(main.deny) == 1 with input as stranger with data.vfleet.config as {}
	count(main.warn) == 1 with input as stranger with data.vfleet.config as {"defaultSeverity": "warn"}
}

test_the_shipped_configuration_warns_on_dev_sleep if {
	{e.rule | some e in main.warn} == {"dev-sleep"} with input as dev
	count(main.deny) == 0 with input as dev
}

test_project_exception_covers_every_tenant if {
	cfg := {"exceptions": [{"project": "a", "rules": ["owner-member"], "reason": "migration"}]}
	count(main.deny) == 0 with input as stranger with data.vfleet.config as cfg
	excepted := main.excepted with input as stranger with data.vfleet.config as cfg
	{[e.subject, e.reason] | some e in excepted} == {["tenant:a/t1", "migration"]}
}

test_tenant_exception_covers_only_listed_tenants if {
	both := object.union(stranger, {"tenants": {"a/t2": {"owner": "mallory"}}})
	cfg := {"exceptions": [{"project": "a", "rules": ["owner-member"], "tenants": ["t2"]}]}
	denied := main.deny with input as both with data.vfleet.config as cfg
	{e.subject | some e in denied} == {"tenant:a/t1"}
}

test_exception_of_another_project_does_not_apply if {
	cfg := {"exceptions": [{"project": "b", "rules": ["owner-member"]}]}
	count(main.deny) == 1 with input as stranger with data.vfleet.config as cfg
}

test_configuration_errors_are_reported if {
	cfg := {"severity": {"owner-member": "dney"}, "exceptions": [{"rules": ["x"]}]}
	count(main.errors) == 2 with input as fixture.clean with data.vfleet.config as cfg
	count(main.errors) == 0 with input as fixture.clean
}

test_a_bare_yaml_off_is_explained if {
	some e in main.errors with input as fixture.clean with data.vfleet.config as {"severity": {"owner-member": false}}
	contains(e.message, "in quotes")
}

test_a_malformed_violation_is_an_error if {
	errs := main.errors with input as fixture.clean with data.vfleet.rules.extra.violation as {"oops"}
	{e.kind | some e in errs} == {"result"}
}

test_a_misspelt_severity_still_denies if {
	count(main.deny) == 1 with input as stranger with data.vfleet.config as {"severity": {"owner-member": "dney"}}
}
