# A project's tenants use only the templates, template versions and clusters the project allows.
package vfleet.rules.templates

import data.vfleet.lib

violation contains lib.violation(
	"template-allowed",
	t.subject,
	sprintf("template %q is not allowed in project %q (allowed: %s); use one of those or add it to the project's spec.templates", [t.template, t.project, lib.names(_allowed_names(p))]),
	["spec", "template", "name"],
) if {
	some t in input.tenants
	p := input.projects[t.project]
	not t.template in _allowed_names(p)
}

violation contains lib.violation(
	"template-version-allowed",
	t.subject,
	sprintf("template %q version %s is not allowed in project %q (allowed: %s); pin an allowed version or widen the project's spec.templates", [t.template, t.version, t.project, lib.names(a.versions)]),
	["spec", "template", "version"],
) if {
	some t in input.tenants
	some a in input.projects[t.project].templates
	a.name == t.template
	not _version_allowed(a, t.version)
}

violation contains lib.violation(
	"cluster-allowed",
	t.subject,
	sprintf("tenant is placed on cluster %q, which project %q does not allow (%s); choose an allowed cluster or extend the project's spec.clusters", [t.cluster, t.project, _describe(p.clusters)]),
	["spec", "cluster"],
) if {
	some t in input.tenants
	t.cluster != null
	p := input.projects[t.project]
	not _cluster_allowed(p.clusters, t.cluster)
}

_allowed_names(p) := [a.name | some a in p.templates]

_version_allowed(allowed, version) if {
	some pattern in allowed.versions
	lib.version_matches(pattern, version)
}

# A project that names no clusters and has no selector allows every cluster.
_cluster_allowed(clusters, _) if {
	count(clusters.names) == 0
	clusters.selector == null
}

_cluster_allowed(clusters, name) if name in clusters.names

_cluster_allowed(clusters, name) if {
	clusters.selector != null
	lib.selector_matches(clusters.selector, input.clusters[name].labels)
}

_describe(clusters) := sprintf("allowed: %s", [lib.names(clusters.names)]) if clusters.selector == null

_describe(clusters) := sprintf("allowed: clusters labelled %v", [clusters.selector.matchLabels]) if {
	clusters.selector != null
	count(clusters.names) == 0
}

_describe(clusters) := sprintf("allowed: %s, or clusters labelled %v", [lib.names(clusters.names), clusters.selector.matchLabels]) if {
	clusters.selector != null
	count(clusters.names) > 0
}
