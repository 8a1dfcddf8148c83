"""Connected clusters on loopback: etcd + kube-apiserver + kube-controller-manager, for tests and trials.

The live test tier and `vfleet dev clusters up` need real API servers (RBAC, server-side apply, quota
status, namespaces that finish deleting, StatefulSets that get pods), but no container runtime is
available on the machines vfleet is built on, so kind or k3d are not an option. Three processes per
cluster, built from source by `vfleet.toolchain`, are enough; there is no kubelet, so pods stay Pending.

One cluster's directory (a fresh temp dir, or ``<root>/<name>``)::

    etcd/                   etcd's data (--unsafe-no-fsync: throwaway data, fast start)
    certs/apiserver.crt     kube-apiserver's self-signed serving cert followed by its CA
    sa.key                  the service-account signing key (RSA 2048, generated here)
    tokens.csv              static tokens: an admin in system:masters and a user with no rights at all
    admin.kubeconfig        the admin; kube-controller-manager uses it too
    user.kubeconfig         the user without rights: RBAC is exercised for real with it
    logs/<process>.log      stdout and stderr of each process

Every process is stopped in reverse start order (controller-manager, apiserver, etcd: stopping etcd
first leaves the apiserver retrying for half a minute) and the directory removed, also when start-up
fails halfway. Processes run in their own session, so a Ctrl-C at the terminal reaches vfleet, which
stops them in order, rather than killing all three at once.

records     what a cluster is: roles, users, the DevCluster record, DevClusterError
cluster     start (all of them or none), stop, restart the apiserver, what is left behind
components  each program's command line, the HTTPS probe
keys        the service-account key (RSA in plain Python)
kubeconfig  kubeconfigs and owner-only files
state       `vfleet dev clusters up|down`: clusters recorded on disk
The processes themselves are `vfleet.core.processes`', which also runs vfleet's local OPA servers.
"""

from vfleet.core.processes import Process
from vfleet.devclusters.cluster import (
    leftovers,
    restart_apiserver,
    rss_kib,
    running,
    start_clusters,
    stop_cluster,
    stop_clusters,
)
from vfleet.devclusters.keys import rsa_private_key_pem
from vfleet.devclusters.kubeconfig import write_kubeconfig
from vfleet.devclusters.records import (
    ADMIN_USER,
    APISERVER,
    CONTROLLER_MANAGER,
    ETCD,
    PLAIN_USER,
    ROLES,
    START_TIMEOUT_S,
    DevCluster,
    DevClusterError,
)
from vfleet.devclusters.state import STATE_FILE, down, load_state, up

__all__ = [
    "ADMIN_USER",
    "APISERVER",
    "CONTROLLER_MANAGER",
    "ETCD",
    "PLAIN_USER",
    "ROLES",
    "START_TIMEOUT_S",
    "STATE_FILE",
    "DevCluster",
    "DevClusterError",
    "Process",
    "down",
    "leftovers",
    "load_state",
    "restart_apiserver",
    "rsa_private_key_pem",
    "rss_kib",
    "running",
    "start_clusters",
    "stop_cluster",
    "stop_clusters",
    "up",
    "write_kubeconfig",
]
