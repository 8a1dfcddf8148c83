"""The Pulumi engine vfleet runs: which CLI, which provider plugin, which backend, checked before any stack.

`configure` finds the `pulumi` CLI (the toolchain's pinned build, `VFLEET_PULUMI_BIN`, or one on PATH),
makes sure the Kubernetes provider plugin of exactly the version the Python SDK asks for is installed
(installing the toolchain's build with `pulumi plugin install --file` when it is not), checks the secrets
provider (the passphrase one needs PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE) and fixes
the backend: PULUMI_BACKEND_URL when set (s3://, gs://, azblob://, Pulumi Cloud: how several CI runners
apply different stacks at once), else a `file://` backend in the state directory.

No language host is involved: `vfleet apply` runs the stacks' program inline (`runner.PulumiRunner`), so
the CLI and the provider plugin are all it needs. The engine never downloads a plugin by itself
(PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION) and never picks up another version from PATH
(PULUMI_IGNORE_AMBIENT_PLUGINS): the provider that runs is the one pinned here.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vfleet import toolchain
from vfleet.core.errors import VfleetError

PROVIDER_VERSION = toolchain.KUBERNETES_PROVIDER_RELEASE
# The CLI is never older than the Python SDK that drives it (pyproject.toml pins pulumi==3.272.0).
MIN_VERSION = "3.272.0"
KNOWN_GOOD = (
    f"pulumi CLI {toolchain.PULUMI_VERSION} with pulumi-resource-kubernetes {PROVIDER_VERSION} "
    f"(Python SDKs pulumi 3.272.0, pulumi-kubernetes {PROVIDER_VERSION})"
)
INSTALL_HINT = (
    f"build both with `{toolchain.build_command('pulumi pulumi-resource-kubernetes')}` (or `make toolchain`), "
    f"or install the Pulumi CLI >= {MIN_VERSION} and the plugin "
    f"(`pulumi plugin install resource kubernetes v{PROVIDER_VERSION}`); known to work: {KNOWN_GOOD}"
)
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
SECRETS_PROVIDER_ENV = "VFLEET_SECRETS_PROVIDER"
_VERSION_TIMEOUT_S = 60
_INSTALL_TIMEOUT_S = 300


class EngineMissing(VfleetError):
    """No `pulumi` CLI or no kubernetes plugin of the pinned version where vfleet can run it (exit 2)."""


class PassphraseMissing(VfleetError):
    """The passphrase secrets provider without a passphrase (exit 2)."""


@dataclass(frozen=True)
class EngineConfig:
    root: Path
    state_dir: Path
    backend_url: str
    secrets_provider: str | None  # None: the passphrase provider
    pulumi: Path  # the CLI
    version: str  # what it says of itself (`pulumi version`, without the "v")
    env: Mapping[str, str] = field(default_factory=dict)  # added to every engine process's environment


def configure(
    root: Path,
    state_dir: Path,
    *,
    secrets_provider: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> EngineConfig:
    """Everything an engine call needs, checked (and the plugin installed) up front.

    Raises EngineMissing / PassphraseMissing; never starts a stack.
    """
    cli = _tool("pulumi", env)
    provider = secrets_provider or env.get(SECRETS_PROVIDER_ENV) or None
    if provider in (None, "passphrase") and not any(name in env for name in PASSPHRASE_VARS):
        raise PassphraseMissing(
            "the passphrase secrets provider needs PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): "
            "it encrypts each stack's secrets, such as the kubeconfig its provider receives. Set it (in CI, from "
            "the CI's secret store), or choose another provider with --secrets-provider "
            "(awskms://, azurekeyvault://, gcpkms://, hashivault://)"
        )
    version = cli_version(cli, env)
    backend = env.get("PULUMI_BACKEND_URL") or f"file://{state_dir}"
    if backend.startswith("file://"):
        Path(backend[len("file://") :].split("?", 1)[0]).mkdir(parents=True, exist_ok=True)
    extra = {
        "PULUMI_BACKEND_URL": backend,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # An engine that downloads plugins mid-apply is an engine whose version nobody chose; one found on
        # PATH may be any version. The plugin that runs is the installed one of PROVIDER_VERSION.
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
    }
    ensure_provider_plugin(cli, {**env, **extra})
    return EngineConfig(root, state_dir, backend, None if provider == "passphrase" else provider, cli, version, extra)


def _tool(name: str, env: Mapping[str, str]) -> Path:
    try:
        return toolchain.binary(name, env)
    except toolchain.ToolMissing as missing:
        raise EngineMissing(f"{missing}; {INSTALL_HINT}") from None


def cli_version(cli: Path, env: Mapping[str, str]) -> str:
    """`pulumi version` without its "v"; EngineMissing when it is older than MIN_VERSION or does not run."""
    try:
        out = subprocess.run(
            [str(cli), "version"],
            env={**env, "PULUMI_SKIP_UPDATE_CHECK": "true"},
            capture_output=True,
            text=True,
            timeout=_VERSION_TIMEOUT_S,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise EngineMissing(f"{cli} does not run (`pulumi version`: {exc}); {INSTALL_HINT}") from None
    version = out.removeprefix("v")
    if _version_tuple(version) < _version_tuple(MIN_VERSION):
        raise EngineMissing(f"the Pulumi CLI {cli} is {out}, older than {MIN_VERSION}; {INSTALL_HINT}")
    return version


def _version_tuple(version: str) -> tuple[int, ...]:
    core = version.split("-", 1)[0].split("+", 1)[0]
    try:
        return tuple(int(part) for part in core.split("."))
    except ValueError:
        return (0,)


def pulumi_home(env: Mapping[str, str]) -> Path:
    return Path(env.get("PULUMI_HOME") or Path(env.get("HOME") or Path.home()).expanduser() / ".pulumi")


def plugin_path(env: Mapping[str, str], version: str = PROVIDER_VERSION) -> Path:
    """Where the engine looks for the kubernetes plugin of `version`."""
    return pulumi_home(env) / "plugins" / f"resource-kubernetes-v{version}" / "pulumi-resource-kubernetes"


def ensure_provider_plugin(cli: Path, env: Mapping[str, str]) -> Path:
    """The installed kubernetes plugin of PROVIDER_VERSION; installs the toolchain's build when missing.

    `pulumi plugin install --file` is the CLI's own way to install a plugin built elsewhere (it copies the
    binary into PULUMI_HOME and takes the plugin lock, so concurrent runs do not race).
    """
    installed = plugin_path(env)
    if installed.is_file() and os.access(installed, os.X_OK):
        return installed
    built = _tool("pulumi-resource-kubernetes", env)
    done = subprocess.run(
        [str(cli), "plugin", "install", "resource", "kubernetes", PROVIDER_VERSION, "--file", str(built)],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=_INSTALL_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0 or not installed.is_file():
        raise EngineMissing(
            f"installing the kubernetes plugin {PROVIDER_VERSION} from {built} into {pulumi_home(env)} failed: "
            f"{(done.stderr or done.stdout).strip()[-1000:]}"
        )
    return installed


def pulumi_command(config: EngineConfig) -> Any:
    """The Automation API's handle on the CLI `configure` chose (the SDK's own looks only in <root>/bin)."""
    from pulumi import automation as auto
    from semver import VersionInfo

    class _Cli(auto.PulumiCommand):
        def __init__(self, command: Path, version: str) -> None:  # no second `pulumi version` run
            self.command = str(command)
            self.version = VersionInfo.parse(version)

    return _Cli(config.pulumi, config.version)
