"""The OPA server that evaluates the policies: local processes started here, or a shared one the user
points us at.

Default: local OPA processes (`vfleet.policy.local`), stopped when the `with` block ends, also on errors.

With `VFLEET_OPA_URL` (or `url=`) an existing server is used instead. Its policy namespace is shared
with everyone else who uses it, so the policies are pushed through the Policy API under a package root
of their own (`vfleet` is renamed `vfleet_<random>` in every module and in the data document), and
removed again when the block ends. Two runs at the same time, or the base and head policies of one
`impact`, never see each other's rules.

Everything that can go wrong here raises `PolicyError` with a finding code: the gate fails closed.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests

from vfleet.load import POLICIES_DIR
from vfleet.policy import (
    URL_ENV,  # defined with the package: naming it imports no HTTP client
    local,
)
from vfleet.policy.client import QUERY_TIMEOUT_S, FleetClient, Lane, rego_parse_error
from vfleet.policy.policyset import ROOT, PolicyError, PolicySet, data_document

TOKEN_ENV = "VFLEET_OPA_TOKEN"  # bearer token for a shared server that requires one
QUERY_RULE = "main"  # data.vfleet.main: {deny, warn, excepted, errors}


@dataclass
class PolicyServer:
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
) -> Iterator[PolicyServer]:
    """An `PolicyServer` with `policies` loaded: on `url` / $VFLEET_OPA_URL if given, else on a local OPA.

    `lanes`: local OPA processes to start at once (side by side, each on a core), for input in parts;
    more are started when asked for. Connections to a shared server are opened when needed.
    `tenants`: about how many tenants the fleet has, which sizes the local processes' memory ceiling
    (`local.lane_memory`); unknown, each gets the least.
    """
    shared = url if url is not None else env.get(URL_ENV) or None
    if shared:
        with _shared(policies, shared, env.get(TOKEN_ENV) or None) as engine:
            yield engine
    else:
        with local.run(policies, lanes, local.lane_memory(lanes, tenants)) as servers:
            client, url = servers.first
            yield PolicyServer(client, url, ROOT, servers.file_prefix, servers.fingerprint, more=servers.start,
                         _lanes=list(servers.others))


# ---------------------------------------------------------------------------------------- shared server


@contextmanager
def _shared(policies: PolicySet, url: str, token: str | None) -> Iterator[PolicyServer]:
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
                except rego_parse_error() as exc:
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

                yield PolicyServer(client, url, root, f"{root}/", policies.fingerprint(url), more=connect)
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
                     timeout=QUERY_TIMEOUT_S, retries=0)


def _call(url: str, action: Any, what: str) -> None:
    try:
        action()
    except requests.RequestException as exc:
        raise PolicyError("policy.unreachable", f"could not {what} to OPA at {url}: {exc}") from exc
    except rego_parse_error() as exc:
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
