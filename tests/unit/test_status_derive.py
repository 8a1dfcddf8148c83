"""status without clusters: phases from live objects, the fleet view derived from observations, Helm
release records (decoding, newest revision, the cache), and the summaries shown per tenant."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from fleetkit import write_fleet
from vfleet import compile as compiler
from vfleet import place
from vfleet.core.findings import error
from vfleet.core.jsonyaml import canonical_hash
from vfleet.core.naming import SLEEPING_ANNOTATION
from vfleet.live import releases
from vfleet.live.releases import BadRecord, RecordCache, ReleaseRecord
from vfleet.live.status import (
    Live,
    Observation,
    Phase,
    _values_match,
    auto_delete_summary,
    derive,
    phase,
    sleep_summary,
)
from vfleet.specs import AutoDelete, Sleep

# ------------------------------------------------------------------------------------------------ phases


def ns(terminating: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "vc-alpha-dev"}
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"phase": "Terminating" if terminating else "Active"}}


def sts(replicas: int = 1, ready: int = 0, annotations: dict[str, str] | None = None,
        deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "dev", "namespace": "vc-alpha-dev", "annotations": annotations or {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"replicas": replicas}, "status": {"readyReplicas": ready}}


def rec(status: str = "deployed", description: str = "", config: Any = None, chart: str = "0.35.3",
        revision: int = 1) -> ReleaseRecord:
    values = {} if config is None else config
    return ReleaseRecord("vc-alpha-dev", "dev", revision, status, "vcluster", chart, canonical_hash(values),
                         canonical_hash(releases.numbers_as_floats(values)), None, description)


@pytest.mark.parametrize(
    ("live", "expected", "reason"),
    [
        (Live(None, None, None, "cluster unreachable: x"), Phase.UNKNOWN, "cluster unreachable: x"),
        (Live(None, None, None), Phase.NOT_DEPLOYED, ""),
        (Live(ns(), None, None), Phase.NOT_DEPLOYED, ""),
        (Live(ns(), rec("uninstalled"), None), Phase.NOT_DEPLOYED, ""),
        (Live(ns(terminating=True), rec(), sts()), Phase.DELETING, "its namespace is terminating"),
        (Live(ns(), rec("uninstalling"), sts()), Phase.DELETING, "helm is uninstalling it"),
        (Live(ns(), rec(), sts(deleting=True)), Phase.DELETING, "its StatefulSet is being deleted"),
        (Live(ns(), "its Helm release record does not decode (x)", sts()), Phase.FAILED,
         "its Helm release record does not decode (x)"),
        (Live(ns(), rec("failed", "timed out"), sts()), Phase.FAILED, "helm: timed out"),
        (Live(ns(), rec("pending-install"), None), Phase.STARTING, "helm: pending-install"),
        (Live(ns(), rec("pending-upgrade"), sts(ready=1)), Phase.STARTING, "helm: pending-upgrade"),
        (Live(ns(), rec(), None), Phase.FAILED, "helm release deployed but its StatefulSet is missing"),
        (Live(ns(), rec(), sts(0, annotations={SLEEPING_ANNOTATION: "true"})), Phase.SLEEPING, ""),
        (Live(ns(), rec(), sts(0, annotations={"loft.sh/paused": "true"})), Phase.SLEEPING, ""),
        (Live(ns(), rec(), sts(0, annotations={SLEEPING_ANNOTATION: "false"})), Phase.FAILED,
         "scaled to 0 replicas without a sleep annotation"),
        (Live(ns(), rec(), sts(1, ready=0)), Phase.STARTING, "0/1 replicas ready"),
        (Live(ns(), rec(), sts(3, ready=2)), Phase.STARTING, "2/3 replicas ready"),
        (Live(ns(), rec(), sts(1, ready=1)), Phase.RUNNING, ""),
        (Live(ns(), None, sts(1, ready=1)), Phase.RUNNING, "no Helm release record (not installed by Helm?)"),
    ],
)
def test_phase(live: Live, expected: Phase, reason: str) -> None:
    found, why, _, _ = phase(live)
    assert (found, why) == (expected, reason)


def test_phase_reports_replicas() -> None:
    assert phase(Live(ns(), rec(), sts(3, ready=2)))[2:] == (3, 2)
    assert phase(Live(ns(), None, None))[2:] == (None, None)


def test_summaries() -> None:
    assert sleep_summary(None) == ""
    assert sleep_summary(Sleep(sleeping=True)) == "asleep by hand"
    full = Sleep.model_validate({"afterInactivity": "2h", "schedule": "0 20 * * 1-5", "wakeup": "0 7 * * 1-5",
                                 "timezone": "Europe/Berlin"})
    assert sleep_summary(full) == "after 2h idle, sleeps 0 20 * * 1-5, wakes 0 7 * * 1-5, Europe/Berlin"
    assert auto_delete_summary(None) == ""
    assert auto_delete_summary(AutoDelete(never=True)) == "never"
    both = AutoDelete.model_validate({"afterInactivity": "720h", "expiry": "2026-12-31"})
    assert auto_delete_summary(both) == "after 720h idle, expires 2026-12-31"


# ------------------------------------------------------------------------------------------ derivation

TENANT = """
apiVersion: vfleet.dev/v1alpha1
kind: Tenant
metadata: {{name: {name}}}
spec:
  owner: {name}-owner
  cluster: {cluster}
  {extra}
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> compiler.Compiled:
    root = write_fleet(tmp_path_factory.mktemp("fleet"), {
        "fleet/projects/alpha/tenants/web.yaml": TENANT.format(name="web", cluster="eu-1", extra="protect: true"),
        "fleet/projects/alpha/tenants/nap.yaml": TENANT.format(name="nap", cluster="eu-1",
                                                               extra="sleep: {sleeping: true}"),
        "fleet/projects/alpha/tenants/far.yaml": TENANT.format(name="far", cluster="us-1", extra=""),
    })
    place.write_lock(root, compiler.compile_fleet(root, check_lock=False).placement)
    result = compiler.compile_fleet(root)
    assert result.ok, [f.message for f in result.findings]
    return result


def observation(compiled: compiler.Compiled, **kinds: Any) -> Observation:
    """eu-1 with `web` running in sync, `dev` deployed with other values, `nap` asleep, and a stray."""
    def record_of(key: str, values: Any = None) -> ReleaseRecord:
        tenant = compiled.fleet.tenants[key]
        config = compiled.rendered.tenants[key].values if values is None else values
        return ReleaseRecord(tenant.namespace, tenant.name, 1, "deployed", "vcluster", "0.35.3",
                             canonical_hash(config), canonical_hash(releases.numbers_as_floats(config)), None, "")

    namespaces: dict[str, dict[str, Any]] = {
        t.namespace: {"metadata": {"name": t.namespace}} for t in compiled.fleet.tenants.values()}
    namespaces["vc-alpha-old"] = {"metadata": {"name": "vc-alpha-old", "labels": {
        "vfleet.dev/project": "alpha", "vfleet.dev/tenant": "old"}}}
    records: dict[tuple[str, str], ReleaseRecord | str] = {
        ("vc-alpha-web", "web"): record_of("alpha/web"),
        ("vc-alpha-dev", "dev"): record_of("alpha/dev", {"other": True}),
        ("vc-alpha-nap", "nap"): record_of("alpha/nap"),
    }
    statefulsets = {
        ("vc-alpha-web", "web"): sts(1, ready=1),
        ("vc-alpha-dev", "dev"): sts(1, ready=0),
        ("vc-alpha-nap", "nap"): sts(0, annotations={SLEEPING_ANNOTATION: "true"}),
        ("vc-alpha-old", "old"): sts(1, ready=1),
    }
    fields: dict[str, Any] = {"namespaces": namespaces, "releases": records, "statefulsets": statefulsets,
                              "problems": ()} | kinds
    return Observation(cluster="eu-1", version="v1.35.4", requests=4, seconds=0.1, **fields)


def test_derive(compiled: compiler.Compiled) -> None:
    down = error("live.unreachable", "cluster us-1 is unreachable", subject="cluster:us-1")
    status = derive(compiled, {"eu-1": observation(compiled)}, {"us-1": down})
    rows = {t.key: t for t in status.tenants}
    assert {k: t.phase for k, t in rows.items()} == {
        "alpha/dev": Phase.STARTING, "alpha/far": Phase.UNKNOWN, "alpha/nap": Phase.SLEEPING,
        "alpha/old": Phase.RUNNING, "alpha/web": Phase.RUNNING}
    web, dev, old = rows["alpha/web"], rows["alpha/dev"], rows["alpha/old"]
    assert (web.in_sync, web.protect, web.owner, web.template, web.template_version) == (
        True, True, "web-owner", "shared", "1.0.0")
    assert dev.in_sync is False and dev.sleep == "after 2h idle"
    assert rows["alpha/nap"].sleep == "asleep by hand"
    assert not old.in_fleet and old.in_sync is None and "not in the fleet" in old.reason
    assert "unreachable" in rows["alpha/far"].reason
    eu, us = status.clusters
    assert (eu.name, eu.reachable, eu.tenants, eu.deployed, eu.max_tenants) == ("eu-1", True, 3, 3, 50)
    assert (us.name, us.reachable, us.tenants, us.deployed, us.problems) == (
        "us-1", False, 1, 0, ("cluster us-1 is unreachable",))
    assert status.counts() == {"not deployed": 0, "starting": 1, "running": 2, "sleeping": 1, "failed": 0,
                               "deleting": 0, "unknown": 1}
    assert status.exit_code == 2
    data = status.to_json()
    assert data["counts"] == status.counts() and data["requests"] == 5
    assert orjson.loads(orjson.dumps(data)) == data  # plain JSON all the way down
    web_json = next(t for t in data["tenants"] if t["key"] == "alpha/web")
    assert web_json["desired"] == {"chartVersion": "0.35.3", "valuesHash": web.desired_hash}
    assert web_json["deployed"]["valuesHash"] == web.desired_hash and web_json["inSync"] is True


def test_derive_forbidden_read_marks_the_cluster_unknown(compiled: compiler.Compiled) -> None:
    problem = "cluster eu-1: forbidden: ... may not list secrets cluster-wide; grant RBAC verb 'list' ..."
    status = derive(compiled, {"eu-1": observation(compiled, releases=None, problems=(problem,))}, {})
    assert {t.phase for t in status.tenants} == {Phase.UNKNOWN}
    assert all(problem in t.reason for t in status.tenants)
    (finding,) = status.findings
    assert (finding.code, finding.subject) == ("live.forbidden", "cluster:eu-1")
    assert finding.location is not None and finding.location.file == "fleet/clusters/eu-1.yaml"


def test_a_cluster_the_fleet_does_not_have_is_only_its_finding(compiled: compiler.Compiled) -> None:
    typo = error("live.unknown-cluster", "cluster eu-2: no Cluster spec of that name", subject="cluster:eu-2")
    status = derive(compiled, {"eu-1": observation(compiled)}, {"eu-2": typo})
    assert [c.name for c in status.clusters] == ["eu-1"]
    assert [f.code for f in status.findings] == ["live.unknown-cluster"] and status.exit_code == 2


def test_values_equal_up_to_how_helm_keeps_numbers() -> None:
    """Helm keeps numbers as float64: a rendered 2.0 comes back as 2; that is not a difference."""
    rendered = {"a": {"ratio": 2.0, "list": [1.5, 3]}, "on": True}
    as_helm = {"a": {"ratio": 2, "list": [1.5, 3]}, "on": True}
    assert canonical_hash(as_helm) != canonical_hash(rendered)
    assert _values_match(rec(config=as_helm), rendered, canonical_hash(rendered)) is True
    assert _values_match(rec(config={**as_helm, "on": 1}), rendered, canonical_hash(rendered)) is False
    assert _values_match(None, rendered, canonical_hash(rendered)) is None


# ---------------------------------------------------------------------------------------- release records


def secret(release: dict[str, Any], *, uid: str = "u1", rv: str = "10", **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": f"sh.helm.release.v1.{release['name']}.v{release['version']}",
                         "namespace": release["namespace"], "uid": uid, "resourceVersion": rv,
                         "labels": {"owner": "helm", "name": release["name"], "version": str(release["version"]),
                                    "status": release["info"]["status"], **labels}},
            "data": {"release": releases.encode(release)}}


RELEASE = {"name": "web", "namespace": "vc-alpha-web", "version": 3,
           "info": {"status": "deployed", "last_deployed": "2026-01-01T00:00:00Z", "description": "Upgrade complete"},
           "chart": {"metadata": {"name": "vcluster", "version": "0.35.3"}, "schema": "e30="},
           "config": {"controlPlane": {"statefulSet": {"highAvailability": {"replicas": 1}}}}}


def test_record_decodes_what_helm_writes() -> None:
    found = releases.record(secret(RELEASE))
    assert (found.namespace, found.name, found.revision, found.status, found.chart, found.chart_version) == (
        "vc-alpha-web", "web", 3, "deployed", "vcluster", "0.35.3")
    assert found.values_hash == canonical_hash(RELEASE["config"])
    assert (found.updated, found.description) == ("2026-01-01T00:00:00Z", "Upgrade complete")
    # As Helm writes it: base64 of gzip, base64-encoded again by the API like any Secret data.
    packed = base64.b64decode(base64.b64decode(secret(RELEASE)["data"]["release"]))
    assert orjson.loads(gzip.decompress(packed)) == RELEASE


def test_record_without_gzip_and_damaged_records() -> None:
    plain = base64.b64encode(base64.b64encode(orjson.dumps(RELEASE))).decode()  # Helm before 3.1
    assert releases.decode(plain)["name"] == "web"
    for data in ("not base64 at all!", base64.b64encode(base64.b64encode(b"\x1f\x8bgarbage")).decode(),
                 base64.b64encode(base64.b64encode(b"[1, 2]")).decode()):
        with pytest.raises(BadRecord):
            releases.decode(data)
    with pytest.raises(BadRecord):
        releases.record({"metadata": {}, "data": {}})


def test_newest_revision_per_release() -> None:
    older = secret({**RELEASE, "version": 2, "info": {"status": "failed"}}, uid="u0")
    other = secret({**RELEASE, "name": "x", "namespace": "kube-system"}, uid="u2")
    not_helm = {"metadata": {"namespace": "vc-alpha-web", "labels": {"owner": "someone"}}}
    newest = releases.newest([older, secret(RELEASE), other, not_helm], {"vc-alpha-web"})
    assert list(newest) == [("vc-alpha-web", "web")]
    assert newest[("vc-alpha-web", "web")]["metadata"]["uid"] == "u1"
    assert len(releases.newest([older, secret(RELEASE), other])) == 2


def test_cache_skips_decoding_and_keeps_only_what_was_seen(tmp_path: Path) -> None:
    path = tmp_path / "releases-eu-1.json"
    cache = RecordCache(path)
    first = releases.record(secret(RELEASE), cache)
    releases.record(secret({**RELEASE, "name": "gone"}, uid="u9"), cache)
    cache.save()
    again = RecordCache(path)
    assert releases.cache_key(secret(RELEASE)) in again
    damaged = secret(RELEASE)
    damaged["data"]["release"] = "garbage"  # same uid and resourceVersion: never decoded again
    assert releases.record(damaged, again) == first
    again.save()  # only what this run saw stays
    assert list(orjson.loads(path.read_bytes())) == ["u1:10"]
    assert "config" not in path.read_text() and "replicas" not in path.read_text()  # never values
    changed = secret(RELEASE, rv="11")
    changed["data"]["release"] = "garbage"
    with pytest.raises(BadRecord):  # a new resourceVersion is decoded
        releases.record(changed, RecordCache(path))


def test_a_damaged_cache_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "releases.json"
    path.write_text("{not json")
    assert releases.cache_key(secret(RELEASE)) not in RecordCache(path)


# ------------------------------------------------------------------------------------------- last apply


def test_last_apply_is_the_newest_apply_of_the_clusters_stack(compiled: compiler.Compiled, tmp_path: Path) -> None:
    from vfleet.apply.records import Record, Records
    from vfleet.live.status import last_apply_from

    def run(operation: str, started: str, result: str = "applied") -> Record:
        return Record(cluster="eu-1", operation=operation, result=result, started=started, ended=started,
                      commit="0123456789abcdef0123", dirty=False, user="ci", desired_hash="h", wave=0,
                      changes={"create": 2}, message="")

    records = Records(tmp_path)
    records.write(run("up", "2026-01-01T10:00:00+0000", "failed"))
    records.write(run("up", "2026-01-02T10:00:00+0000"))
    records.write(run("preview", "2026-01-03T10:00:00+0000"))  # changed nothing: not the last apply
    last = last_apply_from(tmp_path)
    found = last("eu-1")
    assert found is not None and (found["operation"], found["result"], found["started"]) == (
        "up", "applied", "2026-01-02T10:00:00+0000")
    assert set(found) <= {"operation", "result", "started", "ended", "commit", "dirty", "user", "desired_hash",
                          "changes", "message"}
    assert last("us-1") is None
    status = derive(compiled, {"eu-1": observation(compiled)}, {}, last)
    assert {t.key: (t.last_apply or {}).get("started") for t in status.tenants if t.in_fleet} == {
        "alpha/dev": "2026-01-02T10:00:00+0000", "alpha/nap": "2026-01-02T10:00:00+0000",
        "alpha/web": "2026-01-02T10:00:00+0000"}
    assert status.clusters[0].last_apply == found
