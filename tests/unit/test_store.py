"""Where the records live (`vfleet.apply.store`): the folder store's contract, Pulumi's s3:// URL read the
way Pulumi reads it, and which backend puts the records where. The S3 store against a real S3 server is
tests/live/test_s3_records.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from vfleet.apply import records, store
from vfleet.apply.records import Records, RecordsError
from vfleet.apply.store import DirStore, S3Location, S3Store


def test_a_folder_store_reads_writes_lists_and_deletes(tmp_path: Path) -> None:
    s = DirStore(tmp_path / "state")
    assert s.read("applied/a.hash") is None and s.keys("applied/") == []
    s.write("applied/a.hash", b"1")
    s.write("runs/a/x.json", b"{}")
    s.write("runs/b/y.json", b"{}")
    (tmp_path / "state/runs/a/.x.json.123.tmp").write_bytes(b"half")  # a write in progress
    assert s.read("applied/a.hash") == b"1"
    assert s.keys("runs/") == ["runs/a/x.json", "runs/b/y.json"]
    assert s.keys("runs/a/") == ["runs/a/x.json"]
    s.delete("applied/a.hash")
    s.delete("applied/a.hash")  # twice: nothing there is fine
    assert s.read("applied/a.hash") is None
    assert s.where("runs/a/x.json") == str(tmp_path / "state/runs/a/x.json")


def test_a_file_where_a_folder_of_the_store_belongs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state/applied").write_text("no")
    s = DirStore(tmp_path / "state")
    for call in (lambda: s.read("applied/a.hash"), lambda: s.write("applied/a.hash", b"1"),
                 lambda: s.keys("applied/"), lambda: s.delete("applied/a.hash")):
        with pytest.raises(RecordsError, match="should be a folder"):
            call()


@pytest.mark.parametrize(("url", "expected"), [
    ("s3://b", S3Location("b", "", None, None, None, False)),
    ("s3://b/some/prefix/?region=eu-west-1", S3Location("b", "some/prefix/", "eu-west-1", None, None, False)),
    ("s3://b?endpoint=127.0.0.1:9000&disableSSL=true&s3ForcePathStyle=true&region=us-east-1",
     S3Location("b", "", "us-east-1", "http://127.0.0.1:9000", None, True)),
    ("s3://b?endpoint=http://127.0.0.1:9000&use_path_style=true&profile=ci",
     S3Location("b", "", None, "http://127.0.0.1:9000", "ci", True)),
    ("s3://b?endpoint=s3.example.com", S3Location("b", "", None, "https://s3.example.com", None, False)),
])
def test_pulumis_s3_url_is_read_for_the_records_too(url: str, expected: S3Location) -> None:
    assert S3Location.parse(url) == expected


def test_not_an_s3_url_is_refused() -> None:
    with pytest.raises(RecordsError, match="not an s3://bucket"):
        S3Location.parse("s3:///prefix-only")


def test_the_records_live_beside_the_pulumi_state(tmp_path: Path) -> None:
    state = tmp_path / "state"
    default = store.open_store(state, {})
    assert isinstance(default, DirStore) and default.root == state
    elsewhere = store.open_store(state, {"PULUMI_BACKEND_URL": f"file://{tmp_path}/shared"})
    assert isinstance(elsewhere, DirStore) and elsewhere.root == tmp_path / "shared"
    cloud = store.open_store(state, {"PULUMI_BACKEND_URL": "https://api.pulumi.com"})
    assert isinstance(cloud, DirStore) and cloud.root == state  # records stay with this runner
    bucket = store.open_store(state, {"PULUMI_BACKEND_URL": "s3://fleet-state/vfleet?region=eu-west-1"})
    assert isinstance(bucket, S3Store) and bucket.description == "s3://fleet-state/vfleet/"
    assert bucket.where("applied/a.hash") == "s3://fleet-state/vfleet/applied/a.hash"


def test_open_records_follows_the_backend(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shared = tmp_path / "shared"
    env = {"PULUMI_BACKEND_URL": f"file://{shared}"}
    r = records.open_records(root, env)
    r.store.write("applied/x.hash", b"0" * 64)
    assert r.known_stacks() == ["x"] and (shared / "applied/x.hash").exists()
    assert Records(shared).applied_hash("x") == "0" * 64


def test_a_stacks_locks_are_found_and_named(tmp_path: Path) -> None:
    from vfleet.apply import outcome

    s = DirStore(tmp_path)
    assert outcome.stack_locks(s, "eu-1") == []
    lock = b'{"pid": 42, "username": "ci", "hostname": "runner-7", "timestamp": "2026-12-03T12:00:00Z"}'
    s.write(".pulumi/locks/organization/vfleet/eu-1/0a1b.json", lock)
    s.write(".pulumi/locks/organization/vfleet/eu-2/ffff.json", lock)  # another stack's
    (found,) = outcome.stack_locks(s, "eu-1")
    assert found[0] == str(tmp_path / ".pulumi/locks/organization/vfleet/eu-1/0a1b.json")
    message = outcome.lock_message("eu-1", [found])
    assert "ci@runner-7 (pid 42) since 2026-12-03T12:00:00Z" in message and found[0] in message
    assert "nothing ran here" in message and "pulumi cancel --stack eu-1" in message
