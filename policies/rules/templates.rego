# A project's tenants use only the templates, template versions and clusters the project allows.
#
# Efficiency: what a project allows is worked out once per project (the tables below are rules, so OPA
# computes each entry once per query and caches it); the per-tenant part is a set lookup, so 10,000
# tenants cost two cheap passes, not 10,000 comprehensions or selector matches.
package vfleet.rules.templates

import data.vfleet.lib

violation contains lib.violation(
	"template-allowed",
	t.subject,
	sprintf("template %q is not allowed in project %q (allowed: %s); use one of those or add it to the project's spec.templates", [t.template, t.project, lib.names(_allowed_names(input.projects[t.project]))]),
	["spec", "template", "name"],
) if {
	some t in _unallowed_versions
	not allowed_templates[t.project][t.template]
}

violation contains lib.violation(
	"template-version-allowed",
	t.subject,
	sprintf("template %q version %s is not allowed in project %q (allowed: %s); pin an allowed version or widen the project's spec.templates", [t.template, t.version, t.project, lib.names(_patterns(input.projects[t.project], t.template))]),
	["spec", "template", "version"],
) if {
	some t in _unallowed_versions
	allowed_templates[t.project][t.template] # otherwise template-allowed reports the tenant
}

# One pass over the tenants for both rules above: those whose template version the project does not
# allow, whether because of the version or because the template is not allowed at all.
_unallowed_versions := [t | some t in input.tenants; not allowed_versions[t.project][t.template][t.version]]

violation contains lib.violation(
	"cluster-allowed",
	t.subject,
	sprintf("tenant is placed on cluster %q, which project %q does not allow (%s); choose an allowed cluster or extend the project's spec.clusters", [t.cluster, t.project, _describe(input.projects[t.project].clusters)]),
	["spec", "cluster"],
) if {
	some t in input.tenants
	t.cluster != null
	not allowed_clusters[t.project][t.cluster]
}

# project -> the set of template names it allows.
allowed_templates[name] := {a.name | some a in p.templates} if some name, p in input.projects

# project -> template -> the set of that template's versions (as the fleet defines them in
# input.templates) that one of the project's patterns for it matches. A version the fleet does not
# define matches nothing, so it is denied rather than waved through.
allowed_versions[name] := {a.name: _matching(p, a.name) | some a in p.templates} if some name, p in input.projects

_matching(project, template) := {version |
	some version, _ in input.templates[template].versions
	some pattern in _patterns(project, template)
	lib.version_matches(pattern, version)
}

# Every version pattern the project lists for a template (a template may be listed more than once).
_patterns(project, template) := [pattern | some a in project.templates; a.name == template; some pattern in a.versions]

# project -> the set of cluster names it allows: named ones, those its selector matches, or every
# cluster when it names none and has no selector.
allowed_clusters[name] := _clusters(p.clusters) if some name, p in input.projects

_clusters(allowed) := {c | some c, _ in input.clusters} if {
	count(allowed.names) == 0
	allowed.selector == null
}

_clusters(allowed) := {c | some c in allowed.names} | {c |
	some c, cluster in input.clusters
	lib.selector_matches(allowed.selector, cluster.labels)
} if allowed.selector != null

_clusters(allowed) := {c | some c in allowed.names} if {
	count(allowed.names) > 0
	allowed.selector == null
}

_allowed_names(p) := [a.name | some a in p.templates]

_describe(clusters) := sprintf("allowed: %s", [lib.names(clusters.names)]) if clusters.selector == null

_describe(clusters) := sprintf("allowed: clusters labelled %v", [clusters.selector.matchLabels]) if {
	clusters.selector != null
	count(clusters.names) == 0
}

_describe(clusters) := sprintf("allowed: %s, or clusters labelled %v", [lib.names(clusters.names), clusters.selector.matchLabels]) if {
	clusters.selector != null
	count(clusters.names) > 0
}
