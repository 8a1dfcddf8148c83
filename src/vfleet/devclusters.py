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
"""

from __future__ import annotations

import atexit
import base64
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from vfleet import toolchain
from vfleet.errors import VfleetError

ETCD = "etcd"
APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
ROLES = (ETCD, APISERVER, CONTROLLER_MANAGER)  # start order; stopped in reverse

ADMIN_USER = "vfleet-admin"  # in group system:masters
PLAIN_USER = "vfleet-nobody"  # no groups, no bindings: every write is forbidden
STATE_FILE = "clusters.json"

START_TIMEOUT_S = 120.0  # for a whole cluster; ~5 s alone, slower when several start on 2 cores
_STOP_TIMEOUT_S = 15.0  # per process before SIGKILL; kube-apiserver needs ~3 s after SIGTERM
_LOG_TAIL_LINES = 20
_PORT_RETRIES = 3
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


class DevClusterError(VfleetError):
    """A loopback cluster could not be started, or one of its processes could not be stopped."""


@dataclass(frozen=True, slots=True)
class Process:
    """One running process of a cluster."""

    role: str
    pid: int
    # Start time in clock ticks since boot (/proc/<pid>/stat): `down` in another vfleet process must
    # never signal an unrelated process that reused the pid.
    started: int
    log: Path


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


# ---------------------------------------------------------------------------------------------------------
# Starting and stopping


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
        with _children_lock:
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
    with _children_lock:
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
    if not _alive(old):
        raise DevClusterError(f"cluster {cluster.name}: kube-apiserver (pid {old.pid}) is not running")
    for sig, wait_s in ((kill_signal, grace_s), (signal.SIGKILL, 5.0)):
        if _alive(old):
            with suppress(ProcessLookupError):
                os.kill(old.pid, sig)
            deadline = time.monotonic() + wait_s
            while _alive(old) and time.monotonic() < deadline:
                time.sleep(0.05)
    if _alive(old):
        raise DevClusterError(f"cluster {cluster.name}: could not stop kube-apiserver (pid {old.pid})")
    with _children_lock:
        _children.pop(old.pid, None)
    time.sleep(down_for)
    processes = list(cluster.processes)
    by_role = {p.role: i for i, p in enumerate(processes)}
    fresh = _spawn(APISERVER, argv, old.log)
    processes[by_role[APISERVER]] = fresh
    token = cluster.admin_token
    ready = f"{cluster.server}/readyz"
    never = threading.Event()
    deadline = time.monotonic() + timeout_s
    try:
        watch = [processes[by_role[ETCD]], fresh]
        _wait_until(lambda: _https_ok(ready, cluster.ca_file, token), "kube-apiserver /readyz", watch, deadline, never)
        kcm = processes[by_role[CONTROLLER_MANAGER]]
        if not _alive(kcm):
            binary = toolchain.binary(CONTROLLER_MANAGER)
            args = _controller_manager_args(cluster.dir, cluster.admin_kubeconfig)
            processes[by_role[CONTROLLER_MANAGER]] = _spawn(CONTROLLER_MANAGER, [str(binary), *args], kcm.log)
    except _Failed as failure:
        _stop(fresh)  # the given record stays the one to stop: its apiserver is gone, etcd and the rest are not
        raise DevClusterError(f"cluster {cluster.name}: restarted, {failure}; last lines:\n{failure.tail}") from None
    restarted = replace(cluster, processes=tuple(processes))
    with _children_lock:
        if cluster.dir in _attached:
            _attached[cluster.dir] = restarted  # the atexit safety net stops the new processes
    return restarted


@atexit.register
def _stop_attached() -> None:
    with _children_lock:
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
        if _alive(process)
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
        if match and _alive(process):
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


# ---------------------------------------------------------------------------------------------------------
# One cluster


class _Failed(Exception):
    """Start-up failed; `process` is the one whose log explains why, `tail` that log's last lines.

    The tail is read when the failure is noticed: the directory holding the log is removed before the
    error reaches the caller.
    """

    def __init__(self, message: str, process: Process | None) -> None:
        super().__init__(message)
        self.process = process
        self.tail = _tail(process.log) if process else ""


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
    etcd_port, peer_port, api_port = _free_ports(3)
    server = f"https://127.0.0.1:{api_port}"
    ca_file = path / "certs" / "apiserver.crt"
    admin_token, user_token = secrets.token_hex(24), secrets.token_hex(24)
    started: list[Process] = []

    def spawn(role: str, args: list[str]) -> Process:
        process = _spawn(role, [str(binaries[role]), *args], path / "logs" / f"{role}.log")
        started.append(process)
        return process

    def until(check: Callable[[], bool], what: str) -> None:
        _wait_until(check, what, started, deadline, cancel)

    try:
        spawn(ETCD, _etcd_args(path, etcd_port, peer_port))
        # etcd needs ~1 s to elect itself leader: make the key meanwhile, and let kube-apiserver,
        # which retries its storage until etcd answers, start without waiting for etcd's health.
        _write_private(
            path / "tokens.csv",
            f'{admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n{user_token},{PLAIN_USER},{PLAIN_USER}\n',
        )
        _write_private(path / "sa.key", rsa_private_key_pem())
        spawn(APISERVER, _apiserver_args(path, etcd_port, api_port))
        until(lambda: _https_ok(f"{server}/readyz", ca_file, admin_token), "kube-apiserver /readyz")
        admin_kubeconfig = _write_kubeconfig(
            path / "admin.kubeconfig", [(name, server, ca_file, admin_token)]
        )
        user_kubeconfig = _write_kubeconfig(path / "user.kubeconfig", [(name, server, ca_file, user_token)])
        spawn(CONTROLLER_MANAGER, _controller_manager_args(path, admin_kubeconfig))
        # The service-account controller creating `default` in `default` shows that the controllers
        # run and can reach the apiserver (it has no health port: --secure-port=0).
        sa_url = f"{server}/api/v1/namespaces/default/serviceaccounts/default"
        until(lambda: _https_ok(sa_url, ca_file, admin_token), "kube-controller-manager's first objects")
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


def _etcd_args(path: Path, port: int, peer_port: int) -> list[str]:
    peer = f"http://127.0.0.1:{peer_port}"
    return [
        f"--data-dir={path / 'etcd'}",
        f"--listen-client-urls=http://127.0.0.1:{port}",
        f"--advertise-client-urls=http://127.0.0.1:{port}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--unsafe-no-fsync=true",
    ]


def _apiserver_args(path: Path, etcd_port: int, port: int) -> list[str]:
    key = path / "sa.key"
    return [
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={path / 'certs'}",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-account-key-file={key}",
        f"--service-account-signing-key-file={key}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--authorization-mode=RBAC",
        f"--token-auth-file={path / 'tokens.csv'}",
        # Pods get no service-account token volume: there is no kubelet to mount one anyway.
        "--disable-admission-plugins=ServiceAccount",
        "--allow-privileged=true",
    ]


def _controller_manager_args(path: Path, kubeconfig: Path) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        f"--service-account-private-key-file={path / 'sa.key'}",
        f"--root-ca-file={path / 'certs' / 'apiserver.crt'}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
    ]


def write_kubeconfig(path: Path, contexts: Mapping[str, DevCluster], *, admin: bool = True) -> Path:
    """A kubeconfig reaching each cluster under the context name it is keyed by (the first is current).

    For fleet specs whose kubeconfig reference names a context, or that read several clusters from
    one file; each cluster's own admin/user kubeconfigs use the cluster's name as context.
    """
    entries = [
        (context, cluster.server, cluster.ca_file, cluster.admin_token if admin else cluster.user_token)
        for context, cluster in contexts.items()
    ]
    return _write_kubeconfig(path, entries)


def _write_kubeconfig(path: Path, entries: Sequence[tuple[str, str, Path, str]]) -> Path:
    """Write (context, server, CA file, token) entries; cluster and user are named like the context."""
    clusters, users, contexts = [], [], []
    for context, server, ca_file, token in entries:
        # The CA is embedded so the file works on its own (copied, or its content put in an env var).
        ca_data = base64.b64encode(ca_file.read_bytes()).decode()
        cluster = {"server": server, "certificate-authority-data": ca_data}
        clusters.append({"name": context, "cluster": cluster})
        users.append({"name": context, "user": {"token": token}})
        contexts.append({"name": context, "context": {"cluster": context, "user": context}})
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
        "current-context": entries[0][0],
    }
    _write_private(path, yaml.safe_dump(config, sort_keys=False))
    return path


def _write_private(path: Path, content: str) -> None:
    """Write a file only its owner can read: tokens and keys live in these files."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


# ---------------------------------------------------------------------------------------------------------
# Waiting


def _wait_until(
    check: Callable[[], bool],
    what: str,
    watch: Sequence[Process],
    deadline: float,
    cancel: threading.Event,
) -> None:
    while True:
        for process in watch:
            if not _alive(process):
                code = _exit_code(process)
                raise _Failed(f"{process.role} exited (code {code}) while waiting for {what}", process)
        if check():
            return
        if cancel.is_set():
            raise _Failed(f"start-up cancelled while waiting for {what}", None)
        if time.monotonic() > deadline:
            raise _Failed(f"timed out waiting for {what}", watch[-1])
        time.sleep(0.1)


def _https_ok(url: str, ca_file: Path, token: str) -> bool:
    if not ca_file.exists():  # the apiserver writes its cert before serving
        return False
    context = ssl.create_default_context(cafile=str(ca_file))
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    # ProxyHandler({}): a proxy from the environment must never be asked for 127.0.0.1.
    https = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    try:
        with https.open(request, timeout=2) as response:
            return int(response.status) == 200
    except (OSError, urllib.error.URLError, ssl.SSLError):
        return False


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-_LOG_TAIL_LINES:])


# ---------------------------------------------------------------------------------------------------------
# Processes and ports

_children: dict[int, subprocess.Popen[bytes]] = {}  # processes this vfleet process started
_attached: dict[Path, DevCluster] = {}  # started without `detach` and not stopped yet
_children_lock = threading.Lock()
_ports_lock = threading.Lock()
_ports_given: set[int] = set()


def _spawn(role: str, argv: list[str], log: Path) -> Process:
    with log.open("ab") as out:
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    with _children_lock:
        _children[child.pid] = child
    return Process(role=role, pid=child.pid, started=_start_ticks(child.pid) or 0, log=log)


def _stop_processes(cluster: str, processes: Sequence[Process], *, quiet: bool = False) -> None:
    stubborn: list[str] = []
    for process in reversed(processes):
        if not _stop(process) and not quiet:
            stubborn.append(f"{process.role} (pid {process.pid})")
    if stubborn:
        raise DevClusterError(f"cluster {cluster}: could not stop {', '.join(stubborn)}")


def _stop(process: Process) -> bool:
    """SIGTERM, then SIGKILL after a grace period; True once the process is gone."""
    for sig, grace in ((signal.SIGTERM, _STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
        if not _alive(process):
            break
        try:
            os.kill(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while _alive(process) and time.monotonic() < deadline:
            time.sleep(0.05)
    gone = not _alive(process)
    if gone:
        with _children_lock:
            _children.pop(process.pid, None)
    return gone


def _alive(process: Process) -> bool:
    with _children_lock:
        child = _children.get(process.pid)
    if child is not None:
        return child.poll() is None  # also reaps it, so no zombie is left behind
    ticks = _start_ticks(process.pid, running_only=True)
    return ticks is not None and ticks == process.started


def _exit_code(process: Process) -> int | None:
    with _children_lock:
        child = _children.get(process.pid)
    return child.returncode if child is not None else None


def _start_ticks(pid: int, *, running_only: bool = False) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name in parentheses may contain spaces
    if running_only and fields[0] == "Z":
        return None
    return int(fields[19])


def _free_ports(count: int) -> list[int]:
    """Ports free right now, never handed out twice by this process (clusters start in parallel)."""
    with _ports_lock:
        sockets: list[socket.socket] = []
        ports: list[int] = []
        try:
            while len(ports) < count:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
                if port not in _ports_given:
                    ports.append(port)
        finally:
            for sock in sockets:
                sock.close()
        _ports_given.update(ports)
        return ports


# ---------------------------------------------------------------------------------------------------------
# The service-account key


def rsa_private_key_pem(bits: int = 2048) -> str:
    """A new RSA private key as PKCS#1 PEM, in plain Python.

    Neither `cryptography` nor an `openssl` binary can be counted on (slim images lack the latter);
    the key only signs service-account tokens of a throwaway loopback cluster. d is computed modulo
    lcm(p-1, q-1), as Go and OpenSSL do, so Go's key validation accepts it.
    """
    e = 65537
    while True:
        p, q = _prime(bits // 2), _prime(bits - bits // 2)
        n = p * q
        lam = math.lcm(p - 1, q - 1)
        if p != q and n.bit_length() == bits and math.gcd(e, lam) == 1:
            break
    d = pow(e, -1, lam)
    numbers = [0, n, e, d, p, q, d % (p - 1), d % (q - 1), pow(q, -1, p)]
    der = _der(0x30, b"".join(_der(0x02, v.to_bytes(v.bit_length() // 8 + 1, "big")) for v in numbers))
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *lines, "-----END RSA PRIVATE KEY-----", ""])


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % k for k in range(2, math.isqrt(p) + 1))]


def _prime(bits: int) -> int:
    while True:
        # The top two bits set make p*q exactly 2*bits long; the low bit makes it odd.
        candidate = secrets.randbits(bits) | (0b11 << (bits - 2)) | 1
        if all(candidate % p for p in _SMALL_PRIMES) and _probably_prime(candidate):
            return candidate


def _probably_prime(n: int, rounds: int = 24) -> bool:
    """Miller-Rabin with random bases."""
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(2 + secrets.randbelow(n - 3), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


# ---------------------------------------------------------------------------------------------------------
# Clusters that outlive the command that started them (`vfleet dev clusters up|down`)


def up(state_dir: Path, names: Sequence[str]) -> list[DevCluster]:
    """Start clusters under `state_dir` and record them there, so that `down` can stop them later."""
    previous = load_state(state_dir)
    if any(_alive(process) for cluster in previous for process in cluster.processes):
        running_names = ", ".join(cluster.name for cluster in previous)
        raise DevClusterError(
            f"dev clusters {running_names} are already running (state in {state_dir / STATE_FILE});"
            " stop them first with `vfleet dev clusters down`"
        )
    down(state_dir)  # clears what a crashed run left behind
    for name in names:
        shutil.rmtree(state_dir / name, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    clusters = start_clusters(names, root=state_dir, detach=True)
    payload = {"clusters": [_to_json(cluster) for cluster in clusters]}
    _write_private(state_dir / STATE_FILE, json.dumps(payload, indent=2) + "\n")
    return clusters


def down(state_dir: Path) -> list[DevCluster]:
    """Stop every cluster recorded under `state_dir`, remove its directory and the record."""
    clusters = load_state(state_dir)
    stop_clusters(clusters)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return clusters


def load_state(state_dir: Path) -> list[DevCluster]:
    path = state_dir / STATE_FILE
    if not path.exists():
        return []
    try:
        return [_from_json(item) for item in json.loads(path.read_text())["clusters"]]
    except (ValueError, KeyError, TypeError) as error:
        message = f"{path} is damaged ({error}); stop its processes by hand and remove it"
        raise DevClusterError(message) from None


def _to_json(cluster: DevCluster) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(cluster), default=str))  # type: ignore[no-any-return]


def _from_json(item: dict[str, Any]) -> DevCluster:
    paths = ("dir", "ca_file", "admin_kubeconfig", "user_kubeconfig")
    processes = tuple(Process(**{**process, "log": Path(process["log"])}) for process in item["processes"])
    return DevCluster(**{**item, **{key: Path(item[key]) for key in paths}, "processes": processes})
