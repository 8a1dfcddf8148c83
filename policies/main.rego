# The entry point vfleet queries, once for the whole fleet: POST /v1/data/vfleet/main.
#
# Rule packages (vfleet.rules.*) only say what is wrong: each returns a `violation` set of
# {rule, subject, message, field}. Whether a violation denies, warns or is switched off, and which
# projects are excepted from a rule, is data (data.vfleet.config, policies/data.yaml), so changing a
# severity or granting an exception never touches rule code.
package vfleet.main

import data.vfleet.lib

# Every violation of every rule package under data.vfleet.rules.
violations contains v if {
	some pkg
	some v in data.vfleet.rules[pkg].violation
}

# A rule's severity: its own entry, else `defaultSeverity`, else deny. An unknown rule, or a value
# that is not a severity (also reported in `errors`), denies: the gate fails closed.
severity(rule) := _checked(s) if {
	s := lib.config.severity[rule]
} else := _checked(s) if {
	s := lib.config.defaultSeverity
} else := "deny"

_checked(s) := s if {
	s in _severities
} else := "deny"

_severities := {"deny", "warn", "off"}

# An exception: {project, rules: [...], tenants: [...] (optional), reason}. Without `tenants` it covers
# the project itself and every tenant of it; with `tenants`, only the tenants it lists.
exceptions_for(v) := [e |
	some e in lib.setting("exceptions", [])
	v.rule in e.rules
	lib.project_of(v.subject) == e.project
	_covers(e, v.subject)
]

_covers(e, _) if not "tenants" in object.keys(e)

_covers(e, subject) if {
	some name in e.tenants
	subject == sprintf("tenant:%s/%s", [e.project, name])
}

_excepted(v) if count(exceptions_for(v)) > 0

deny contains v if {
	some v in violations
	severity(v.rule) == "deny"
	not _excepted(v)
}

warn contains v if {
	some v in violations
	severity(v.rule) == "warn"
	not _excepted(v)
}

# Violations an exception let through, with its reason: reported, never blocking.
excepted contains object.union(v, {"reason": object.get(exceptions_for(v)[0], "reason", "")}) if {
	some v in violations
	severity(v.rule) != "off"
	_excepted(v)
}

# What vfleet reports as errors (exit 2): mistakes in the configuration, and rule results it cannot
# read. A typo in a severity or a sloppy rule must not quietly turn a deny into nothing.
errors contains {"kind": "config", "message": _severity_error(rule, s)} if {
	some rule, s in object.get(lib.config, "severity", {})
	not s in _severities
}

errors contains {"kind": "config", "message": _severity_error("defaultSeverity", s)} if {
	s := lib.config.defaultSeverity
	not s in _severities
}

_severity_error(name, false) := sprintf("severity of %q is false: write \"off\" in quotes (YAML reads a bare off as false)", [name])

_severity_error(name, s) := sprintf("severity of %q is %v; use one of deny, warn, off", [name, s]) if s != false

errors contains {"kind": "config", "message": msg} if {
	some i, e in lib.setting("exceptions", [])
	not _well_formed(e)
	msg := sprintf("exception %d needs a 'project' (string) and 'rules' (list of rule names)", [i])
}

_well_formed(e) if {
	is_string(e.project)
	is_array(e.rules)
	is_array(object.get(e, "tenants", []))
}

errors contains {"kind": "result", "message": msg} if {
	some pkg
	some v in data.vfleet.rules[pkg].violation
	not _is_violation(v)
	msg := sprintf("rule package vfleet.rules.%s returned a malformed violation %v: each needs string 'rule', 'subject' and 'message' (use lib.violation)", [pkg, v])
}

_is_violation(v) if {
	is_string(v.rule)
	is_string(v.subject)
	is_string(v.message)
}
