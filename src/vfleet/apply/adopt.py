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
    """The ids among `resources` whose object (or Helm release) exists on the cluster."""
    from kubernetes import client, config, dynamic
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

    api = config.new_client_from_config_dict(  # type: ignore[no-untyped-call]
        yaml.safe_load(kubeconfig.content), context=kubeconfig.context
    )
    try:
        found: list[str] = []
        dyn = dynamic.DynamicClient(api)  # type: ignore[no-untyped-call]
        core = client.CoreV1Api(api)
        for resource in resources:
            try:
                if resource.kind == desired.HELM_RELEASE:
                    spec: dict[str, Any] = resource.body["spec"]
                    secrets = core.list_namespaced_secret(
                        spec["namespace"], label_selector=f"owner=helm,name={spec['releaseName']}"
                    )
                    exists = bool(secrets.items)
                else:
                    kind = dyn.resources.get(api_version=resource.api_version, kind=resource.kind)
                    kind.get(name=resource.name, namespace=resource.namespace)
                    exists = True
            except (NotFoundError, ResourceNotFoundError):
                exists = False  # no such object, or no such kind yet (a CRD not installed)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                exists = False
            if exists:
                found.append(resource.id)
        return found
    finally:
        api.close()
