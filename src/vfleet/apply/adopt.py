"""Which desired objects already exist on a cluster: the objects `vfleet apply --adopt` imports.

Pulumi creates with server-side apply refuse an object that already exists ("already exists"), which is
right: an object vfleet did not create is adopted only when someone asks for it, through a Pulumi import,
and the apply lists what it adopted. Candidates are the desired resources the stack has not applied yet
(`candidates`, pure); `probe_cluster` asks the cluster which of them exist (the only call here that
reaches a cluster, injected wherever it is used).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import yaml

from vfleet import desired
from vfleet.apply.kubeconfig import Kubeconfig
from vfleet.desired import DesiredState, Resource

Probe = Callable[[Kubeconfig, Sequence[Resource]], Iterable[str]]


def candidates(state: DesiredState, base: DesiredState | None) -> list[str]:
    """Ids of the desired resources the stack did not hold after its last successful apply."""
    known = set(base.by_id) if base is not None else set()
    return [r.id for r in state.resources if r.id not in known]


def probe_cluster(kubeconfig: Kubeconfig, resources: Sequence[Resource]) -> list[str]:
    """The ids among `resources` whose object (or Helm release) exists on the cluster.

    One list call per kind (and one for every Helm release's record), never a request per object: a first
    apply of a 100-tenant stack asks about ~700 objects.
    """
    from kubernetes import client, config, dynamic
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    api = config.new_client_from_config_dict(  # type: ignore[no-untyped-call]
        yaml.safe_load(kubeconfig.content), context=kubeconfig.context
    )
    try:
        by_kind: dict[tuple[str, str], list[Resource]] = {}
        for resource in resources:
            by_kind.setdefault((resource.api_version, resource.kind), []).append(resource)
        found: list[str] = []
        dyn = dynamic.DynamicClient(api)  # type: ignore[no-untyped-call]
        for (api_version, kind), wanted in sorted(by_kind.items()):
            if kind == desired.HELM_RELEASE:
                secrets = client.CoreV1Api(api).list_secret_for_all_namespaces(label_selector="owner=helm")
                metas = [s.metadata for s in secrets.items if s.metadata is not None]
                present = {(m.namespace, (m.labels or {}).get("name")) for m in metas}
                spec = [(r, r.body["spec"]) for r in wanted]
                found += [r.id for r, sp in spec if (sp["namespace"], sp["releaseName"]) in present]
                continue
            try:
                listed: Any = dyn.resources.get(api_version=api_version, kind=kind).get()
            except ResourceNotFoundError:
                continue  # no such kind yet (a CRD not installed): none of its objects can exist
            present = {(item.metadata.namespace, item.metadata.name) for item in listed.items}
            found += [r.id for r in wanted if (r.namespace, r.name) in present]
        return sorted(found)
    finally:
        api.close()
