"""Names vfleet derives: stable, bounded, and safe as file names."""

from __future__ import annotations

from vfleet.core import naming


def test_a_dns_label_is_its_own_file_part() -> None:
    assert naming.file_part("eu-central-1") == "eu-central-1"
    assert naming.file_part("20260101T000000Z") == "20260101T000000Z"


def test_separators_and_non_ascii_never_reach_a_path() -> None:
    assert naming.file_part("../etc/passwd") == ".._etc_passwd"
    assert naming.file_part("a b\\c:d") == "a_b_c_d"
    assert naming.file_part("café") == "caf_"  # str.isalnum() would keep é: one rule for state and caches


def test_namespace_names_are_bounded_labels() -> None:
    long = naming.tenant_namespace("p" * 40, "t" * 40)
    assert len(long) <= naming.MAX_NAME and long == naming.tenant_namespace("p" * 40, "t" * 40)
