"""The OPA server that evaluates the policies: started here, or a shared one the user points us at.

Default: `opa run --server` (the pinned binary from `vfleet.toolchain`) on a free 127.0.0.1 port with
the policy files loaded from a temporary directory, stopped when the `with` block ends, also on errors.
The files come from a `Tree`, so the policies of any Git revision can be served (`vfleet policy impact`
runs the base revision's policies next to the head's).

With `VFLEET_OPA_URL` (or `url=`) an existing server is used instead. Its policy namespace is shared
with everyone else who uses it, so the policies are pushed through the Policy API under a package root
of their own (`vfleet` is renamed `vfleet_<random>` in every module and in the data document), and
removed again when the block ends. Two runs at the same time, or the base and head policies of one
`impact`, never see each other's rules.

Everything that can go wrong here raises `PolicyError` with a finding code: the gate fails closed.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import re
import secrets
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import requests
import yaml

from vfleet import layout, toolchain
from vfleet.errors import VfleetError
from vfleet.load import POLICIES_DIR
from vfleet.policy import URL_ENV  # defined with the package: naming it imports no HTTP client
from vfleet.tree import Tree, TreeError

TOKEN_ENV = "VFLEET_OPA_TOKEN"  # bearer token for a shared server that requires one
ROOT = "vfleet"  # the package root every policy lives under: data.vfleet.*
QUERY_RULE = "main"  # data.vfleet.main: {deny, warn, excepted, errors}

_READY_TIMEOUT_S = 20.0
_READY_POLL_S = 0.002  # OPA is ready ~30 ms after it starts; polling every 20 ms made that ~44 ms
_QUERY_TIMEOUT_S = 120.0  # one request evaluates the whole fleet; 10k tenants take well under a second
_DATA_SUFFIXES = (".json", ".yaml", ".yml")
# Per OPA process: where the local OPA's garbage collector starts working (see _go_runtime).
_GO_MEMORY_LIMIT = "512MiB"  # one process: it may get the whole fleet in one request
_GO_MEMORY_LIMIT_LANES = "256MiB"  # the least for processes side by side, each given parts of the input
# What a whole `vfleet check` may hold, vfleet and its OPA processes together (issue 15's 3 GiB), and what
# vfleet itself holds per tenant at its peak (compile_bench: 2,389 MiB at 100,000 tenants, 26 KiB with a
# margin). What is left goes to the lanes, 256 to 512 MiB each.
CHECK_BUDGET_MIB = 3072
VFLEET_KIB_PER_TENANT = 26


@functools.cache
def _fleet_client_class() -> Any:
    """opa-python-client's client class, extended; imported on first use, because the package pulls in
    aiohttp for its async client and that costs every vfleet command a fifth of a second of start-up."""
    from opa_client import OpaClient

    class FleetClient(OpaClient):  # type: ignore[misc]  # opa_client ships no type information
        """opa-python-client's `OpaClient` with one addition: the fleet query sent as ready-made JSON bytes.

        `OpaClient.query_rule` hands the input to `requests` (`json=`), which serialises it with the
        standard library's `json` and decodes the answer the same way. For a 10,000-tenant fleet that is
        a ~15 MB document, and the stdlib encoder alone takes longer than OPA's evaluation. The input is
        serialised once with orjson instead, and posted over the client's own session (its headers, token,
        TLS settings and connection pool), to the same Data API endpoint `query_rule` uses.
        """

        def query_rule_json(
            self, body: bytes, package_path: str, rule_name: str, query_params: Mapping[str, Any]
        ) -> Any:
            """POST /v1/data/<package>/<rule> with `body` ({"input": ...} as JSON); the decoded response body."""
            path = package_path.replace(".", "/")
            url = f"{self.root_url}/data/{path}/{rule_name}"
            if query_params:
                flags = {k: str(v).lower() if isinstance(v, bool) else v for k, v in query_params.items()}
                url = f"{url}?{urlencode(flags)}"
            response = self._session.post(url, data=body, headers={"Content-Type": "application/json"},
                                          timeout=self.timeout)
            response.raise_for_status()
            return orjson.loads(response.content)

    return FleetClient


def FleetClient(**kwargs: Any) -> Any:
    """A client of `_fleet_client_class` (named like the class it builds, for readers of the call sites)."""
    return _fleet_client_class()(**kwargs)


def _rego_parse_error() -> type[Exception]:
    from opa_client.errors import RegoParseError

    error_class: type[Exception] = RegoParseError
    return error_class


class PolicyError(VfleetError):
    """The policy gate cannot give a verdict. `code` is the finding code it is reported under."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PolicySet:
    """The files of a `policies/` folder: path relative to it -> content, and where they came from."""

    files: Mapping[str, bytes]
    origin: str  # for messages: "policies/ of work tree /repo", "policies/ of commit abc123"

    @staticmethod
    def from_tree(tree: Tree) -> PolicySet:
        prefix = POLICIES_DIR + "/"
        try:
            files = {e.path.removeprefix(prefix): tree.read(e.path) for e in tree.files(POLICIES_DIR)}
            odd = layout.unread(tree.unlisted(POLICIES_DIR))
        except (TreeError, OSError) as exc:
            raise PolicyError("policy.load", f"cannot read {POLICIES_DIR}/ of {tree.label}: {exc}") from exc
        # A policy file the server would not load is a rule nobody enforces: refused, never skipped.
        odd += [(prefix + path, "layout.extension", "a Rego module is loaded only as *.rego (lowercase); rename it")
                for path in files if path.lower().endswith(".rego") and not path.endswith(".rego")]
        if odd:
            raise PolicyError("policy.layout", f"{POLICIES_DIR}/ of {tree.label} has files the policy gate would not "
                              "load: " + "; ".join(f"{path} ({code}): {message}" for path, code, message in odd))
        policies = PolicySet(files, f"{POLICIES_DIR}/ of {tree.label}")
        if not policies.modules:
            raise PolicyError(
                "policy.missing",
                f"{policies.origin} holds no Rego policies (*.rego), so nothing can be checked; add the "
                "guardrail library to policies/ (docs/policy-input.md describes what policies see).",
            )
        return policies

    @property
    def modules(self) -> dict[str, str]:
        """The Rego modules the server loads: every *.rego but the unit tests."""
        return {
            path: content.decode("utf-8")
            for path, content in sorted(self.files.items())
            if path.endswith(".rego") and not path.endswith("_test.rego")
        }

    def fingerprint(self, engine: str) -> str:
        """A digest of these files and of `engine` (which OPA evaluates them)."""
        hashed = hashlib.blake2b(engine.encode(), digest_size=20)
        for path, content in sorted(self.files.items()):
            hashed.update(f"\0{path}\0{len(content)}\0".encode())
            hashed.update(content)
        return hashed.hexdigest()

    def config(self, name: str) -> Any:
        """data.<root>.config.<name> as the data files set it, None when they do not (or cannot be read):
        a hint before any server runs; what the server answers (`Engine.setting`) is what counts."""
        try:
            config = data_document(self).get("config")
        except PolicyError:
            return None
        return config.get(name) if isinstance(config, dict) else None

    def write(self, directory: Path) -> None:
        for path, content in self.files.items():
            target = directory / PurePosixPath(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)


Lane = tuple[Any, str]  # (client, url): one server, or one more connection to a shared server


@dataclass
class Engine:
    """A server with one policy set loaded, ready to answer the fleet query."""

    client: Any  # opa_client.OpaClient (untyped package)
    url: str
    root: str  # package root of this policy set on that server
    file_prefix: str  # how OPA names the policy files (a temp dir, a policy id); shown as policies/
    # What the answers depend on besides the input: the policy files and the OPA that runs them
    # (vfleet.policy.verdicts keeps verdicts under it).
    fingerprint: str = ""
    # Starts one more lane with the same policies loaded (another local OPA process; another connection
    # to a shared server), for `query_all`; lanes live as long as the engine.
    more: Callable[[], Lane] | None = field(default=None, repr=False)
    _lanes: list[Lane] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def query(self, document: Mapping[str, Any] | bytes, *, metrics: bool = False) -> dict[str, Any]:
        """Evaluate data.<root>.main for one input document; return OPA's response body.

        `document` is the input itself, or the whole request body already serialised
        (`{"input": ...}` as JSON bytes, see `PolicyInput.request_body`).
        Builtin errors are made fatal (`strict-builtin-errors`): by default OPA treats, say, a type
        error inside a builtin as "undefined", which would silently drop a deny.
        """
        request = document if isinstance(document, bytes) else orjson.dumps({"input": document})
        return self._query((self.client, self.url), request, metrics)

    def query_all(self, bodies: Sequence[bytes], *, lanes: int, metrics: bool = False) -> list[dict[str, Any]]:
        """Evaluate each request body; up to `lanes` at a time, each lane answering its share in turn.

        One request at a time per OPA process: two at once on one server share its heap and collector,
        and were slower in total than one after the other (docs/performance.md).
        """
        count = max(1, min(lanes, len(bodies)) if self.more is not None else 1)
        if count == 1:
            return [self._query((self.client, self.url), body, metrics) for body in bodies]
        answers: list[dict[str, Any]] = [{} for _ in range(len(bodies))]  # not iterated: serialised when sent

        def run(index: int) -> None:
            lane = (self.client, self.url) if index == 0 else self._lane(index - 1)
            for position in range(index, len(bodies), count):
                answers[position] = self._query(lane, bodies[position], metrics)

        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="vfleet-opa-lane") as pool:
            for done in [pool.submit(run, index) for index in range(count)]:
                done.result()  # the first failure (a PolicyError) fails the whole evaluation
        return answers

    def setting(self, name: str) -> Any:
        """data.<root>.config.<name> on this server (None when undefined)."""
        try:
            body = self.client.query_rule_json(b"{}", f"{self.root}.config", name, {})
        except (requests.RequestException, orjson.JSONDecodeError) as exc:
            raise PolicyError("policy.unreachable", f"could not read data.{ROOT}.config.{name} from OPA at "
                              f"{self.url}: {exc}") from exc
        return body.get("result") if isinstance(body, dict) else None

    def _lane(self, index: int) -> Lane:
        with self._lock:
            while len(self._lanes) <= index:
                assert self.more is not None
                self._lanes.append(self.more())
            return self._lanes[index]

    def _query(self, lane: Lane, request: bytes, metrics: bool) -> dict[str, Any]:
        client, url = lane
        params = {"strict-builtin-errors": True, "metrics": metrics}
        try:
            body: dict[str, Any] = client.query_rule_json(request, self.root, QUERY_RULE, params)
        except requests.HTTPError as exc:
            detail = _opa_message(exc.response).replace(self.file_prefix, f"{POLICIES_DIR}/")
            raise PolicyError(
                "policy.eval",
                f"OPA at {url} could not evaluate the policies on this fleet; "
                f"fix the policy (or the input it trips over):\n{detail}",
            ) from exc
        except requests.RequestException as exc:
            raise PolicyError("policy.unreachable", f"lost the connection to OPA at {url}: {exc}") from exc
        except orjson.JSONDecodeError as exc:
            raise PolicyError("policy.eval", f"OPA at {url} answered with something that is not JSON "
                              f"({exc}); is {url} an OPA server?") from exc
        if not isinstance(body, dict):
            raise PolicyError("policy.eval", f"OPA at {url} answered with {type(body).__name__}, "
                              "not a Data API response object")
        return body


@contextmanager
def serve(
    policies: PolicySet, *, url: str | None = None, env: Mapping[str, str] = os.environ, lanes: int = 1,
    tenants: int | None = None,
) -> Iterator[Engine]:
    """An `Engine` with `policies` loaded: on `url` / $VFLEET_OPA_URL if given, else on a local OPA.

    `lanes`: local OPA processes to start at once (side by side, each on a core), for input in parts;
    more are started when asked for. Connections to a shared server are opened when needed.
    `tenants`: about how many tenants the fleet has, which sizes the local processes' memory ceiling
    (`lane_memory`); unknown, each gets the least.
    """
    shared = url if url is not None else env.get(URL_ENV) or None
    if shared:
        with _shared(policies, shared, env.get(TOKEN_ENV) or None) as engine:
            yield engine
    else:
        with _local(policies, env, lanes, lane_memory(lanes, tenants)) as engine:
            yield engine


# ----------------------------------------------------------------------------------------- local server


@contextmanager
def _local(policies: PolicySet, env: Mapping[str, str], lanes: int, memory: str) -> Iterator[Engine]:
    try:
        opa = toolchain.binary("opa")
    except toolchain.ToolMissing as exc:
        raise PolicyError("policy.opa-missing", f"cannot evaluate policies: {exc}") from exc
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vfleet-opa-")))
        bundle = workdir / POLICIES_DIR
        bundle.mkdir()
        policies.write(bundle)
        started = itertools.count(1)
        registering = threading.Lock()  # lanes starting side by side register their stops on one stack

        def start() -> Lane:
            log = workdir / f"opa-{next(started)}.log"
            return _start_ready(stack, registering, opa, bundle, log, policies, memory)

        # The other lanes start while the first does: one start is ~30 ms of a core, mostly OPA
        # compiling the policies, and a lane started only when its first part is ready waits for it.
        with ThreadPoolExecutor(max_workers=max(1, lanes - 1), thread_name_prefix="vfleet-opa-start") as pool:
            others = [pool.submit(start) for _ in range(lanes - 1)]
            client, url = start()
            prestarted = [lane.result() for lane in others]
        binary = opa.stat()
        fingerprint = policies.fingerprint(f"{opa} {binary.st_size} {binary.st_mtime_ns}")
        yield Engine(client, url, ROOT, f"{bundle}/", fingerprint, more=start, _lanes=prestarted)


def _start_ready(
    stack: ExitStack, registering: threading.Lock, opa: Path, bundle: Path, log: Path, policies: PolicySet,
    memory: str,
) -> Lane:
    """One `opa run --server` on a free port, ready to answer; stopped when `stack` closes."""
    for attempt in range(3):
        port = _free_port()
        with registering:
            process = _start(opa, port, bundle, log, memory)
            stack.callback(_stop, process)
        client = FleetClient(host="127.0.0.1", port=port, timeout=_QUERY_TIMEOUT_S, retries=0)
        with registering:
            stack.callback(client.close_connection)
        if _wait_ready(process, client):
            return client, f"http://127.0.0.1:{port}"
        # OPA names files by their temporary path; show them as the repository's policies/.
        output = log.read_text(errors="replace").strip().replace(f"{bundle}/", f"{POLICIES_DIR}/")
        if "address already in use" in output and attempt < 2:
            continue  # another process took the port between our probe and OPA's bind
        raise _startup_error(process, output, policies, opa)
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _start(opa: Path, port: int, bundle: Path, log: Path, memory: str) -> subprocess.Popen[bytes]:
    args = [
        str(opa), "run", "--server",
        "--addr", f"127.0.0.1:{port}",
        "--skip-version-check",  # no call home: CI has no internet, and a check is not our business
        "--log-level", "error",
        "--shutdown-grace-period", "1",
        "--ignore", "*_test.rego",  # unit tests are for `opa test`; they are not part of the policy
        "--ignore", ".*",
        str(bundle),
    ]
    with log.open("wb") as out:
        try:
            return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=_go_runtime(os.environ, memory))
        except OSError as exc:
            raise PolicyError("policy.opa-missing", f"cannot run {opa}: {exc}. Rebuild it with: "
                              f"{toolchain.build_command('opa')}") from exc


def lane_memory(lanes: int, tenants: int | None) -> str:
    """The memory ceiling of each local OPA process (GOMEMLIMIT; `_go_runtime` says why there is one).

    One process: 512 MiB. Several, side by side: what `CHECK_BUDGET_MIB` leaves once vfleet holds a
    fleet of `tenants`, shared out, between 256 and 512 MiB, in steps of 64. The ceiling is what the
    processes trade memory for time with: at 10,000 tenants, 512 MiB each answered the policy requests
    in 0.75 s where 256 MiB took 0.95 s; at 100,000 two processes of 512 MiB (parts of 2,500) and vfleet
    peaked at 3.36 GiB together, of 256 MiB (parts of 1,250) at 2.90 GiB (docs/performance.md).
    """
    if lanes <= 1:
        return _GO_MEMORY_LIMIT
    if tenants is None:
        return _GO_MEMORY_LIMIT_LANES
    left = CHECK_BUDGET_MIB - tenants * VFLEET_KIB_PER_TENANT // 1024
    each = max(256, min(512, left // lanes // 64 * 64))
    return f"{each}MiB"


def _go_runtime(environ: Mapping[str, str], memory: str = _GO_MEMORY_LIMIT) -> dict[str, str]:
    """The local server's environment: ours, with the Go collector tuned for big requests.

    Turning a 10,000-tenant input (~15 MB of JSON) into Rego values allocates a few hundred MB of small
    objects that all stay live until the query is answered; with Go's default GOGC=100 the collector
    rescans them again and again: a quarter to a third of OPA's CPU time (measured on the synthetic
    fleet: 2.0 -> 1.6 s CPU, peak memory 370 -> 435 MB). This server lives for one check, so the
    collector only runs near a memory ceiling (`memory`, GOMEMLIMIT: a soft limit).

    `memory` is `lane_memory`'s: 512 MiB for one process, which may be sent a whole 10,000-tenant fleet
    in one request; 256 to 512 MiB each for several given parts of the input, by the fleet's size.

    A GOGC or GOMEMLIMIT set by the user wins.
    """
    env = dict(environ)
    if "GOGC" not in env and "GOMEMLIMIT" not in env:
        env["GOGC"] = "off"
        env["GOMEMLIMIT"] = memory
    return env


def _wait_ready(process: subprocess.Popen[bytes], client: Any) -> bool:
    """Poll /health until OPA answers; False as soon as the process has exited (or after the timeout)."""
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if client.check_health():  # GET /health; False while the port is not open yet
            return True
        time.sleep(_READY_POLL_S)
    return False


def _startup_error(process: subprocess.Popen[bytes], output: str, policies: PolicySet, opa: Path) -> PolicyError:
    if process.poll() is None:
        return PolicyError("policy.unreachable", f"{opa} did not become ready within {_READY_TIMEOUT_S:.0f} s. "
                           f"Its output:\n{output or '(none)'}")
    if "rego_" in output or "load error" in output:
        return PolicyError("policy.compile", f"the policies in {policies.origin} do not compile; nothing can be "
                           f"checked until they do. Fix them (`vfleet policy test` shows the same errors):\n{output}")
    return PolicyError("policy.unreachable", f"{opa} exited with code {process.returncode} at start-up:\n"
                       f"{output or '(no output)'}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------------------------------- shared server


@contextmanager
def _shared(policies: PolicySet, url: str, token: str | None) -> Iterator[Engine]:
    client = _client_for(url, token)
    try:
        if not client.check_health():
            raise PolicyError("policy.unreachable", f"OPA at {url} ({URL_ENV}) is not reachable or not healthy. "
                              f"Start it, fix the URL, or unset {URL_ENV} to let vfleet run its own OPA.")
        root = f"{ROOT}_{secrets.token_hex(6)}"
        pushed: list[str] = []
        try:
            data = data_document(policies)
            _call(url, lambda: client.update_or_create_data(data, root), "push the policy data")
            for path, text in policies.modules.items():
                policy_id = f"{root}/{path}"
                try:
                    client.update_policy_from_string(_rename_root(text, root), policy_id, rego_compat=False)
                except _rego_parse_error() as exc:
                    raise PolicyError("policy.compile", f"the policies in {policies.origin} do not compile "
                                      f"(OPA at {url} refused {path}); fix them (`vfleet policy test` shows "
                                      f"the same errors):\n{_rego_errors(exc, root)}") from exc
                except requests.RequestException as exc:
                    raise PolicyError("policy.unreachable", f"could not push {path} to OPA at {url}: {exc}") from exc
                pushed.append(policy_id)
            with ExitStack() as connections:

                def connect() -> Lane:  # one more connection: the shared server answers requests in parallel
                    extra = _client_for(url, token)
                    connections.callback(extra.close_connection)
                    return extra, url

                yield Engine(client, url, root, f"{root}/", policies.fingerprint(url), more=connect)
        finally:
            _remove(client, pushed, root)
    finally:
        client.close_connection()


def _client_for(url: str, token: str | None) -> Any:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path not in {"", "/"}:
        raise PolicyError("policy.unreachable", f"{URL_ENV}={url!r} is not an OPA server URL; expected "
                          "http(s)://host:port with no path, e.g. http://opa.internal:8181")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return FleetClient(host=parts.hostname, port=port, ssl=parts.scheme == "https", token=token,
                     timeout=_QUERY_TIMEOUT_S, retries=0)


def _call(url: str, action: Any, what: str) -> None:
    try:
        action()
    except requests.RequestException as exc:
        raise PolicyError("policy.unreachable", f"could not {what} to OPA at {url}: {exc}") from exc
    except _rego_parse_error() as exc:
        raise PolicyError("policy.load", f"OPA at {url} refused to {what}: {exc}") from exc


def _remove(client: Any, policy_ids: list[str], root: str) -> None:
    """Best effort: a server that died meanwhile has nothing left to clean up."""
    # Cleanup must not hide the error that got us here: every failure in it is ignored.
    for policy_id in reversed(policy_ids):
        with suppress(Exception):
            client.delete_policy(policy_id)
    with suppress(Exception):
        client.delete_data(root)


def _rename_root(text: str, root: str) -> str:
    """`package vfleet...` and every `data.vfleet...` reference -> the run's own root."""
    text = re.sub(rf"^(\s*package\s+){ROOT}\b", rf"\g<1>{root}", text, flags=re.MULTILINE)
    return re.sub(rf"\bdata\.{ROOT}\b", f"data.{root}", text)


def data_document(policies: PolicySet) -> dict[str, Any]:
    """The data files, merged as `opa run` merges them (a file's folder is its path in data)."""
    merged: dict[str, Any] = {}
    for path, content in sorted(policies.files.items()):
        if not path.endswith(_DATA_SUFFIXES):
            continue
        try:
            value = orjson.loads(content) if path.endswith(".json") else yaml.safe_load(content)
        except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
            raise PolicyError("policy.load", f"{POLICIES_DIR}/{path}: not valid data: {exc}") from exc
        node = merged
        for part in PurePosixPath(path).parent.parts:
            node = node.setdefault(part, {})
        if not isinstance(value, dict):
            raise PolicyError("policy.load", f"{POLICIES_DIR}/{path}: a data file must hold a mapping")
        _merge(node, value, path)
    outside = sorted(set(merged) - {ROOT})
    if outside:
        raise PolicyError("policy.load", f"policy data outside data.{ROOT} ({', '.join(outside)}) cannot be "
                          f"pushed to a shared OPA without clashing with other users; move it under '{ROOT}:'")
    data: dict[str, Any] = merged.get(ROOT, {})
    return data


def _merge(into: dict[str, Any], value: Mapping[str, Any], path: str) -> None:
    for key, item in value.items():
        if isinstance(item, dict) and isinstance(into.get(key), dict):
            _merge(into[key], item, path)
        elif key in into:
            raise PolicyError("policy.load", f"{POLICIES_DIR}/{path}: data key {key!r} is defined twice")
        else:
            into[key] = item


def _rego_errors(exc: Exception, root: str) -> str:
    """OPA's parse/compile errors of a RegoParseError (untyped: read through getattr)."""
    lines = []
    for err in getattr(exc, "errors", None) or []:
        loc = err.get("location") or {}
        where = f"{loc.get('file', '?')}:{loc.get('row', '?')}: " if loc else ""
        lines.append(f"{where}{err.get('code', '')}: {err.get('message', '')}".replace(f"{root}/", ""))
    return "\n".join(lines) or str(getattr(exc, "message", exc))


def _opa_message(response: requests.Response | None) -> str:
    if response is None:
        return "no response"
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    parts = [f"{body.get('code', response.status_code)}: {body.get('message', '')}"]
    for err in body.get("errors") or []:
        loc = err.get("location") or {}
        where = f"{loc.get('file', '?')}:{loc.get('row', '?')}: " if loc else ""
        parts.append(f"{where}{err.get('message', '')}")
    return "\n".join(parts)
