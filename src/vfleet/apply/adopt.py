"""Which desired objects already exist on a cluster: the objects `vfleet apply --adopt` imports.

Pulumi creates with server-side apply refuse an object that already exists ("already exists"), which is
right: an object vfleet did not create is adopted only when someone asks for it, through a Pulumi import,
and the apply lists what it adopted. Candidates are the desired resources the stack has not applied yet
(`candidates`, pure); `probe_cluster` asks the cluster which of them exist (the only call here that
reaches a cluster, injected wherever it is used).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml

from vfleet import desired
from vfleet.desired import DesiredState, Resource
from vfleet.specs.kubeconfig import Kubeconfig

# id -> whether the object carries vfleet's own mark (it was applied by a vfleet run: see `probe_cluster`)
Probe = Callable[[Kubeconfig, Sequence[Resource]], Mapping[str, bool]]
FIELD_MANAGER = "vfleet"  # the server-side-apply field manager of every object vfleet's stacks apply


def candidates(state: DesiredState, base: DesiredState | None) -> list[str]:
    """Ids of the desired resources the stack did not hold after its last successful apply."""
    known = set(base.by_id) if base is not None else set()
    return [r.id for r in state.resources if r.id not in known]


def probe_cluster(kubeconfig: Kubeconfig, resources: Sequence[Resource]) -> dict[str, bool]:
    """The ids among `resources` whose object (or Helm release) exists on the cluster, each with whether it
    carries vfleet's mark: field manager `vfleet` in its managedFields (for a Helm release: in its
    namespace's). An object with the mark that the stack's state lacks was applied by a vfleet run whose
    answer was lost (the provider died mid-call): the runner imports it when that stack's last run did not
    finish, and refuses it otherwise.

    One list call per kind (and one for every Helm release's record), never a request per object: a first
    apply of a 100-tenant stack asks about ~700 objects.
    """
    from kubernetes import client, config, dynamic
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    api = config.new_client_from_config_dict(  # type: ignore[no-untyped-call]
        yaml.safe_load(kubeconfig.content), context=kubeconfig.context
    )
    # The dynamic client caches the cluster's API discovery in a file named after its host, in the
    # machine's temporary folder, for ever: kept there it outlives the cluster (a loopback port reused
    # by another one reads the first one's kinds) and lists its API to every user of the machine.
    scratch = tempfile.TemporaryDirectory(prefix="vfleet-discovery-")
    try:
        by_kind: dict[tuple[str, str], list[Resource]] = {}
        for resource in resources:
            by_kind.setdefault((resource.api_version, resource.kind), []).append(resource)
        found: dict[str, bool] = {}
        cache_file = os.path.join(scratch.name, "discovery.json")
        dyn = dynamic.DynamicClient(api, cache_file=cache_file)  # type: ignore[no-untyped-call]
        for (api_version, kind), wanted in sorted(by_kind.items()):
            if kind == desired.HELM_RELEASE:
                core = client.CoreV1Api(api)
                secrets = core.list_secret_for_all_namespaces(label_selector="owner=helm")
                metas = [s.metadata for s in secrets.items if s.metadata is not None]
                present = {(m.namespace, (m.labels or {}).get("name")) for m in metas}
                marked = {n.metadata.name for n in core.list_namespace().items if n.metadata and _marked(n.metadata)}
                for r in wanted:
                    spec = r.body["spec"]
                    if (spec["namespace"], spec["releaseName"]) in present:
                        found[r.id] = spec["namespace"] in marked
                continue
            try:
                listed: Any = dyn.resources.get(api_version=api_version, kind=kind).get()
            except ResourceNotFoundError:
                continue  # no such kind yet (a CRD not installed): none of its objects can exist
            items = {(item.metadata.namespace, item.metadata.name): item.metadata for item in listed.items}
            for r in wanted:
                if (r.namespace, r.name) in items:
                    found[r.id] = _marked(items[(r.namespace, r.name)])
        return dict(sorted(found.items()))
    finally:
        api.close()
        scratch.cleanup()


def _marked(metadata: Any) -> bool:
    """Whether server-side apply records field manager `vfleet` for the object (dynamic or typed client)."""
    entries = getattr(metadata, "managedFields", None) or getattr(metadata, "managed_fields", None) or []
    return any((e.get("manager") if isinstance(e, dict) else getattr(e, "manager", None)) == FIELD_MANAGER
               for e in entries)
