# Helpers shared by the guardrail rules. No rule here produces a violation.
package vfleet.lib

# A violation entry, as every rule package returns it in its `violation` set.
# `field` is a path inside the subject's spec document; vfleet turns it into the file:line of the finding.
violation(rule, subject, message, field) := {
	"rule": rule,
	"subject": subject,
	"message": message,
	"field": field,
}

# The policy configuration (policies/data.yaml, loaded at data.vfleet.config), or {} without one.
default config := {}

config := data.vfleet.config

# One setting of the configuration, with its default when the data file does not set it.
setting(name, default_value) := object.get(config, name, default_value)

# Template version patterns, as projects write them: "*", "1.x", "1.2.x" or an exact version.
version_matches("*", _)

version_matches(pattern, version) if pattern == version

version_matches(pattern, version) if {
	endswith(pattern, ".x")
	startswith(version, trim_suffix(pattern, "x"))
}

# A Kubernetes label selector: every label of matchLabels is present with that value, and every
# requirement of matchExpressions holds (NotIn and DoesNotExist also hold for an absent key).
selector_matches(selector, labels) if {
	every key, value in object.get(selector, "matchLabels", {}) {
		object.get(labels, key, null) == value
	}
	every requirement in object.get(selector, "matchExpressions", []) {
		requirement_holds(requirement, labels)
	}
}

requirement_holds(r, labels) if {
	r.operator == "In"
	labels[r.key] in r.values
}

requirement_holds(r, labels) if {
	r.operator == "NotIn"
	every value in r.values {
		object.get(labels, r.key, null) != value
	}
}

requirement_holds(r, labels) if {
	r.operator == "Exists"
	labels[r.key]
}

requirement_holds(r, labels) if {
	r.operator == "DoesNotExist"
	not labels[r.key]
}

# The project a subject belongs to: "tenant:<project>/<name>" and "project:<name>"; others have none.
project_of(subject) := split(trim_prefix(subject, "tenant:"), "/")[0] if startswith(subject, "tenant:")

project_of(subject) := trim_prefix(subject, "project:") if startswith(subject, "project:")

# A list of names for messages; "none" when empty.
names(list) := concat(", ", list) if count(list) > 0

names(list) := "none" if count(list) == 0

# Numbers for messages: cores as written, bytes in Gi, both rounded to two decimals.
cores(n) := sprintf("%v", [round(n * 100) / 100])

gib(n) := sprintf("%vGi", [round((n * 100) / 1073741824) / 100])

# How a resource amount reads in a message.
amount("cpu", n) := cores(n)

amount("memory", n) := gib(n)

amount("storage", n) := gib(n)

amount("gpus", n) := sprintf("%v", [n])

# Pod security levels from most permissive to strictest.
pod_security_rank := {"privileged": 0, "baseline": 1, "restricted": 2}
