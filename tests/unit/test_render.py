"""Render: sandboxed Jinja2, values as JSON, spec settings merged into chart keys, the real chart schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from fleetkit import CHART_SCHEMA, REPO, write_fleet
from vfleet import compile as compiler
from vfleet.core.findings import Severity

TENANT = "fleet/projects/alpha/tenants/dev.yaml"
VALUES = "templates/shared/values.yaml.j2"

# A template with a free-form string parameter: the classic injection vector.
TEMPLATE_WITH_STRING = """
    apiVersion: vfleet.dev/v1alpha1
    kind: Template
    metadata: {name: shared}
    spec:
      versions:
        - version: 1.0.0
          chartVersion: 0.35.3
          values: values.yaml.j2
          resources: {cpu: cpu, memory: 4Gi}
          parameters:
            - {name: cpu, type: quantity, default: "1", min: 100m, max: "8"}
            - {name: team, type: string, default: web}
            - {name: replicas, type: int, default: 1, min: 1, max: 3}
    """
VALUES_WITH_STRING = """
    controlPlane:
      statefulSet:
        labels:
          team: {{ team }}
        highAvailability:
          replicas: {{ replicas }}
        resources:
          requests:
            cpu: {{ cpu }}
    """


def _tenant(parameters: str, extra: str = "") -> str:
    return f"""
        apiVersion: vfleet.dev/v1alpha1
        kind: Tenant
        metadata: {{name: dev}}
        spec:
          owner: alice
          cluster: eu-1
          parameters: {parameters}
        {extra}"""


def _compile(root: Path) -> compiler.Compiled:
    return compiler.compile_fleet(root, check_lock=False)


def _errors(compiled: compiler.Compiled) -> list[tuple[str, int | None, str | None, str]]:
    return sorted(
        (f.location.file, f.location.line, f.location.field, f.code)
        for f in compiled.findings
        if f.severity is Severity.ERROR and f.location
    )


def _values(compiled: compiler.Compiled, key: str = "alpha/dev") -> Any:
    return yaml.safe_load(compiled.rendered.tenants[key].yaml)


def test_a_string_parameter_cannot_inject_yaml_structure(tmp_path: Path) -> None:
    payload = "web\\nexperimental: {evil: true}\\n  {{ 7 * 7 }}"
    root = write_fleet(tmp_path, {
        "templates/shared/template.yaml": TEMPLATE_WITH_STRING,
        VALUES: VALUES_WITH_STRING,
        TENANT: _tenant(f'{{team: "{payload}"}}'),
    })
    compiled = _compile(root)
    assert compiled.ok, compiled.findings
    values = _values(compiled)
    # The whole payload is one string value; no new key, and Jinja in a parameter is never evaluated.
    assert values["controlPlane"]["statefulSet"]["labels"]["team"] == "web\nexperimental: {evil: true}\n  {{ 7 * 7 }}"
    assert "experimental" not in values


def test_numbers_and_quantities_are_emitted_as_json_values(tmp_path: Path) -> None:
    root = write_fleet(tmp_path, {
        "templates/shared/template.yaml": TEMPLATE_WITH_STRING,
        VALUES: VALUES_WITH_STRING,
        TENANT: '\n        apiVersion: vfleet.dev/v1alpha1\n        kind: Tenant\n        metadata: {name: dev}\n'
                '        spec: {owner: alice, cluster: eu-1, parameters: {cpu: 1500m, replicas: 3}}\n',
    })
    compiled = _compile(root)
    assert compiled.ok, compiled.findings
    sts = _values(compiled)["controlPlane"]["statefulSet"]
    assert sts["highAvailability"]["replicas"] == 3
    assert sts["resources"]["requests"]["cpu"] == "1500m"


@pytest.mark.parametrize(
    ("parameters", "code", "fragment"),
    [
        ('{cpu: "64"}', "param.range", "above the maximum '8'"),
        ('{cpu: lots}', "param.type", "is not a Kubernetes quantity"),
        ('{replicas: 2.5}', "param.type", "must be"),
        ('{replicas: 0}', "param.range", "below the minimum"),
        ('{colour: red}', "param.unknown", "unknown parameter 'colour'"),
    ],
)
def test_parameters_outside_their_declaration_are_errors(
    tmp_path: Path, parameters: str, code: str, fragment: str
) -> None:
    root = write_fleet(tmp_path, {
        "templates/shared/template.yaml": TEMPLATE_WITH_STRING,
        VALUES: VALUES_WITH_STRING,
        TENANT: _tenant(parameters),
    })
    compiled = _compile(root)
    (found,) = [f for f in compiled.findings if f.severity is Severity.ERROR]
    assert found.location is not None
    assert (found.location.file, found.location.line, found.code) == (TENANT, 7, code)
    assert found.location.field is not None and found.location.field.startswith("spec.parameters")
    assert fragment in found.message
    assert "alpha/dev" not in compiled.rendered.tenants


def test_undefined_name_is_an_error_at_the_template_line(tmp_path: Path) -> None:
    values = "controlPlane:\n  statefulSet:\n    resources:\n      requests:\n        cpu: {{ cpuu }}\n"
    compiled = _compile(write_fleet(tmp_path, {VALUES: values}))
    assert _errors(compiled) == [(VALUES, 5, None, "render.undefined")]
    (found,) = compiled.findings
    assert "'cpuu' is undefined" in found.message and "cpu, labels, namespace, owner" in found.message


def test_the_sandbox_refuses_attribute_escapes(tmp_path: Path) -> None:
    compiled = _compile(write_fleet(tmp_path, {VALUES: "x: {{ ''.__class__.__mro__ }}\n"}))
    assert _errors(compiled) == [(VALUES, 1, None, "render.sandbox")]


def test_a_syntax_error_is_reported_once_per_file(tmp_path: Path) -> None:
    compiled = _compile(write_fleet(tmp_path, {VALUES: "x: 1\ny: {{ cpu \n"}))
    assert _errors(compiled) == [(VALUES, 2, None, "template.syntax")]


def test_values_outside_the_chart_schema_name_the_tenant_and_the_key(tmp_path: Path) -> None:
    values = "controlPlane:\n  statefulSet:\n    replicaz: {{ cpu }}\n"
    compiled = _compile(write_fleet(tmp_path, {VALUES: values}))
    assert _errors(compiled) == [(TENANT, 1, None, "values.schema")]
    (found,) = compiled.findings
    assert found.message.startswith("controlPlane.statefulSet.replicaz: additional property not allowed")
    assert VALUES in found.message


def test_built_ins_are_available(tmp_path: Path) -> None:
    values = """
        controlPlane:
          statefulSet:
            labels:
              project: {{ project }}
              tenant: {{ tenant }}
              cluster: {{ cluster }}
              namespace: {{ namespace }}
              owner: {{ owner }}
        """
    compiled = _compile(write_fleet(tmp_path, {VALUES: values}))
    assert compiled.ok, compiled.findings
    labels = _values(compiled)["controlPlane"]["statefulSet"]["labels"]
    assert labels == {"project": "alpha", "tenant": "dev", "cluster": "eu-1", "namespace": "vc-alpha-dev",
                      "owner": "alice"}


def test_sleep_auto_delete_and_private_nodes_land_in_chart_keys(tmp_path: Path) -> None:
    extra = """  sleep: {afterInactivity: 90m, schedule: "0 20 * * 1-5", wakeup: "0 7 * * 1-5", timezone: Europe/Berlin}
          autoDelete: {afterInactivity: 720h}
          privateNodes:
            - {name: gpu, provider: metal, nodeType: gpu-l4, quantity: 2}
        """
    root = write_fleet(tmp_path, {TENANT: _tenant('{cpu: "2"}', extra)})
    compiled = _compile(root)
    assert compiled.ok, compiled.findings
    values = _values(compiled)
    assert values["sleep"]["auto"]["afterInactivity"] == "90m"
    assert values["sleep"]["auto"]["schedule"] == "0 20 * * 1-5"
    assert values["sleep"]["auto"]["wakeup"]["schedule"] == "0 7 * * 1-5"
    assert values["sleep"]["auto"]["timezone"] == "Europe/Berlin"
    assert values["deletion"]["auto"]["afterInactivity"] == "720h"
    assert values["privateNodes"]["enabled"] is True
    jsonschema_rs.validator_for(json.loads(CHART_SCHEMA.read_text())).validate(values)


def test_manual_sleep_scales_to_zero_and_marks_it(tmp_path: Path) -> None:
    root = write_fleet(tmp_path, {TENANT: _tenant('{cpu: "2"}', "  sleep: {sleeping: true}\n")})
    compiled = _compile(root)
    assert compiled.ok, compiled.findings
    sts = _values(compiled)["controlPlane"]["statefulSet"]
    assert sts["highAvailability"]["replicas"] == 0
    assert sts["annotations"]["vfleet.dev/sleeping"] == "true"


def test_every_example_tenant_validates_against_the_real_chart_schema() -> None:
    """The schema is read straight from ../shared/contracts, independent of vfleet's schema registry."""
    compiled = compiler.compile_fleet(REPO)
    assert compiled.ok, [str(f.location) + " " + f.message for f in compiled.findings.errors]
    validator = jsonschema_rs.validator_for(json.loads(CHART_SCHEMA.read_text()))
    assert len(compiled.rendered.tenants) == len(compiled.fleet.tenants) >= 12
    for key, tenant in compiled.rendered.tenants.items():
        assert compiled.fleet.tenants[key].template_version.chartVersion.startswith("0.35.")
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(tenant.yaml))]
        assert errors == [], key
