package vfleet.lib_test

import data.vfleet.lib

labels := {"region": "eu", "tier": "gold"}

test_selector_match_labels if {
	lib.selector_matches({"matchLabels": {"region": "eu"}}, labels)
	not lib.selector_matches({"matchLabels": {"region": "us"}}, labels)
	lib.selector_matches({}, labels)
}

test_selector_in_and_not_in if {
	lib.selector_matches({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold", "silver"]}]}, labels)
	not lib.selector_matches({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["bronze"]}]}, labels)
	not lib.selector_matches({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}, labels)
	lib.selector_matches({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["bronze"]}]}, labels)
	not lib.selector_matches({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gold"]}]}, labels)
	lib.selector_matches({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, labels)
}

test_selector_exists_and_does_not_exist if {
	lib.selector_matches({"matchExpressions": [{"key": "tier", "operator": "Exists", "values": []}]}, labels)
	not lib.selector_matches({"matchExpressions": [{"key": "zone", "operator": "Exists", "values": []}]}, labels)
	lib.selector_matches({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist", "values": []}]}, labels)
	not lib.selector_matches({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist", "values": []}]}, labels)
}

test_selector_needs_labels_and_expressions_both if {
	not lib.selector_matches(
		{"matchLabels": {"region": "us"}, "matchExpressions": [{"key": "tier", "operator": "Exists", "values": []}]},
		labels,
	)
}
