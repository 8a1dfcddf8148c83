"""The readiness probe of a dev cluster's apiserver, against the files it finds half-way written."""

from __future__ import annotations

from pathlib import Path

import pytest

from vfleet.devclusters.components import https_ok

# An unused loopback port: the probe must say "not yet" before it ever gets to connect.
NOWHERE = "https://127.0.0.1:9/readyz"


@pytest.mark.parametrize(
    "content",
    ["", "-----BEGIN CERTIFICATE-----\nMIIB", "not a certificate"],
    ids=["empty", "truncated", "garbage"],
)
def test_a_cert_file_still_being_written_is_not_ready_yet(tmp_path: Path, content: str) -> None:
    # The apiserver creates its cert file and then fills it; a probe between the two used to raise
    # "[X509: NO_CERTIFICATE_OR_CRL_FOUND]" and fail the whole cluster start (CI, stop 24).
    ca_file = tmp_path / "apiserver.crt"
    ca_file.write_text(content)
    assert https_ok(NOWHERE, ca_file, "token") is False


def test_a_missing_cert_file_is_not_ready_yet(tmp_path: Path) -> None:
    assert https_ok(NOWHERE, tmp_path / "apiserver.crt", "token") is False
