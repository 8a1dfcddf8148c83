"""vfleet as a library: one function per command, doing what the command does, returning its result.

    from vfleet import api

    compiled = api.validate("path/to/fleet")          # vfleet validate
    report = api.check("path/to/fleet")                # vfleet check
    result = api.plan("path/to/fleet", base="origin/main")   # vfleet plan --base origin/main
    applied = api.apply("path/to/fleet")               # vfleet apply --yes

Each takes the fleet repository (or its fleet/ folder) and the command's options as keyword arguments,
finds the repository root, and uses the same caches the command would (under `vfleet.core.caches`), unless
`no_cache`. Nothing prints or exits: results carry their findings and an `exit_code`, the number the
command would exit with. Bad input is a finding; what stops the command before it has a result (no
repository, a Git revision that does not exist, a fleet that does not compile where a compiled one is
needed) raises a `VfleetError` with the command's exit code.

The calls are grouped by what they touch: `fleet` (the repository only: validate, compile, place, show
tenant, check, plan), `policy` (policy test, impact, input), `clusters` (reads or acts on the connected
clusters: drift, status, lifecycle), `stacks` (the Pulumi engine and its files: apply, preview, destroy,
history, stacks sync / check) and `access` (show platform, codeowners, kubeconfig).
Every import of a stage is made inside the function that needs it: `import vfleet.api` costs nothing,
and `api.validate` never loads the Kubernetes client or the apply engine.
"""

from vfleet.api.access import (
    BadForge,
    CodeownersResult,
    KubeconfigResult,
    NoKubeconfig,
    codeowners,
    kubeconfig,
    platform,
)
from vfleet.api.clusters import drift, lifecycle, status
from vfleet.api.fleet import (
    CompileResult,
    FleetBroken,
    PathLike,
    PlaceResult,
    TenantView,
    UnknownTenant,
    applied_tenants,
    check,
    compile,
    place,
    plan,
    show_tenant,
    validate,
)
from vfleet.api.policy import PolicyInputResult, policy_impact, policy_input, policy_test
from vfleet.api.stacks import apply, destroy, history, preview, stacks_check, stacks_sync

__all__ = ["BadForge", "CodeownersResult", "CompileResult", "FleetBroken", "KubeconfigResult", "NoKubeconfig",
           "PathLike", "PlaceResult", "PolicyInputResult", "TenantView", "UnknownTenant", "applied_tenants",
           "apply", "check", "codeowners", "compile", "destroy", "drift", "history", "kubeconfig", "lifecycle",
           "place", "plan", "platform", "policy_impact", "policy_input", "policy_test", "preview", "show_tenant",
           "stacks_check", "stacks_sync", "status", "validate"]
