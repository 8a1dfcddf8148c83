"""The library calls of `vfleet policy test|impact|input`: the policy set's own tests, what a policy
change does to the fleet, and the input document the rules read. (`check` is in `fleet`.)"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vfleet.api.fleet import PathLike

if TYPE_CHECKING:
    from vfleet.compile import Compiled
    from vfleet.policy import ImpactReport
    from vfleet.policy.opatest import TestReport


def policy_test(path: PathLike = ".") -> TestReport:
    """`vfleet policy test`: `opa test policies/` with the pinned OPA, each test's outcome and the
    coverage of every rule."""
    from vfleet import compile as compiler
    from vfleet import policy

    return policy.run_tests(compiler.find_root(Path(path)))


def policy_impact(
    path: PathLike = ".", base: str = "", head: str | None = None, *, opa_url: str | None = None,
    no_cache: bool = False,
) -> ImpactReport:
    """`vfleet policy impact --base REV`: the base revision's policies and the head's (default: the
    work tree's) on the same head fleet; every subject whose verdict changes."""
    from vfleet import compile as compiler
    from vfleet import policy

    root = compiler.find_root(Path(path))
    cache = None if no_cache else compiler.parse_cache(root)
    return policy.impact(root, base, head, opa_url=opa_url, cache=cache)


@dataclass(frozen=True)
class PolicyInputResult:
    compiled: Compiled
    document: Any  # the JSON document the rules read as `input`, of the part of the fleet that compiled

    @property
    def exit_code(self) -> int:
        return 2 if self.compiled.findings.errors else 0


def policy_input(path: PathLike = ".", rev: str | None = None, *, no_cache: bool = False) -> PolicyInputResult:
    """`vfleet policy input`: the policy input document of the fleet (e.g. for `opa eval -I`); of what
    compiled when the fleet has errors (exit code 2)."""
    from vfleet import compile as compiler
    from vfleet import policy

    root = compiler.find_root(Path(path))
    compiled = compiler.compile_fleet(root, rev, cache=None if no_cache else compiler.parse_cache(root))
    return PolicyInputResult(compiled, policy.input_for(compiled).document)
