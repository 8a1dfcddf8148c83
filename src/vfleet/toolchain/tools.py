"""THE place where the external tools' versions are pinned, with how each is built from its Go module."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vfleet.core.errors import VfleetError


class Recipe(StrEnum):
    """How a tool is built from its Go module."""

    # `go install <package>@<version>`: only for modules whose go.mod has no replace directives.
    GO_INSTALL = "go-install"
    # A throwaway module that requires the tool: `go get <package>@<version>`, then `go build`. Needed
    # when the main package is not the module root or the module's own replaces point outside its zip.
    WRAPPER = "wrapper"
    # A wrapper that also copies k8s.io/kubernetes's staging replaces (as published k8s.io/X@v0.Y.Z
    # modules) and its godebug line, because its go.mod points those 31 modules at ./staging paths
    # that are not in the module zip, so `go install` refuses it.
    KUBERNETES = "kubernetes"
    # A wrapper whose required module is first copied out of the module cache into a writable directory
    # (and `go mod edit -replace`d to it), so that files its `go:generate` step would write can be written
    # there before `go build`: pulumi-resource-kubernetes embeds schema-embed.json and
    # terraform-mapping-embed.json, which are not in its module zip.
    GENERATED = "generated"


@dataclass(frozen=True, slots=True)
class Tool:
    """One pinned tool: where its source comes from and how to turn it into `<name>`.

    `ldflags` are `-X` stamps the upstream release builds set; without them several tools report a
    wrong version (kube-apiserver says v0.0.0, helm says "v3.22", conftest says "dev"). They are
    templates: `{version}` is the pinned version, `{semver}` the same without "v", `{major}`/`{minor}`
    its first two numbers, and `{kube_major}`/`{kube_minor}` the Kubernetes version matching the
    k8s.io/client-go the wrapper module resolved (how Helm's own Makefile derives its defaults).
    """

    name: str
    module: str
    version: str
    package: str
    recipe: Recipe
    ldflags: tuple[str, ...] = ()

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.version}"


# The Kubernetes version stamp, as the upstream release build (hack/lib/version.sh) sets it.
_KUBE_VERSION_STAMP = (
    "-X k8s.io/component-base/version.gitVersion={version}",
    "-X k8s.io/component-base/version.gitMajor={major}",
    "-X k8s.io/component-base/version.gitMinor={minor}",
    "-X k8s.io/component-base/version.gitTreeState=clean",
)

_KUBERNETES_VERSION = "v1.35.4"

# The Pulumi engine. The CLI is the newest release the Go module proxy serves that was seen to build here.
# The Kubernetes provider's module is served at one pseudo-version only: the commit of 2026-01-15, one day
# before pulumi-kubernetes 4.25.0 was published; it is stamped (binary and embedded schema) as that release,
# and pyproject.toml pins the Python SDK pulumi-kubernetes to the same version, so the SDK asks the engine
# for exactly the plugin version this binary reports (no "provider is older than the SDK wants" warning).
PULUMI_VERSION = "v3.276.0"
KUBERNETES_PROVIDER_MODULE_VERSION = "v4.0.0-20260115033456-f47bc2d6f199"
KUBERNETES_PROVIDER_RELEASE = "4.25.0"

# THE place where versions are pinned. Bumping a tool means editing its line here and nothing else;
# the new version lands in a new cache directory, so the old binary is never reused by mistake.
TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            name="opa",
            module="github.com/open-policy-agent/opa",
            version="v1.22.2",
            package="github.com/open-policy-agent/opa",
            recipe=Recipe.GO_INSTALL,
            # opa keeps its version in source (v1/version.Version), so no stamp is needed.
        ),
        Tool(
            name="conftest",
            module="github.com/open-policy-agent/conftest",
            version="v0.71.1",
            package="github.com/open-policy-agent/conftest",
            recipe=Recipe.GO_INSTALL,
            ldflags=("-X github.com/open-policy-agent/conftest/internal/version.Version={semver}",),
        ),
        Tool(
            name="helm",
            module="helm.sh/helm/v3",
            version="v3.22.0",
            package="helm.sh/helm/v3/cmd/helm",
            recipe=Recipe.WRAPPER,
            # As helm's Makefile for a tagged release; the k8sVersion pair is the default
            # .Capabilities.KubeVersion of `helm template` (v1.20 when left unstamped).
            ldflags=(
                "-X helm.sh/helm/v3/internal/version.version={version}",
                "-X helm.sh/helm/v3/internal/version.gitTreeState=clean",
                "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor={kube_major}",
                "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor={kube_minor}",
                "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor={kube_major}",
                "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor={kube_minor}",
            ),
        ),
        Tool(
            name="etcd",
            module="go.etcd.io/etcd/server/v3",
            version="v3.7.3",
            # The module root is etcd's main package; its replaces (../api ...) are outside the zip.
            package="go.etcd.io/etcd/server/v3",
            recipe=Recipe.WRAPPER,
        ),
        Tool(
            name="kube-apiserver",
            module="k8s.io/kubernetes",
            version=_KUBERNETES_VERSION,
            package="k8s.io/kubernetes/cmd/kube-apiserver",
            recipe=Recipe.KUBERNETES,
            ldflags=_KUBE_VERSION_STAMP,
        ),
        Tool(
            name="kube-controller-manager",
            module="k8s.io/kubernetes",
            version=_KUBERNETES_VERSION,
            package="k8s.io/kubernetes/cmd/kube-controller-manager",
            recipe=Recipe.KUBERNETES,
            ldflags=_KUBE_VERSION_STAMP,
        ),
        Tool(
            name="pulumi",
            module="github.com/pulumi/pulumi/pkg/v3",
            version=PULUMI_VERSION,
            package="github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
            recipe=Recipe.WRAPPER,
            # Unstamped, the CLI reports v3.0.0 (and the Automation API's version checks read that).
            ldflags=("-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={version}",),
        ),
        Tool(
            name="pulumi-resource-kubernetes",
            module="github.com/pulumi/pulumi-kubernetes/provider/v4",
            version=KUBERNETES_PROVIDER_MODULE_VERSION,
            package="github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes",
            recipe=Recipe.GENERATED,
            ldflags=(
                "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version="
                + KUBERNETES_PROVIDER_RELEASE,
            ),
        ),
        Tool(
            # Versity S3 Gateway: a real S3-compatible object store (its `posix` backend keeps objects
            # as files in a directory); the tests point Pulumi's `s3://` backend at it on loopback.
            name="versitygw",
            module="github.com/versity/versitygw",
            version="v1.8.0",
            package="github.com/versity/versitygw/cmd/versitygw",
            recipe=Recipe.GO_INSTALL,
            # As its Makefile stamps a release (unstamped, `versitygw --version` says "git").
            ldflags=("-X main.Version={version}",),
        ),
    )
}



class ToolMissing(VfleetError):
    """A tool vfleet needs is neither overridden, nor built into the cache, nor on PATH."""

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(message)
        self.tool = tool


class ToolBuildFailed(VfleetError):
    """Building one or more pinned tools failed; `tools` names each of them."""

    def __init__(self, tools: list[str], message: str) -> None:
        super().__init__(message)
        self.tools = tools
