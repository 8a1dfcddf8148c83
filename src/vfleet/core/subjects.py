"""Subjects: what a finding is about, spelled the same by every stage and by the Rego policies."""

from __future__ import annotations


def tenant(key: str) -> str:
    return f"tenant:{key}"


def project(name: str) -> str:
    return f"project:{name}"


def cluster(name: str) -> str:
    return f"cluster:{name}"


def template(name: str) -> str:
    return f"template:{name}"


def node_provider(name: str) -> str:
    return f"nodeprovider:{name}"


def team(name: str) -> str:
    return f"team:{name}"


def platform(name: str) -> str:
    return f"platform:{name}"


def of_kind(kind: str, name: str) -> str:
    return f"{kind.lower()}:{name}"
