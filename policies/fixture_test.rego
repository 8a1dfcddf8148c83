# A small, clean policy input shared by the unit tests: no rule fires on `clean`. Each test changes
# one thing (object.union merges objects deeply) and checks that exactly the expected rule fires.
package vfleet.test.fixture

gib := 1073741824

tenant(project, name, extra) := object.union(
	{
		"key": sprintf("%s/%s", [project, name]),
		"subject": sprintf("tenant:%s/%s", [project, name]),
		"project": project,
		"name": name,
		"namespace": sprintf("vc-%s-%s", [project, name]),
		"labels": {},
		"owner": "alice",
		"template": "small",
		"version": "1.2.0",
		"versionRequested": "1.x",
		"parameters": {},
		"resources": {"cpu": 1, "memory": 2 * gib, "storage": 5 * gib, "gpus": 0},
		"cluster": "c1",
		"awake": true,
		"sleep": null,
		"autoDelete": null,
		"protect": false,
		"podSecurity": "baseline",
		"privateNodes": [],
		"access": [],
		"values": {"policies": {"networkPolicy": {"enabled": true}}},
		"source": {"file": sprintf("fleet/projects/%s/tenants/%s.yaml", [project, name]), "line": 1},
	},
	extra,
)

_no_quotas := {
	"tenants": null, "awakeTenants": null, "templates": {}, "cpu": null, "memory": null,
	"storage": null, "gpus": null, "nodeClaims": {},
}

clean := {
	"apiVersion": "vfleet.dev/policy-input/v1",
	"revision": null,
	"clusters": {
		"c1": {
			"name": "c1", "subject": "cluster:c1", "labels": {"region": "eu"},
			"capacity": {"cpu": 8, "memory": 32 * gib, "storage": 100 * gib, "gpus": 2, "maxTenants": 3},
			"nodeProviders": ["metal"], "wave": 0, "awaitTenants": true,
			"usage": {"tenants": 2, "awakeTenants": 2, "cpu": 2, "memory": 4 * gib, "storage": 10 * gib, "gpus": 0},
			"source": {"file": "fleet/clusters/c1.yaml", "line": 1},
		},
		"c2": {
			"name": "c2", "subject": "cluster:c2", "labels": {"region": "us"},
			"capacity": {"cpu": null, "memory": null, "storage": null, "gpus": null, "maxTenants": null},
			"nodeProviders": [], "wave": 1, "awaitTenants": true,
			"usage": {"tenants": 0, "awakeTenants": 0, "cpu": 0, "memory": 0, "storage": 0, "gpus": 0},
			"source": {"file": "fleet/clusters/c2.yaml", "line": 1},
		},
	},
	"projects": {"a": {
		"name": "a", "subject": "project:a", "labels": {},
		"members": [{"user": "alice", "role": "admin"}, {"team": "devs", "role": "user"}, {"group": "oidc:ops", "role": "viewer"}],
		"quotas": object.union(_no_quotas, {
			"tenants": 2, "awakeTenants": 2, "templates": {"small": 2}, "cpu": 2, "memory": 4 * gib,
			"storage": 10 * gib, "gpus": 0, "nodeClaims": {"metal": 0},
		}),
		"templates": [{"name": "small", "versions": ["1.x"]}],
		"defaultTemplate": {"name": "small", "version": "1.x"},
		"clusters": {"names": ["c1"], "selector": null},
		"defaults": {"podSecurity": null, "sleep": null, "autoDelete": null},
		"usage": {
			"tenants": 2, "awakeTenants": 2, "templates": {"small": 2}, "cpu": 2, "memory": 4 * gib,
			"storage": 10 * gib, "gpus": 0, "nodeClaims": {},
		},
		"source": {"file": "fleet/projects/a/project.yaml", "line": 1},
	}},
	"templates": {"small": {
		"name": "small", "subject": "template:small",
		"versions": {v: {"version": v, "chartVersion": "0.35.3", "deprecated": false, "parameters": [], "resources": {}} |
			some v in ["1.2.0", "1.9.3", "2.0.0", "7.0.0"]
		},
		"source": {"file": "templates/small/template.yaml", "line": 1},
	}},
	"nodeProviders": {"metal": {
		"name": "metal", "subject": "nodeprovider:metal", "type": "metal3",
		"nodeTypes": {"gpu-large": {
			"name": "gpu-large", "index": 0, "resources": {"cpu": 32, "memory": 256 * gib, "nvidia.com/gpu": 4},
			"properties": {}, "maxCapacity": 4, "claimed": 0,
		}},
		"source": {"file": "fleet/nodes/metal.yaml", "line": 1},
	}},
	"teams": {"devs": {
		"name": "devs", "subject": "team:devs", "displayName": null, "members": ["bob"], "groups": [],
		"source": {"file": "fleet/teams/devs.yaml", "line": 1},
	}},
	"tenants": {
		"a/t1": tenant("a", "t1", {}),
		"a/t2": tenant("a", "t2", {"owner": "bob"}),
	},
}

# The input with tenant a/t1 changed.
with_t1(extra) := object.union(clean, {"tenants": {"a/t1": extra}})

# Every violation, whatever its configured severity.
violations(inp) := vs if {
	vs := data.vfleet.main.violations with input as inp
}

# The subjects a rule names for `inp`.
subjects(rule, inp) := {v.subject | some v in violations(inp); v.rule == rule}

# The rules that fire for `inp`.
rules(inp) := {v.rule | some v in violations(inp)}
