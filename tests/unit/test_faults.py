"""Faults that must lose nothing: a damaged state directory, and a full disk under compile output and records.

Damage: every file of the state directory truncated or corrupted in the ways a crash, a bad copy or a
hand edit leave it; each is a `RecordsError` naming the file (exit 2 through the CLI), never a crash and
never a silent default (an unreadable applied state read as "nothing applied" would disarm the deletion
guards). A full disk: real ENOSPC from a small tmpfs mounted in a private mount namespace
(`unshare --mount --map-root-user`, so no privileges are needed where user namespaces are allowed); the
write fails with a clear error and the previous output or record is intact, with no temporary file left.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetkit import CONTRACTS, write_fleet
from vfleet import compile as compiler
from vfleet.apply.records import Record, Records, RecordsError
from vfleet.desired import DesiredState

VFLEET = str(Path(sys.executable).with_name("vfleet"))


def record(cluster: str = "eu-1", started: str = "2026-01-02T03:04:05+0000") -> Record:
    return Record(cluster=cluster, operation="up", result="applied", started=started, ended=started,
                  commit=None, dirty=False, user="t", desired_hash=None, wave=0)


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> tuple[DesiredState, DesiredState]:
    """eu-1's desired state of the base fleet, and the same cluster with one tenant more."""
    root = write_fleet(tmp_path_factory.mktemp("fleet"))
    first = compiler.compile_fleet(root, check_lock=False).desired["eu-1"]
    (root / "fleet/projects/alpha/tenants/more.yaml").write_text(
        (root / "fleet/projects/alpha/tenants/dev.yaml").read_text().replace("name: dev", "name: more"))
    second = compiler.compile_fleet(root, check_lock=False).desired["eu-1"]
    assert first.hash != second.hash
    return first, second


def applied(tmp_path: Path, state: DesiredState) -> Records:
    records = Records(tmp_path / "state")
    records.save_applied(state)
    records.write(record())
    return records


# ------------------------------------------------------------------------------- a damaged state directory


def test_what_was_written_reads_back(tmp_path: Path, states: tuple[DesiredState, DesiredState]) -> None:
    records = applied(tmp_path, states[0])
    assert records.applied_hash("eu-1") == states[0].hash
    restored = records.applied_state("eu-1")
    assert restored is not None and restored.hash == states[0].hash
    assert [r.cluster for r in records.history()] == ["eu-1"] and records.known_stacks() == ["eu-1"]
    assert records.applied_state("us-1") is None and records.applied_hash("us-1") is None  # never applied


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda p: p.write_bytes(p.read_bytes()[:20]), "does not match"),  # truncated
    (lambda p: p.write_bytes(b""), "does not match"),  # emptied
    (lambda p: p.write_bytes(b"\x00" * 64), "does not match"),  # zeroed (a crash before the data landed)
    (lambda p: p.unlink(), "is missing"),  # the state gone, its hash still there
    (lambda p: (p.unlink(), p.mkdir()), "cannot read"),  # a folder where the file belongs
])
def test_a_damaged_applied_state_is_an_error_naming_it(
    tmp_path: Path, states: tuple[DesiredState, DesiredState], damage: object, expected: str
) -> None:
    records = applied(tmp_path, states[0])
    path = tmp_path / "state/applied/eu-1.json"
    damage(path)  # type: ignore[operator]
    with pytest.raises(RecordsError) as caught:
        records.applied_state("eu-1")
    assert expected in str(caught.value) and str(path) in str(caught.value)
    if expected != "cannot read":
        assert "deletion guards have no base" in str(caught.value)  # why it matters, and what to do
    assert path.exists() == (expected != "is missing")  # nothing re-created behind the user's back


def test_a_corrupted_state_without_a_hash_is_an_error(tmp_path: Path,
                                                      states: tuple[DesiredState, DesiredState]) -> None:
    records = applied(tmp_path, states[0])
    records.invalidate("eu-1")  # as before an engine run: only the state is left
    path = tmp_path / "state/applied/eu-1.json"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(RecordsError, match="is not a desired state"):
        records.applied_state("eu-1")


@pytest.mark.parametrize("content", [b"", b"abc123\n", b"\xff\xfe garbage", b"0" * 63])
def test_a_damaged_hash_is_an_error_naming_it(tmp_path: Path, states: tuple[DesiredState, DesiredState],
                                              content: bytes) -> None:
    records = applied(tmp_path, states[0])
    path = tmp_path / "state/applied/eu-1.hash"
    path.write_bytes(content)
    with pytest.raises(RecordsError, match="is not a desired-state hash") as caught:
        records.applied_hashes(["eu-1"])
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("content", [b'{"cluster": "eu-1", "start', b"[1, 2]", b'{"started": 5}', b"null",
                                     b'{"started": "x", "unknown": 1}'])
def test_a_damaged_run_record_is_an_error_naming_it(tmp_path: Path, states: tuple[DesiredState, DesiredState],
                                                    content: bytes) -> None:
    records = applied(tmp_path, states[0])
    bad = tmp_path / "state/runs/eu-1/20260101T000000Z-up.json"
    bad.write_bytes(content)
    for cluster in (None, "eu-1"):
        with pytest.raises(RecordsError, match="cannot be read") as caught:
            records.history(cluster)
        assert str(bad) in str(caught.value)


@pytest.mark.parametrize("which", ["state", "state/applied", "state/runs"])
def test_a_file_where_the_state_folders_belong_is_an_error(tmp_path: Path, which: str) -> None:
    path = tmp_path / which
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a folder")
    records = Records(tmp_path / "state")
    runs: dict[str, Callable[[], object]] = {"history": records.history, "write": lambda: records.write(record())}
    applied: dict[str, Callable[[], object]] = {
        "known_stacks": records.known_stacks, "applied_hash": lambda: records.applied_hash("eu-1"),
        "applied_state": lambda: records.applied_state("eu-1"), "invalidate": lambda: records.invalidate("eu-1"),
        "forget": lambda: records.forget("eu-1")}
    calls = {"state": {**runs, **applied}, "state/applied": applied, "state/runs": runs}[which]
    for name, call in calls.items():
        with pytest.raises(RecordsError, match="should be a folder") as caught:
            call()
        assert str(path) in str(caught.value), name
    assert path.read_text() == "not a folder"  # nothing replaced


def test_a_damaged_record_is_exit_2_with_its_name_through_the_cli(tmp_path: Path) -> None:
    root = write_fleet(tmp_path / "repo")
    state = tmp_path / "state"
    Records(state).write(record())
    bad = state / "runs/eu-1/20260101T000000Z-up.json"
    bad.write_bytes(b"{")
    env = {**os.environ, "VFLEET_STATE_DIR": str(state), "NO_COLOR": "1", "COLUMNS": "300"}
    done = subprocess.run([VFLEET, "history", str(root)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and str(bad) in done.stderr.replace("\n", "").replace(" ", "")


# ------------------------------------------------------------------------------------------ a full disk


def in_small_fs(script: str, size: str = "256k") -> dict[str, object]:
    """Run `script` (Python; the mount point is sys.argv[1]) in a private mount namespace with a tmpfs of
    `size` mounted there; its last stdout line is a JSON result. Fails, never skips, where that cannot run."""
    mount = Path(os.environ.get("TMPDIR", "/tmp")) / f"vfleet-small-fs-{os.getpid()}"
    mount.mkdir(exist_ok=True)
    unshare = shutil.which("unshare")
    assert unshare, "these tests need unshare (util-linux) to mount a small tmpfs without privileges"
    shell = f'mount -t tmpfs -o size={size} tmpfs "$1" && exec "$2" -c "$3" "$1"'
    try:
        done = subprocess.run([unshare, "--mount", "--map-root-user", "sh", "-c", shell, "sh", str(mount),
                               sys.executable, textwrap.dedent(script)],
                              capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    finally:
        mount.rmdir()  # the tmpfs lived only in the namespace: this is the empty mount point
    assert done.returncode == 0 and done.stdout.strip(), f"small-fs script failed:\n{done.stdout}\n{done.stderr}"
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


FILL = """
def fill(mount, leave):
    '''Use the file system up to `leave` bytes, for real: a filler file written until ENOSPC.'''
    import errno, os
    filler = os.path.join(mount, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\\0" * 4096)  # unbuffered: the error comes here, not at close
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    if leave:
        os.truncate(filler, os.path.getsize(filler) - leave)

def tree(path):
    import os
    out = {}
    for folder, _, names in os.walk(path):
        for name in names:
            full = os.path.join(folder, name)
            out[os.path.relpath(full, path)] = open(full, "rb").read().decode("utf-8", "replace")
    return out
"""


def test_a_full_disk_keeps_the_previous_compile_output(tmp_path: Path) -> None:
    repo = write_fleet(tmp_path / "repo", {"vfleet.yaml": f"chartSchemas: [{str(CONTRACTS)!r}]\n"})
    script = FILL + f"""
import json, os, subprocess, sys
mount, repo = sys.argv[1], {str(repo)!r}
env = {{**os.environ, "VFLEET_CACHE_DIR": os.path.join(mount, "cache")}}
out = os.path.join(mount, "build")
def compile(*extra):
    done = subprocess.run([{VFLEET!r}, "compile", repo, "--out", out, *extra], capture_output=True, text=True,
                          env=env)
    return {{"code": done.returncode, "said": done.stderr + done.stdout}}
subprocess.run([{VFLEET!r}, "place", repo], check=True, capture_output=True, env=env)
first = compile()
before = tree(out)
tenant = os.path.join(repo, "fleet/projects/alpha/tenants/dev.yaml")
text = open(tenant).read()
open(tenant, "w").write(text.replace('cpu: "2"', 'cpu: "3"'))
# Room for the two cluster files of the new output (3 pages), not for the tenant's vcluster.yaml.
fill(mount, 3 * 4096)
partial = compile("--no-cache")
os.remove(os.path.join(mount, "filler"))
fill(mount, 0)  # nothing left: saving the (changed) parse cache fails too
full = compile()
print(json.dumps({{"first": first, "partial": partial, "full": full, "before": before, "after": tree(out),
                  "left": sorted(os.listdir(mount)),
                  "cache": sorted(os.listdir(os.path.join(mount, "cache", "parse")))}}))
"""
    result = in_small_fs(script)
    first, partial, full = (result[k] for k in ("first", "partial", "full"))
    assert isinstance(first, dict) and isinstance(partial, dict) and isinstance(full, dict)
    assert first["code"] == 0, first
    for run in (partial, full):
        said = " ".join(str(run["said"]).split())  # the console wraps long lines
        assert run["code"] == 2 and "Traceback" not in said, said
        assert "cannot write the compile output" in said and "No space left on device" in said
        assert "previous output is unchanged" in said
    said = " ".join(str(partial["said"]).split())
    assert "(writing tenants/alpha/dev/vcluster.yaml, 2 file(s) written before)" in said  # a partial write
    assert result["after"] == result["before"] and result["before"]  # the previous compile, byte for byte
    before, cache = result["before"], result["cache"]
    assert isinstance(before, dict) and isinstance(cache, list)
    assert 'cpu: "2"' in str(before) and len(before) == 3
    assert result["left"] == ["build", "cache", "filler"]  # no staging directory left behind
    assert cache and all(str(n).endswith(".pickle") for n in cache)


def test_a_full_disk_keeps_the_previous_records(tmp_path: Path, states: tuple[DesiredState, DesiredState]) -> None:
    old, new = states
    (tmp_path / "old.json").write_bytes(old.to_json())
    (tmp_path / "new.json").write_bytes(new.to_json())
    script = FILL + f"""
import json, os, sys
from pathlib import Path
from vfleet.apply.records import Record, Records, RecordsError
from vfleet.desired import DesiredState
mount = sys.argv[1]
old = DesiredState.from_json(Path({str(tmp_path / "old.json")!r}).read_bytes())
new = DesiredState.from_json(Path({str(tmp_path / "new.json")!r}).read_bytes())
def record(started):
    return Record(cluster="eu-1", operation="up", result="applied", started=started, ended=started,
                  commit=None, dirty=False, user="t", desired_hash=None, wave=0)
records = Records(Path(mount) / "state")
records.save_applied(old)
records.write(record("2026-01-01T00:00:00+0000"))
fill(mount, 0)
errors = []
for attempt in (lambda: records.save_applied(new), lambda: records.write(record("2026-01-02T00:00:00+0000"))):
    try:
        attempt()
        errors.append(None)
    except RecordsError as exc:
        errors.append(str(exc))
state = records.applied_state("eu-1")
print(json.dumps({{"errors": errors, "hash": records.applied_hash("eu-1"), "state": state.hash if state else None,
                  "history": [r.started for r in records.history()],
                  "files": sorted(str(p.relative_to(Path(mount) / "state")) for p in (Path(mount) / "state").rglob("*")
                                  if p.is_file())}}))
"""
    result = in_small_fs(script)
    errors = result["errors"]
    assert isinstance(errors, list) and len(errors) == 2
    assert all(e and "No space left on device" in e and "previous version" in e for e in errors), errors
    assert "applied/eu-1.json" in errors[0] and "runs/eu-1/" in errors[1]
    assert result["hash"] == old.hash and result["state"] == old.hash  # the last good apply, intact
    assert result["history"] == ["2026-01-01T00:00:00+0000"]
    assert result["files"] == ["applied/eu-1.hash", "applied/eu-1.json", "runs/eu-1/20260101T000000Z-up.json"]
