"""The CustomResourceDefinition of vfleet's NodeClaim, applied first on every connected cluster."""

from __future__ import annotations

from typing import Any

from vfleet.core import naming
from vfleet.desired.resources import CRD_API_VERSION, CRD_NAME, MANAGED_BY_LABEL, NODE_CLAIM

_QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def node_claim_crd() -> dict[str, Any]:
    """The CustomResourceDefinition of vfleet's NodeClaim (shaped like vCluster Platform's), structural."""
    string = {"type": "string"}
    spec_schema = {
        "type": "object",
        "required": ["providerRef", "typeRef", "vClusterRef"],
        "properties": {
            "providerRef": {"type": "string", "description": "the NodeProvider that supplies the node"},
            "typeRef": {"type": "string", "description": "the node type of that provider"},
            "vClusterRef": {
                "type": "object",
                "required": ["name", "project"],
                "properties": {"name": string, "project": string},
            },
            "taints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["key", "effect"],
                    "properties": {
                        "key": string,
                        "value": string,
                        "effect": {"type": "string", "enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]},
                    },
                },
            },
            "desiredCapacity": {
                "type": "object",
                "additionalProperties": {
                    "anyOf": [{"type": "integer"}, {"type": "string"}],
                    "pattern": _QUANTITY_PATTERN,
                    "x-kubernetes-int-or-string": True,
                },
            },
            "owner": {"type": "object", "properties": {"user": string, "team": string}},
        },
    }
    schema = {
        "type": "object",
        "properties": {
            "apiVersion": string,
            "kind": string,
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    return {
        "apiVersion": CRD_API_VERSION,
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": {MANAGED_BY_LABEL: naming.MANAGED_BY}},
        "spec": {
            "group": "vfleet.dev",
            "scope": "Namespaced",
            "names": {"plural": "nodeclaims", "singular": "nodeclaim", "kind": NODE_CLAIM,
                      "listKind": "NodeClaimList"},
            "versions": [{
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Provider", "type": "string", "jsonPath": ".spec.providerRef"},
                    {"name": "Type", "type": "string", "jsonPath": ".spec.typeRef"},
                    {"name": "VCluster", "type": "string", "jsonPath": ".spec.vClusterRef.name"},
                ],
            }],
        },
    }
