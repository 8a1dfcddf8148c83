from __future__ import annotations

from decimal import Decimal

import pytest

from vfleet.core.units import check_cron, check_timezone, parse_duration, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", Decimal("0.5")), ("2", Decimal(2)), ("8Gi", Decimal(8 * 2**30)), ("1.5G", Decimal("1.5e9")),
     ("1e3", Decimal(1000)), ("100Mi", Decimal(100 * 2**20))],
)
def test_quantities(text: str, value: Decimal) -> None:
    assert parse_quantity(text).value == value
    assert str(parse_quantity(text)) == text


@pytest.mark.parametrize("text", ["", "abc", "5X", "Gi", "-1", "1.2.3"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(text)


@pytest.mark.parametrize(("text", "seconds"), [("90m", 5400), ("720h", 2592000), ("1h30m", 5400), ("1.5s", 1.5),
                                               ("0", 0)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).seconds == seconds


@pytest.mark.parametrize("text", ["10", "1d", "h", "1h 30m", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="Go duration"):
        parse_duration(text)


def test_cron_and_timezone() -> None:
    assert check_cron("0 20 * * 1-5") == "0 20 * * 1-5"
    for bad in ["* * *", "61 * * * *", "0 0 * * * *"]:
        with pytest.raises(ValueError, match="cron"):
            check_cron(bad)
    assert check_timezone("America/New_York") == "America/New_York"
    for bad in ["Mars/Olympus", "../etc/passwd", "/etc/localtime", ""]:
        with pytest.raises(ValueError, match="IANA"):
            check_timezone(bad)
