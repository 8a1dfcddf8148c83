"""The params stage: every param.* finding, at the file, line and field of what is wrong.

A tenant's parameters are checked against its template version's declarations (type, range, regex,
options, required); a declaration that cannot be checked, or a default it refuses, is the template's
error. A tenant with a bad parameter is left out of the resolved parameters, so it is never rendered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetkit import write_fleet
from vfleet import compile as compiler
from vfleet.core.findings import Finding, Severity

TENANT = "fleet/projects/alpha/tenants/dev.yaml"
TEMPLATE = "templates/shared/template.yaml"
VALUES = "templates/shared/values.yaml.j2"

DECLARATIONS = """
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
            - {name: replicas, type: int, default: 1, min: 1, max: 3}
            - {name: team, type: string, default: web, regex: "[a-z]+"}
            - {name: tier, type: enum, default: small, options: [small, large]}
            - {name: costCentre, type: string, required: true, description: the budget this tenant is billed to}
    """
VALUES_USING_ALL = """
    controlPlane:
      statefulSet:
        labels: {team: {{ team }}, tier: {{ tier }}, cost: {{ costCentre }}}
        highAvailability: {replicas: {{ replicas }}}
        resources: {requests: {cpu: {{ cpu }}}}
    """


def _tenant(parameters: str) -> str:
    return f"""
        apiVersion: vfleet.dev/v1alpha1
        kind: Tenant
        metadata: {{name: dev}}
        spec:
          owner: alice
          cluster: eu-1
          parameters: {parameters}
        """


def _errors(root: Path) -> tuple[compiler.Compiled, list[Finding]]:
    compiled = compiler.compile_fleet(root, check_lock=False)
    return compiled, [f for f in compiled.findings if f.severity is Severity.ERROR]


def _fleet(tmp_path: Path, parameters: str, template: str = DECLARATIONS) -> Path:
    return write_fleet(tmp_path, {TEMPLATE: template, VALUES: VALUES_USING_ALL, TENANT: _tenant(parameters)})


def test_parameters_within_their_declarations_resolve(tmp_path: Path) -> None:
    compiled, errors = _errors(_fleet(tmp_path, '{costCentre: cc-7, tier: large, replicas: 3, cpu: 500m}'))
    assert errors == []
    assert compiled.params.tenants["alpha/dev"].values == {
        "costCentre": "cc-7", "cpu": "500m", "replicas": 3, "team": "web", "tier": "large"}


@pytest.mark.parametrize(
    ("parameters", "code", "field", "fragment"),
    [
        ('{costCentre: cc, tier: medium}', "param.option", "spec.parameters.tier",
         "parameter 'tier' is a string 'medium'; allowed options: 'small', 'large'"),
        ('{costCentre: cc, team: Web-Team}', "param.regex", "spec.parameters.team", "does not match"),
        ('{tier: small}', "param.required", "spec.parameters.costCentre",
         "required parameter 'costCentre' of template 'shared' 1.0.0 is missing: the budget this tenant is billed to"),
        ('{costCentre: cc, replicas: "2"}', "param.type", "spec.parameters.replicas", "must be"),
        ('{costCentre: cc, cpu: "16"}', "param.range", "spec.parameters.cpu", "above the maximum '8'"),
        ('{costCentre: cc, tire: large}', "param.unknown", "spec.parameters.tire",
         "unknown parameter 'tire'; did you mean 'tier'?"),
    ],
)
def test_a_tenant_parameter_outside_its_declaration_is_an_error_at_its_field(
    tmp_path: Path, parameters: str, code: str, field: str, fragment: str
) -> None:
    compiled, errors = _errors(_fleet(tmp_path, parameters))
    assert [(f.code, f.location.file if f.location else None, f.subject) for f in errors] == \
        [(code, TENANT, "tenant:alpha/dev")]
    (found,) = errors
    assert found.location is not None and found.location.line is not None
    if code != "param.required":  # a missing parameter has no line of its own: the parameters' is given
        assert found.location.field == field
    assert fragment in found.message, found.message
    assert "alpha/dev" not in compiled.params.tenants and "alpha/dev" not in compiled.rendered.tenants
    assert compiled.findings.exit_code == 2


def test_a_declaration_that_cannot_be_checked_is_the_templates_error(tmp_path: Path) -> None:
    broken = DECLARATIONS.replace('min: 100m, max: "8"', 'min: lots, max: "8"')
    _compiled, errors = _errors(_fleet(tmp_path, "{costCentre: cc}", broken))
    (found,) = [f for f in errors if f.code == "param.declaration"]
    assert found.location is not None and found.location.file == TEMPLATE
    assert found.location.field == "spec.versions[0].parameters[0].min"
    assert "min of quantity parameter 'cpu'" in found.message
    assert found.subject == "template:shared"


def test_a_default_its_own_declaration_refuses_is_the_templates_error_and_no_tenant_gets_it(
    tmp_path: Path,
) -> None:
    broken = DECLARATIONS.replace("default: small, options", "default: huge, options")
    compiled, errors = _errors(_fleet(tmp_path, "{costCentre: cc}", broken))
    (found,) = errors
    assert (found.code, found.location.file if found.location else None) == ("param.option", TEMPLATE)
    assert found.location is not None and found.location.field == "spec.versions[0].parameters[3].default"
    assert found.message.startswith("default of parameter 'tier' is a string 'huge'; allowed")
    assert "alpha/dev" not in compiled.params.tenants


def test_options_on_a_parameter_that_is_not_an_enum_are_refused_not_ignored(tmp_path: Path) -> None:
    broken = DECLARATIONS.replace("type: enum, default: small", "type: string, default: small")
    _compiled, errors = _errors(_fleet(tmp_path, "{costCentre: cc, tier: medium}", broken))
    (found,) = [f for f in errors if f.location and f.location.file == TEMPLATE]
    assert "'options' apply to 'enum' parameters only; make 'tier' an 'enum'" in found.message
    assert not any(f.code.startswith("param.") for f in errors)  # never checked against the ignored list
