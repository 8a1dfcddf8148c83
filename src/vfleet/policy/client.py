"""The client vfleet talks to OPA with: opa-python-client's, with the fleet query sent as ready-made bytes."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import orjson

QUERY_TIMEOUT_S = 120.0  # one request evaluates the whole fleet; 10k tenants take well under a second

Lane = tuple[Any, str]  # (client, url): one server, or one more connection to a shared server


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


def rego_parse_error() -> type[Exception]:
    from opa_client.errors import RegoParseError

    error_class: type[Exception] = RegoParseError
    return error_class
