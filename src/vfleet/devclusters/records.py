"""What a loopback cluster is: its processes' roles, its users, and the record of a running one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vfleet.core.errors import VfleetError
from vfleet.core.processes import Process

ETCD = "etcd"
APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
ROLES = (ETCD, APISERVER, CONTROLLER_MANAGER)  # start order; stopped in reverse

ADMIN_USER = "vfleet-admin"  # in group system:masters
PLAIN_USER = "vfleet-nobody"  # no groups, no bindings: every write is forbidden

START_TIMEOUT_S = 120.0  # for a whole cluster; ~5 s alone, slower when several start on 2 cores


class DevClusterError(VfleetError):
    """A loopback cluster could not be started, or one of its processes could not be stopped."""


@dataclass(frozen=True, slots=True)
class DevCluster:
    """A running loopback cluster and everything needed to talk to it."""

    name: str
    server: str  # https://127.0.0.1:<port>
    dir: Path
    ca_file: Path
    admin_kubeconfig: Path
    user_kubeconfig: Path
    admin_token: str = field(repr=False)
    user_token: str = field(repr=False)
    processes: tuple[Process, ...]  # in start order
    startup_s: float  # from the start of start-up (key generation included) to every check passing
