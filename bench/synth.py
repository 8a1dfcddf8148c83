"""Synthetic fleets: N projects x M tenants x K clusters, shaped like the example fleet.

    python bench/synth.py OUT_DIR --projects 100 --tenants 10000 --clusters 100 [--fill 0.8]

writes a complete fleet repository (clusters, teams, projects, tenants, one template with two versions,
vfleet.yaml) and its placement.lock, ready for `vfleet compile OUT_DIR`. Deterministic: the same
arguments give the same bytes.

Any size fits: tenants and clusters are spread over up to three regions, and each cluster's capacity
is sized from its region's demand so that tenants fill `fill` of it (maxTenants is the binding limit;
cpu, memory and storage allow the largest tenant at every slot). `--fill 1.1` makes a deliberately
over-full fleet: about a tenth of each region's tenants find no cluster (`place.no-cluster`), and
placement.lock is then not written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCHEMAS = (REPO / ".." / "shared" / "contracts").resolve()

TEMPLATE = """apiVersion: vfleet.dev/v1alpha1
kind: Template
metadata:
  name: shared
spec:
  description: Synthetic shared-nodes tenant
  versions:
{versions}"""

VERSION = """    - version: {version}
      chartVersion: 0.35.3
      values: values-{version}.yaml.j2
      resources: {{cpu: cpu, memory: memory, storage: storage}}
      parameters:
        - {{name: cpu, type: quantity, default: "2", min: 100m, max: "16"}}
        - {{name: memory, type: quantity, default: 4Gi, min: 256Mi, max: 64Gi}}
        - {{name: storage, type: quantity, default: 10Gi, max: 500Gi}}
        - {{name: k8sVersion, type: enum, options: ["1.33", "1.34", "1.35"], default: "1.35"}}
        - {{name: replicas, type: int, default: 1, min: 1, max: 3}}
        - {{name: exposeMetrics, type: bool, default: false}}
"""

VALUES = """controlPlane:
  distro:
    k8s:
      enabled: true
      image:
        tag: {{ "v" ~ k8sVersion ~ ".0" }}
  statefulSet:
    highAvailability:
      replicas: {{ replicas }}
    resources:
      requests:
        cpu: {{ cpu }}
        memory: {{ memory }}
      limits:
        memory: {{ memory }}
    persistence:
      volumeClaim:
        size: {{ storage }}
  serviceMonitor:
    enabled: {{ exposeMetrics }}
policies:
  networkPolicy:
    enabled: true
telemetry:
  enabled: false
"""

CLUSTER = """apiVersion: vfleet.dev/v1alpha1
kind: Cluster
metadata:
  name: {name}
  labels: {{region: {region}, env: prod}}
spec:
  kubeconfig: {{env: {env}}}
  capacity: {{cpu: "{cpu}", memory: {memory}Gi, storage: {storage}Gi, gpus: 0, maxTenants: {slots}}}
  rollout: {{wave: {wave}, awaitTenants: true}}
"""

PROJECT = """apiVersion: vfleet.dev/v1alpha1
kind: Project
metadata:
  name: {name}
spec:
  displayName: Synthetic project {index}
  members:
    - {{user: owner-{index}, role: admin}}
    - {{team: platform, role: viewer}}
    - {{group: "oidc:{name}-devs", role: user}}
  quotas: {{tenants: 100000}}
  templates:
    - {{name: shared, versions: ["1.x"]}}
  defaultTemplate: {{name: shared, version: "1.x"}}
  clusters:
    selector: {{matchLabels: {{env: prod}}}}
  defaults:
    sleep: {{afterInactivity: 2h}}
"""

TENANT = """apiVersion: vfleet.dev/v1alpha1
kind: Tenant
metadata:
  name: {name}
  labels: {{env: {env}, team: {project}}}
spec:
  template: {{name: shared, version: "1.x"}}
  owner: owner-{pindex}
  placement: {{matchLabels: {{region: {region}}}}}
  parameters:
    cpu: "{cpu}"
    memory: {memory}Gi
    k8sVersion: "1.35"
  sleep:
    afterInactivity: 2h
    schedule: "0 20 * * 1-5"
    wakeup: "0 7 * * 1-5"
    timezone: Europe/Berlin
  autoDelete: {{afterInactivity: 720h}}
  protect: {protect}
"""

TEAM = """apiVersion: vfleet.dev/v1alpha1
kind: Team
metadata:
  name: platform
spec:
  members: [alice, bob]
  groups: ["oidc:platform"]
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


PLATFORM = """apiVersion: vfleet.dev/v1alpha1
kind: Platform
metadata:
  name: platform
spec:
  members:
    - group: eng-platform
      role: admin
"""


REGIONS = ("eu", "us", "ap")
LARGEST_TENANT = {"cpu": 4, "memory_gi": 7, "storage_gi": 10}  # TENANT's cpu 1..4, memory 2..7Gi; storage default


def regions_for(clusters: int) -> tuple[str, ...]:
    """The regions in use: one per cluster up to three, so that every region has a cluster."""
    return REGIONS[: max(1, min(len(REGIONS), clusters))]


def cluster_name(index: int, clusters: int) -> str:
    regions = regions_for(clusters)
    return f"{regions[index % len(regions)]}-{index:0{max(3, len(str(clusters - 1)))}d}"


def tenant_name(index: int, tenants: int) -> str:
    return f"tenant-{index:0{max(5, len(str(tenants - 1)))}d}"


def _count(total: int, index: int, buckets: int) -> int:
    """How many of range(total) fall in bucket `index` when item i goes to bucket i % buckets."""
    return total // buckets + (1 if index < total % buckets else 0)


def generate(
    root: Path, projects: int, tenants: int, clusters: int, schemas: Path = DEFAULT_SCHEMAS, fill: float = 0.8
) -> None:
    """Write the fleet (without placement.lock: `place_lock` computes it with vfleet itself)."""
    if clusters < 1 or tenants < 0 or projects < 1 or fill <= 0:
        raise ValueError("clusters and projects must be >= 1, tenants >= 0 and fill > 0")
    regions = regions_for(clusters)
    _write(root / "vfleet.yaml", f"chartSchemas: [{str(schemas)!r}]\n")
    versions = "".join(VERSION.format(version=v) for v in ("1.0.0", "1.1.0"))
    _write(root / "templates" / "shared" / "template.yaml", TEMPLATE.format(versions=versions))
    for v in ("1.0.0", "1.1.0"):
        _write(root / "templates" / "shared" / f"values-{v}.yaml.j2", VALUES)
    _write(root / "fleet" / "teams" / "platform.yaml", TEAM)
    _write(root / "fleet" / "platform.yaml", PLATFORM)  # production clusters need a platform admin group
    for c in range(clusters):
        name = cluster_name(c, clusters)
        region = c % len(regions)
        demand = _count(tenants, region, len(regions)) / _count(clusters, region, len(regions))
        slots = max(1, int(-(-demand // fill)))  # ceil(demand / fill)
        _write(root / "fleet" / "clusters" / f"{name}.yaml",
               CLUSTER.format(name=name, region=regions[region], env=f"KUBECONFIG_{c:04d}", wave=c % 3,
                              slots=slots, cpu=slots * LARGEST_TENANT["cpu"],
                              memory=slots * LARGEST_TENANT["memory_gi"],
                              storage=slots * LARGEST_TENANT["storage_gi"]))
    for p in range(projects):
        pname = f"proj-{p:03d}"
        _write(root / "fleet" / "projects" / pname / "project.yaml", PROJECT.format(name=pname, index=p))
    for t in range(tenants):
        p = t % projects
        pname = f"proj-{p:03d}"
        name = tenant_name(t, tenants)
        env = "prod" if t % 5 == 0 else "dev"
        _write(root / "fleet" / "projects" / pname / "tenants" / f"{name}.yaml",
               TENANT.format(name=name, env=env, project=pname, pindex=p, region=regions[t % len(regions)],
                             cpu=1 + t % 4, memory=2 + t % 6, protect=str(env == "prod").lower()))


def place_lock(root: Path) -> None:
    """Compute and write placement.lock with vfleet's own place stage."""
    from vfleet import compile as compiler
    from vfleet import place

    compiled = compiler.compile_fleet(root, check_lock=False)
    if compiled.findings.errors:
        raise SystemExit("\n".join(f"{f.location}: {f.message}" for f in compiled.findings.errors[:20]))
    place.write_lock(root, compiled.placement)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--schemas", type=Path, default=DEFAULT_SCHEMAS)
    parser.add_argument("--fill", type=float, default=0.8,
                        help="share of cluster capacity the tenants use; above 1 some tenants do not fit")
    args = parser.parse_args(argv)
    generate(args.out, args.projects, args.tenants, args.clusters, args.schemas, args.fill)
    print(f"wrote {args.tenants} tenants / {args.projects} projects / {args.clusters} clusters to {args.out}")
    if args.fill > 1:
        print(f"over-full fleet (fill {args.fill}): placement.lock not written; `vfleet place` names who does not fit")
    else:
        place_lock(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
