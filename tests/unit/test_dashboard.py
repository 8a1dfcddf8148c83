"""The dashboard file: self-contained, the data embedded so that no string can end the script element.

That the page works (counts, filters, no network request, no injection) is tested in a real browser in
tests/live/test_status.py; here, the file itself."""

from __future__ import annotations

import json
import re

from vfleet.core.findings import Findings
from vfleet.live.status import ClusterStatus, FleetStatus, Phase, TenantStatus
from vfleet.report import dashboard

HOSTILE = "</script><script>alert(1)</script><!-- & \u2028\u2029 </SCRIPT >"


def status(owner: str = "alice") -> FleetStatus:
    tenant = TenantStatus(
        key="p/t", project="p", name="t", cluster="c", namespace="vc-p-t", in_fleet=True, template="basic",
        template_version="1.0.0", owner=owner, protect=False, sleep="", auto_delete="", desired_chart="0.35.3",
        desired_hash="ab" * 32, deployed=None, phase=Phase.NOT_DEPLOYED, reason=HOSTILE, replicas=None,
        ready=None, last_apply=None,
    )
    cluster = ClusterStatus("c", True, "v1.35.4", 1, 0, 10, (), 4, 0.1, None)
    return FleetStatus(None, "2026-01-01T00:00:00Z", (cluster,), (tenant,), Findings())


def embedded(page: str) -> str:
    match = re.search(r'<script type="application/json" id="vfleet-data">(.*?)</script>', page, re.S)
    assert match, "no data element"
    return match.group(1)


def test_script_json_round_trips_and_cannot_close_the_element() -> None:
    data = {"owner": HOSTILE, "n": 1, "list": ["<b>&amp;</b>"]}
    text = dashboard.script_json(data)
    assert json.loads(text) == data
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text and "\u2029" not in text


def test_page_embeds_the_status_once_and_safely() -> None:
    page = dashboard.render(status(owner=HOSTILE))
    data = embedded(page)
    assert json.loads(data) == json.loads(json.dumps(status(owner=HOSTILE).to_json()))
    assert "</script" not in data.lower() and "<!--" not in data
    assert page.count('id="vfleet-data"') == 1 and dashboard.PLACEHOLDER not in page


def test_page_is_self_contained() -> None:
    page = dashboard.render(status())
    without_data = page.replace(embedded(page), "")
    # No external resource of any kind, and a policy that forbids loading one.
    assert not re.search(r"""(src|href)\s*=|@import|url\(|https?://|//cdn""", without_data, re.I)
    assert "default-src 'none'" in without_data
    # Every value reaches the page as text: the script never parses data as HTML.
    assert "innerHTML" not in without_data and "insertAdjacentHTML" not in without_data
