"""Pulumi's `s3://` state backend on a real S3-compatible object store (versitygw on loopback, tests/s3kit.py):
login, the objects a stack is kept in, and the stack lock a running operation holds.

Only CLI commands that need no language host are run (login, stack init/ls/export/import, refresh,
cancel). The lock is held by a real `pulumi refresh`: its stack has one resource of a provider whose plugin
(`pulumi-resource-vfleethold`, a shell script on PATH) never announces a port, so the engine waits with the
lock taken until the test kills it. A missing pulumi or versitygw FAILS the tests (never a skip).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from s3kit import S3Server, s3_server
from vfleet import toolchain

pytestmark = pytest.mark.live

PROJECT = "s3proj"
STACK = "dev"
PREFIX = "team-a"
LOCK_DIR = f"{PREFIX}/.pulumi/locks/organization/{PROJECT}/{STACK}/"
LOCKED = (
    "the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete "
    "the lock file with `pulumi cancel`."
)


def _binary(name: str) -> Path:
    try:
        return toolchain.binary(name)
    except toolchain.ToolMissing as missing:
        pytest.fail(f"the live tier needs {name}: {missing}", pytrace=False)


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    _binary("versitygw")
    with s3_server(tmp_path) as server:
        yield server


class Cli:
    """The pinned Pulumi CLI in a project dir, with its own PULUMI_HOME, on the server's backend."""

    def __init__(self, s3: S3Server, tmp_path: Path) -> None:
        self.program = str(_binary("pulumi"))
        self.project = tmp_path / "project"
        self.project.mkdir()
        (self.project / "Pulumi.yaml").write_text(f"name: {PROJECT}\nruntime: yaml\n")
        fake_bin = tmp_path / "bin"
        fake_bin.mkdir()
        plugin = fake_bin / "pulumi-resource-vfleethold"
        # The engine starts plugins in their own process group: the plugin tells where it is, to be stopped.
        self.plugin_pids = tmp_path / "plugin.pids"
        plugin.write_text(f"#!/bin/sh\necho $$ >> {self.plugin_pids}\nexec sleep 300\n")
        plugin.chmod(0o755)
        self.env = s3.subprocess_env()
        self.env.update(
            PULUMI_BACKEND_URL=s3.backend_url(PREFIX),
            PULUMI_HOME=str(tmp_path / "pulumi-home"),
            PULUMI_CONFIG_PASSPHRASE="x",
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            PATH=f"{fake_bin}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        )
        self.env.pop("PULUMI_IGNORE_AMBIENT_PLUGINS", None)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.program, *args, "--non-interactive"],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"pulumi {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [self.program, *args, "--non-interactive"],
            cwd=self.project,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )


@pytest.fixture
def cli(s3: S3Server, tmp_path: Path) -> Cli:
    return Cli(s3, tmp_path)


def _stack_with_a_held_provider(cli: Cli, tmp_path: Path) -> Path:
    """The exported stack plus a provider and one resource of it, as a checkpoint file to import."""
    exported = json.loads(cli.run("stack", "export", "-s", STACK).stdout)
    provider = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:providers:vfleethold::default"
    exported["deployment"]["resources"] = [
        {"urn": provider, "custom": True, "id": "p1", "type": "pulumi:providers:vfleethold"},
        {
            "urn": f"urn:pulumi:{STACK}::{PROJECT}::vfleethold:index:Thing::thing",
            "custom": True,
            "id": "t1",
            "type": "vfleethold:index:Thing",
            "provider": f"{provider}::p1",
        },
    ]
    path = tmp_path / "held.json"
    path.write_text(json.dumps(exported))
    return path


def _wait_for_lock(s3: S3Server, holder: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        locks = s3.keys(LOCK_DIR)
        if locks:
            (lock,) = locks
            return lock
        if holder.poll() is not None:
            pytest.fail(f"pulumi refresh ended before locking the stack:\n{holder.communicate()[0]}")
        time.sleep(0.2)
    pytest.fail("pulumi refresh took no lock within 60 s")


def _kill(process: subprocess.Popen[str], cli: Cli) -> None:
    """The CLI's process group, then each plugin it started (they run in groups of their own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    pids = cli.plugin_pids.read_text().split() if cli.plugin_pids.exists() else []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def test_login_and_stack_init_keep_the_state_in_the_bucket(s3: S3Server, cli: Cli) -> None:
    url = s3.backend_url(PREFIX)
    assert url == f"s3://{s3.bucket}/{PREFIX}?endpoint={s3.endpoint}&region=us-east-1&use_path_style=true"
    login = cli.run("login")
    assert f"({url})" in login.stdout + login.stderr
    assert "Created stack 'dev'" in cli.run("stack", "init", STACK).stderr
    stacks = f"{PREFIX}/.pulumi/stacks/{PROJECT}"
    assert s3.keys() == [f"{PREFIX}/.pulumi/meta.yaml", f"{stacks}/{STACK}.json", f"{stacks}/{STACK}.json.bak"]
    # The store is real: the checkpoint is a file in the gateway's data dir, the same bytes S3 serves.
    checkpoint = s3.data_dir / s3.bucket / PREFIX / ".pulumi" / "stacks" / PROJECT / f"{STACK}.json"
    served = s3.client().get_object(Bucket=s3.bucket, Key=f"{PREFIX}/.pulumi/stacks/{PROJECT}/{STACK}.json")
    assert served["Body"].read() == checkpoint.read_bytes()
    assert json.loads(checkpoint.read_text())["checkpoint"]["stack"] == f"organization/{PROJECT}/{STACK}"
    listed = json.loads(cli.run("stack", "ls", "--json").stdout)
    assert [stack["name"] for stack in listed] == [STACK]
    exported = cli.run("stack", "export", "-s", STACK).stdout
    assert json.loads(exported)["version"] == 3
    assert s3.keys(LOCK_DIR) == []  # every lock taken on the way was released


def test_a_running_operation_holds_the_lock_and_a_second_one_is_refused(
    s3: S3Server, cli: Cli, tmp_path: Path
) -> None:
    cli.run("stack", "init", STACK)
    held = _stack_with_a_held_provider(cli, tmp_path)
    cli.run("stack", "import", "-s", STACK, "--file", str(held))
    holder = cli.start("refresh", "-s", STACK, "--yes", "--skip-preview")
    try:
        lock = _wait_for_lock(s3, holder)
        lock_id = lock.removeprefix(LOCK_DIR).removesuffix(".json")
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", lock_id)
        content = json.loads(s3.client().get_object(Bucket=s3.bucket, Key=lock)["Body"].read())
        assert set(content) == {"pid", "username", "hostname", "timestamp"}
        assert content["pid"] == holder.pid
        assert content["username"] == pwd.getpwuid(os.getuid()).pw_name
        assert content["hostname"] == socket.gethostname()
        taken = datetime.fromisoformat(content["timestamp"].replace("Z", "+00:00"))
        at = taken.strftime("%Y-%m-%dT%H:%M:%SZ")

        second = cli.run("stack", "import", "-s", STACK, "--file", str(held), check=False)
        assert second.returncode == 1
        where = (
            f"s3://{s3.bucket}/{lock}?endpoint={s3.endpoint.replace(':', '%3A').replace('/', '%2F')}"
            "&region=us-east-1&request_checksum_calculation=when_required&use_path_style=true"
        )
        assert second.stderr.strip() == (
            f"error: could not import deployment: {LOCKED}\n"
            f"  {where}: created by {content['username']}@{content['hostname']} (pid {holder.pid}) at {at}"
        )
    finally:
        _kill(holder, cli)
    # A killed CLI leaves its lock behind; `pulumi cancel` deletes it and the stack is usable again.
    assert s3.keys(LOCK_DIR) == [lock]
    canceled = cli.run("cancel", "-s", STACK, "--yes")
    assert "has been canceled" in canceled.stdout + canceled.stderr
    assert s3.keys(LOCK_DIR) == []
    cli.run("stack", "import", "-s", STACK, "--file", str(held))


def test_a_lock_object_written_by_hand_is_honoured(s3: S3Server, cli: Cli, tmp_path: Path) -> None:
    cli.run("stack", "init", STACK)
    exported = tmp_path / "dev.json"
    exported.write_text(cli.run("stack", "export", "-s", STACK).stdout)
    lock = f"{LOCK_DIR}00000000-0000-4000-8000-000000000001.json"
    body = {"pid": 4242, "username": "ci", "hostname": "runner-1", "timestamp": "2026-12-03T12:00:00.5Z"}
    s3.client().put_object(Bucket=s3.bucket, Key=lock, Body=json.dumps(body).encode())
    refused = cli.run("stack", "rm", "-s", STACK, "--yes", check=False)
    assert refused.returncode == 1
    assert f"error: {LOCKED}\n" in refused.stderr
    assert f"{lock}?endpoint=" in refused.stderr
    assert refused.stderr.rstrip().endswith(": created by ci@runner-1 (pid 4242) at 2026-12-03T12:00:00Z")
    cli.run("cancel", "-s", STACK, "--yes")
    cli.run("stack", "import", "-s", STACK, "--file", str(exported))
    cli.run("stack", "rm", "-s", STACK, "--yes")
    # rm deletes the checkpoint and keeps the previous one (.json.bak).
    assert s3.keys() == [f"{PREFIX}/.pulumi/meta.yaml", f"{PREFIX}/.pulumi/stacks/{PROJECT}/{STACK}.json.bak"]
