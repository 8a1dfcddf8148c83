"""Argo CD registrations at apply time: the credentials of a tenant cluster, read by the Pulumi program
from the Secret the vcluster chart writes for it, and handed to the registration Secret as a Pulumi secret.

The desired state holds a registration without credentials (vfleet.desired.argocd); its annotation names the
Secret to read them from. They are read here, in the program, after the tenant's release exists when it
is in the same stack (the read hangs off the release's output), and never leave as plain text: the value
is a Pulumi secret (encrypted in the state, `[secret]` in previews and logs), and an error names the
Secret, never what it holds.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from vfleet.core.errors import VfleetError
from vfleet.specs.kubeconfig import Kubeconfig

# The keys of the Secret the vcluster chart (its syncer) writes for a tenant: `vc-<release>`.
CA_KEY, CERT_KEY, KEY_KEY = "certificate-authority", "client-certificate", "client-key"
PREVIEW_PLACEHOLDER = "(read from the tenant's Secret at apply time)"

Resolver = Callable[[str], Kubeconfig]  # connected cluster -> its kubeconfig, resolved at run time


class CredentialsError(VfleetError):
    """The tenant's Secret cannot be read or lacks a key; the message names it, never its content."""


def read_config(kubeconfig: Kubeconfig, cluster: str, namespace: str, secret: str) -> str:
    """Argo CD's cluster `config` (JSON: tlsClientConfig with the tenant's CA, client cert and key)."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    content = yaml.safe_load(kubeconfig.content)
    api = config.new_client_from_config_dict(content, context=kubeconfig.context)  # type: ignore[no-untyped-call]
    try:
        got = client.CoreV1Api(api).read_namespaced_secret(secret, namespace)
    except ApiException as exc:
        what = "does not exist yet (is the tenant deployed?)" if exc.status == 404 else f"cannot be read ({exc.status})"
        raise CredentialsError(f"the tenant's Secret {namespace}/{secret} on cluster {cluster} {what}; the Argo CD "
                               f"registration needs its {CA_KEY}, {CERT_KEY} and {KEY_KEY}") from None
    finally:
        api.close()
    data = got.data or {}
    missing = [k for k in (CA_KEY, CERT_KEY, KEY_KEY) if not data.get(k)]
    if missing:
        raise CredentialsError(f"the tenant's Secret {namespace}/{secret} on cluster {cluster} lacks "
                               f"{', '.join(missing)}: not a vcluster kubeconfig Secret")
    # Secret data is base64 already, which is what Argo CD's caData / certData / keyData hold.
    tls = {"caData": data[CA_KEY], "certData": data[CERT_KEY], "keyData": data[KEY_KEY]}
    return json.dumps({"tlsClientConfig": tls}, sort_keys=True)


def data_with_config(data: dict[str, str], source: tuple[str, str, str], resolve: Resolver,
                     after: Sequence[pulumi.CustomResource]) -> pulumi.Output[dict[str, str]]:
    """The registration's `data` with `config` added from the tenant's Secret: a Pulumi secret, read once
    `after` (the tenant's release, when it is in this stack) exist."""
    cluster, namespace, secret = source

    def read(_: Any) -> dict[str, str]:
        try:
            text = read_config(resolve(cluster), cluster, namespace, secret)
        except CredentialsError:
            if pulumi.runtime.is_dry_run():  # a preview before the tenant exists: shown as [secret]
                text = PREVIEW_PLACEHOLDER
            else:
                raise
        return {**data, "config": base64.b64encode(text.encode()).decode()}

    ready = pulumi.Output.all(*(r.id for r in after)) if after else pulumi.Output.from_input(0)
    return pulumi.Output.secret(ready.apply(read))


def register(name: str, body: dict[str, Any], source: tuple[str, str, str], resolve: Resolver,
             after: Sequence[pulumi.CustomResource], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """The Argo CD cluster Secret, its `data.config` from the tenant's credentials."""
    return k8s.core.v1.Secret(
        name,
        metadata=body["metadata"],
        type=body.get("type"),
        data=data_with_config(dict(body["data"]), source, resolve, after),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["data"])),
    )
