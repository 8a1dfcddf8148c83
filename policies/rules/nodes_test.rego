package vfleet.rules.nodes_test

import data.vfleet.test.fixture

pool(provider) := {"name": "gpu", "provider": provider, "nodeType": "gpu-large", "quantity": 1, "taints": []}

# Tenant a/t1 changed, and the project's sums with it (the rules look at them first, as vfleet
# computes them from the same tenants).
with_t1(extra, usage) := object.union(fixture.with_t1(extra), {"projects": {"a": {"usage": usage}}})

test_node_provider_offered_allows_an_offered_provider if {
	not "node-provider-offered" in fixture.rules(with_t1({"privateNodes": [pool("metal")]}, {"nodeClaims": {"metal": 1}}))
}

test_node_provider_offered_denies_on_a_cluster_without_it if {
	inp := with_t1({"privateNodes": [pool("metal")], "cluster": "c2"}, {"nodeClaims": {"metal": 1}})
	fixture.subjects("node-provider-offered", inp) == {"tenant:a/t1"}
}

with_claimed(n) := object.union(fixture.clean, {"nodeProviders": {"metal": {"nodeTypes": {"gpu-large": {"claimed": n}}}}})

test_node_type_capacity_allows_up_to_max if {
	not "node-type-capacity" in fixture.rules(with_claimed(4))
}

test_node_type_capacity_denies_above_max if {
	inp := with_claimed(5)
	fixture.subjects("node-type-capacity", inp) == {"nodeprovider:metal"}
	some v in fixture.violations(inp)
	v.field == ["spec", "nodeTypes", 0, "maxCapacity"]
}

test_gpu_private_nodes_allows_gpus_on_private_nodes if {
	inp := with_t1({"resources": {"gpus": 1}, "privateNodes": [pool("metal")]}, {"gpus": 1, "nodeClaims": {"metal": 1}})
	not "gpu-private-nodes" in fixture.rules(inp)
}

test_gpu_private_nodes_denies_gpus_without_private_nodes if {
	fixture.subjects("gpu-private-nodes", with_t1({"resources": {"gpus": 1}}, {"gpus": 1})) == {"tenant:a/t1"}
}
