"""Starting and stopping loopback clusters: three processes each, all of a cluster or none of it."""

from __future__ import annotations

import atexit
import re
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from vfleet import toolchain
from vfleet.core import processes
from vfleet.core.processes import Process
from vfleet.devclusters.components import apiserver_args, controller_manager_args, etcd_args, https_ok
from vfleet.devclusters.keys import rsa_private_key_pem
from vfleet.devclusters.kubeconfig import write_entries, write_private
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

_PORT_RETRIES = 3
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
_attached: dict[Path, DevCluster] = {}  # started without `detach` and not stopped yet (the atexit net)
_attached_lock = threading.Lock()


def start_clusters(
    names: Sequence[str],
    *,
    root: Path | None = None,
    detach: bool = False,
    timeout_s: float = START_TIMEOUT_S,
) -> list[DevCluster]:
    """Start one cluster per name, in parallel; all of them or none.

    Without `root` each cluster lives in a fresh temp dir, else in `<root>/<name>` (which must not
    exist). Raises `toolchain.ToolMissing` before anything starts when a binary is missing, and
    `DevClusterError` (with the last lines of the log of the process that failed) when any cluster
    fails to come up; the clusters that did come up are stopped again first.

    Unless `detach`ed, clusters still running when this Python process exits are stopped then: a
    safety net for a caller that dies before its own cleanup (a SIGKILL still leaves them behind).
    """
    _check_names(names)
    binaries = {role: toolchain.binary(role) for role in ROLES}
    dirs = [_new_dir(name, root) for name in names]
    cancel = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, len(names)), thread_name_prefix="devcluster")
    futures = [
        pool.submit(_start_cluster, name, path, binaries, timeout_s, cancel)
        for name, path in zip(names, dirs, strict=True)
    ]
    try:
        wait(futures)
    except BaseException:
        cancel.set()  # workers stop whatever they have started; the shutdown below waits for them
        raise
    finally:
        pool.shutdown(wait=True)
        started = [future.result() for future in futures if _succeeded(future)]
        if cancel.is_set() or len(started) < len(futures):
            stop_clusters(started)
    failures = [str(future.exception()) for future in futures if not _succeeded(future)]
    if failures:
        raise DevClusterError("\n\n".join(failures))
    if not detach:
        with _attached_lock:
            _attached.update((cluster.dir, cluster) for cluster in started)
    return started


def stop_clusters(clusters: Sequence[DevCluster]) -> None:
    """Stop every process of every cluster and remove their directories; raise after trying all."""
    problems: list[str] = []
    for cluster in clusters:
        try:
            stop_cluster(cluster)
        except DevClusterError as error:
            problems.append(str(error))
    if problems:
        raise DevClusterError("\n".join(problems))


def stop_cluster(cluster: DevCluster) -> None:
    _stop_processes(cluster.name, cluster.processes)
    shutil.rmtree(cluster.dir, ignore_errors=True)
    with _attached_lock:
        _attached.pop(cluster.dir, None)


def restart_apiserver(
    cluster: DevCluster,
    *,
    kill_signal: signal.Signals = signal.SIGTERM,
    grace_s: float = 5.0,
    down_for: float = 2.0,
    timeout_s: float = START_TIMEOUT_S,
) -> DevCluster:
    """Stop the cluster's kube-apiserver with `kill_signal`, wait `down_for` seconds, start it again.

    Why: the engine tier's fault "a kube-apiserver restarted during an apply" needs the apiserver gone
    and back in place while etcd keeps the data. The new process runs the old one's exact command line
    (read from /proc before stopping it), so it serves on the same port with the same etcd, serving
    certificate (kept in --cert-dir), tokens and service-account key: kubeconfigs written before keep
    working. After SIGTERM the apiserver refuses new connections at once but drains for up to 60 s (it
    waits for its long-running watches); like a kubelet after a pod's grace period, it gets SIGKILL once
    `grace_s` has passed. Returns once /readyz passes again; the returned DevCluster (new pid) replaces
    the given one: stop that one, not the old record. kube-controller-manager keeps running across the
    restart (it retries its watches); should it have exited, it is started again. Raises
    `DevClusterError` when the apiserver cannot be stopped or does not become ready within `timeout_s`.
    """
    (old,) = [p for p in cluster.processes if p.role == APISERVER]
    try:
        argv = [a.decode() for a in Path(f"/proc/{old.pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError as error:
        raise DevClusterError(f"cluster {cluster.name}: kube-apiserver is not running: {error}") from None
    if not processes.alive(old):
        raise DevClusterError(f"cluster {cluster.name}: kube-apiserver (pid {old.pid}) is not running")
    if not processes.stop(old, grace_s, first=kill_signal):
        raise DevClusterError(f"cluster {cluster.name}: could not stop kube-apiserver (pid {old.pid})")
    time.sleep(down_for)
    members = list(cluster.processes)
    by_role = {p.role: i for i, p in enumerate(members)}
    fresh = processes.spawn(APISERVER, argv, old.log)
    members[by_role[APISERVER]] = fresh
    token = cluster.admin_token
    ready = f"{cluster.server}/readyz"
    never = threading.Event()
    deadline = time.monotonic() + timeout_s
    try:
        watch = [members[by_role[ETCD]], fresh]
        _wait_until(lambda: https_ok(ready, cluster.ca_file, token), "kube-apiserver /readyz", watch, deadline, never)
        kcm = members[by_role[CONTROLLER_MANAGER]]
        if not processes.alive(kcm):
            binary = toolchain.binary(CONTROLLER_MANAGER)
            args = controller_manager_args(cluster.dir, cluster.admin_kubeconfig)
            members[by_role[CONTROLLER_MANAGER]] = processes.spawn(CONTROLLER_MANAGER, [str(binary), *args], kcm.log)
    except _Failed as failure:
        # The given record stays the one to stop: its apiserver is gone, etcd and the rest are not.
        processes.stop(fresh)
        raise DevClusterError(f"cluster {cluster.name}: restarted, {failure}; last lines:\n{failure.tail}") from None
    restarted = replace(cluster, processes=tuple(members))
    with _attached_lock:
        if cluster.dir in _attached:
            _attached[cluster.dir] = restarted  # the atexit safety net stops the new processes
    return restarted


@atexit.register
def _stop_attached() -> None:
    with _attached_lock:
        clusters = list(_attached.values())
    stop_clusters(clusters)


@contextmanager
def running(names: Sequence[str], *, root: Path | None = None) -> Iterator[list[DevCluster]]:
    """Clusters for the duration of a `with` block, stopped however the block ends."""
    clusters = start_clusters(names, root=root)
    try:
        yield clusters
    finally:
        stop_clusters(clusters)


def leftovers(clusters: Sequence[DevCluster]) -> list[str]:
    """What is still there of stopped clusters (running processes, directories); empty when clean."""
    found = [
        f"{cluster.name}: {process.role} (pid {process.pid}) is still running"
        for cluster in clusters
        for process in cluster.processes
        if processes.alive(process)
    ]
    found += [f"{cluster.name}: {cluster.dir} still exists" for cluster in clusters if cluster.dir.exists()]
    return found


def rss_kib(cluster: DevCluster) -> dict[str, int]:
    """Resident memory of each running process of a cluster, in KiB (VmRSS; no psutil needed)."""
    sizes: dict[str, int] = {}
    for process in cluster.processes:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        if match and processes.alive(process):
            sizes[process.role] = int(match[1])
    return sizes


def _check_names(names: Sequence[str]) -> None:
    if not names:
        raise DevClusterError("no cluster names given")
    bad = [name for name in names if not _NAME.match(name)]
    if bad:
        raise DevClusterError(
            f"bad cluster names {bad}: use lower-case letters, digits and '-', at most 40 characters"
        )
    if len(set(names)) != len(names):
        raise DevClusterError(f"cluster names repeat: {sorted(names)}")


def _new_dir(name: str, root: Path | None) -> Path:
    if root is None:
        return Path(tempfile.mkdtemp(prefix=f"vfleet-{name}-"))
    path = root.absolute() / name
    if path.exists():
        raise DevClusterError(f"{path} already exists: another cluster may be using it; remove it first")
    return path


def _succeeded(future: Future[DevCluster]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None



class _Failed(Exception):
    """Start-up failed; `process` is the one whose log explains why, `tail` that log's last lines.

    The tail is read when the failure is noticed: the directory holding the log is removed before the
    error reaches the caller.
    """

    def __init__(self, message: str, process: Process | None) -> None:
        super().__init__(message)
        self.process = process
        self.tail = processes.tail(process.log) if process else ""


def _start_cluster(
    name: str, path: Path, binaries: dict[str, Path], timeout_s: float, cancel: threading.Event
) -> DevCluster:
    for attempt in range(1, _PORT_RETRIES + 1):
        try:
            return _start_once(name, path, binaries, time.monotonic() + timeout_s, cancel)
        except OSError as error:  # e.g. a binary that cannot be executed, a full disk
            raise DevClusterError(f"cluster {name}: {error}") from None
        except _Failed as failure:
            # A free port can be taken by someone else between choosing it and binding it.
            if "address already in use" in failure.tail and attempt < _PORT_RETRIES and not cancel.is_set():
                continue
            where = (
                f"; last lines of its {failure.process.role} log:\n{failure.tail}" if failure.process else ""
            )
            raise DevClusterError(f"cluster {name}: {failure}{where}") from None
    raise AssertionError("unreachable")


def _start_once(
    name: str, path: Path, binaries: dict[str, Path], deadline: float, cancel: threading.Event
) -> DevCluster:
    began = time.monotonic()
    (path / "logs").mkdir(parents=True)
    (path / "certs").mkdir()
    etcd_port, peer_port, api_port = processes.free_ports(3)
    server = f"https://127.0.0.1:{api_port}"
    ca_file = path / "certs" / "apiserver.crt"
    admin_token, user_token = secrets.token_hex(24), secrets.token_hex(24)
    started: list[Process] = []

    def spawn(role: str, args: list[str]) -> Process:
        process = processes.spawn(role, [str(binaries[role]), *args], path / "logs" / f"{role}.log")
        started.append(process)
        return process

    def until(check: Callable[[], bool], what: str) -> None:
        _wait_until(check, what, started, deadline, cancel)

    try:
        spawn(ETCD, etcd_args(path, etcd_port, peer_port))
        # etcd needs ~1 s to elect itself leader: make the key meanwhile, and let kube-apiserver,
        # which retries its storage until etcd answers, start without waiting for etcd's health.
        write_private(
            path / "tokens.csv",
            f'{admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n{user_token},{PLAIN_USER},{PLAIN_USER}\n',
        )
        write_private(path / "sa.key", rsa_private_key_pem())
        spawn(APISERVER, apiserver_args(path, etcd_port, api_port))
        until(lambda: https_ok(f"{server}/readyz", ca_file, admin_token), "kube-apiserver /readyz")
        admin_kubeconfig = write_entries(
            path / "admin.kubeconfig", [(name, server, ca_file, admin_token)]
        )
        user_kubeconfig = write_entries(path / "user.kubeconfig", [(name, server, ca_file, user_token)])
        spawn(CONTROLLER_MANAGER, controller_manager_args(path, admin_kubeconfig))
        # The service-account controller creating `default` in `default` shows that the controllers
        # run and can reach the apiserver (it has no health port: --secure-port=0).
        sa_url = f"{server}/api/v1/namespaces/default/serviceaccounts/default"
        until(lambda: https_ok(sa_url, ca_file, admin_token), "kube-controller-manager's first objects")
    except BaseException:
        _stop_processes(name, started, quiet=True)
        shutil.rmtree(path, ignore_errors=True)
        raise
    return DevCluster(
        name=name,
        server=server,
        dir=path,
        ca_file=ca_file,
        admin_kubeconfig=admin_kubeconfig,
        user_kubeconfig=user_kubeconfig,
        admin_token=admin_token,
        user_token=user_token,
        processes=tuple(started),
        startup_s=round(time.monotonic() - began, 2),
    )



def _wait_until(
    check: Callable[[], bool],
    what: str,
    watch: Sequence[Process],
    deadline: float,
    cancel: threading.Event,
) -> None:
    while True:
        for process in watch:
            if not processes.alive(process):
                code = processes.exit_code(process)
                raise _Failed(f"{process.role} exited (code {code}) while waiting for {what}", process)
        if check():
            return
        if cancel.is_set():
            raise _Failed(f"start-up cancelled while waiting for {what}", None)
        if time.monotonic() > deadline:
            raise _Failed(f"timed out waiting for {what}", watch[-1])
        time.sleep(0.1)


def _stop_processes(cluster: str, started: Sequence[Process], *, quiet: bool = False) -> None:
    """Stop a cluster's processes in reverse start order: the controller-manager, then the apiserver,
    then etcd (stopping etcd first leaves the apiserver retrying for half a minute)."""
    stubborn = [f"{process.role} (pid {process.pid})" for process in reversed(started) if not processes.stop(process)]
    if stubborn and not quiet:
        raise DevClusterError(f"cluster {cluster}: could not stop {', '.join(stubborn)}")
