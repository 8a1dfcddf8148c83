"""A real S3-compatible object store on loopback, for tests of Pulumi's `s3://` state backend.

The server is the Versity S3 Gateway (`versitygw`, github.com/versity/versitygw v1.8.0, Apache-2.0), built
by the toolchain (`python -m vfleet.toolchain build versitygw`; cold build measured 68 s on 2 cores, module
downloads included). It runs its `posix` backend: each bucket is a directory under a temp data dir, each
object a file, and object metadata goes to a `--sidecar` directory, so no extended attributes are needed
from the filesystem. One root account (`--access`/`--secret`), no IAM service.

    with s3_server(tmp_path) as s3:
        env = s3.subprocess_env()                       # os.environ less AWS_*, plus s3.env()
        env["PULUMI_BACKEND_URL"] = s3.backend_url("team-a")
        subprocess.run([pulumi, "login"], env=env, check=True)

Findings (Pulumi CLI v3.276.0, which vendors gocloud.dev v0.46.1-0.20260810195832-b5401c07b5f1):

URL. `s3://<bucket>[/<prefix>]?endpoint=http://127.0.0.1:<port>&region=<region>&use_path_style=true`.
  gocloud's s3blob opener (AWS SDK v2, the default) takes `use_path_style` (alias `s3ForcePathStyle`),
  `disable_https`, `accelerate`, `ssetype`, `kmskeyid`, and aws.V2ConfigFromURLParams takes `endpoint`,
  `region`, `profile`, `hostname_immutable`, `anonymous`, `role`, `dualstack`, `fips`,
  `rate_limiter_capacity`, `request_checksum_calculation`, `response_checksum_validation`, `awssdk`; any
  other query parameter is an error ("unknown query parameter"). Path style is needed: virtual-host style
  would put the bucket into the host name (`<bucket>.127.0.0.1`). The scheme of `endpoint` decides
  http/https. Pulumi itself (backend/diy translateLegacyS3Params) adds `request_checksum_calculation=
  when_required` whenever `endpoint` is set, and translates v1-era `disableSSL`; the path after the bucket
  is a key prefix (blob.PrefixedBucket), so several backends can share one bucket.

Env. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the gateway's root account), AWS_REGION and
  AWS_DEFAULT_REGION (the gateway's `--region`), AWS_ENDPOINT_URL_S3 (boto3 and SDK-v2 clients built
  without an explicit endpoint also land on the gateway), AWS_EC2_METADATA_DISABLED=true (no IMDS probe
  when a credential is missing), AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE = /dev/null (the
  developer's ~/.aws is never read), and no other AWS_* variable (AWS_PROFILE, AWS_SESSION_TOKEN, ... are
  dropped by `subprocess_env`: an inherited session token would be sent and refused). For the Pulumi CLI:
  PULUMI_BACKEND_URL=backend_url(...), a temp PULUMI_HOME, PULUMI_CONFIG_PASSPHRASE, and
  PULUMI_SKIP_UPDATE_CHECK=true. `pulumi login` then prints "Logged in to <host> as <user> (<url>)".

Objects. In a project `proj`, stack `dev`, under the URL's prefix: `.pulumi/meta.yaml` (the backend's
  layout version), `.pulumi/stacks/proj/dev.json` (the checkpoint;
  `.json.bak`, the previous one, beside it from the first write on, and left behind by `stack rm`;
  `.json.gz` with PULUMI_DIY_BACKEND_GZIP), `.pulumi/history/proj/dev/...` after updates, and while an
  operation runs, its lock.

Lock. The diy backend locks a stack for create, rm, rename, update/preview/refresh/destroy/import (stack
  import), by writing one object per backend instance:
      .pulumi/locks/organization/<project>/<stack>/<uuid4>.json
      {"pid":17953,"username":"root","hostname":"vm","timestamp":"2026-12-03T12:36:14.465503444Z"}
  (`organization` is the diy backend's fixed org name; uuid4 is minted once per CLI process.) Before and
  after writing its own lock it lists that directory; any other object there refuses the operation, and
  the lock is deleted when the operation ends (a killed CLI leaves it behind). A second operation prints,
  exit code 1 (here `pulumi stack import`, hence the "could not import deployment: " prefix):
      error: could not import deployment: the stack is currently locked by 1 lock(s). Either wait for the
      other process(es) to end or delete the lock file with `pulumi cancel`.
        s3://state/team-a/.pulumi/locks/organization/proj/dev/<uuid>.json?endpoint=http%3A%2F%2F127.0.0.1%3A
      <port>&region=us-east-1&request_checksum_calculation=when_required&use_path_style=true: created by
      root@vm (pid 17953) at 2026-12-03T12:36:14Z
  (one line per lock, two-space indented; the URL is the backend URL as Pulumi rewrote it, its query
  re-encoded, with the lock's key joined to its path; the timestamp in RFC 3339 seconds.) `pulumi cancel
  -s dev --yes` deletes every lock object of the stack ("The currently running update for 'dev' has been
  canceled!"). A lock object written by hand with those four fields is honoured exactly like a live one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vfleet import toolchain

SERVER_TOOL = "versitygw"
REGION = "us-east-1"
BUCKET = "vfleet-state"
HEALTH_PATH = "/health"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT
    bucket: str
    access_key: str
    secret_key: str
    region: str
    data_dir: Path
    log_file: Path

    def backend_url(self, prefix: str = "") -> str:
        """The `s3://` URL the Pulumi CLI (v3.276, gocloud s3blob on AWS SDK v2) opens on this server."""
        path = f"/{prefix.strip('/')}" if prefix.strip("/") else ""
        return f"s3://{self.bucket}{path}?endpoint={self.endpoint}&region={self.region}&use_path_style=true"

    def env(self) -> dict[str, str]:
        """AWS_* for the Pulumi CLI and boto3: this server's credentials, and nothing that reaches AWS."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def subprocess_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """`base` (default: this process's environment) without any AWS_* or PULUMI_BACKEND_URL, plus env()."""
        base = os.environ if base is None else base
        kept = {k: v for k, v in base.items() if not k.startswith("AWS_") and k != "PULUMI_BACKEND_URL"}
        return {**kept, **self.env()}

    def client(self) -> Any:
        """A boto3 S3 client on this server (boto3 is in the `test` and `s3` extras)."""
        import boto3  # optional dependency: only the S3 tests need it
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key, region_name=self.region
        )
        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})
        return session.client("s3", endpoint_url=self.endpoint, config=config)

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket under `prefix`, sorted."""
        found: list[str] = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found += [item["Key"] for item in page.get("Contents", [])]
        return sorted(found)


@contextmanager
def s3_server(tmp_path: Path, bucket: str = BUCKET) -> Iterator[S3Server]:
    """A running gateway on a free 127.0.0.1 port with a fresh data dir, fresh credentials and `bucket`
    created. The process (and its process group) is always stopped on exit, even when startup fails.

    Raises toolchain.ToolMissing when versitygw is not built (the live tier turns that into a failure).
    """
    program = toolchain.binary(SERVER_TOOL)
    root = tmp_path / "s3"
    data_dir, sidecar = root / "data", root / "meta"
    data_dir.mkdir(parents=True)
    sidecar.mkdir()
    log_file = root / "versitygw.log"
    access_key = "vfleet" + secrets.token_hex(6)
    secret_key = secrets.token_hex(20)
    process: subprocess.Popen[bytes] | None = None
    try:
        for _attempt in range(3):  # the free port may be taken between probing and binding it
            port = _free_port()
            with log_file.open("ab") as log:
                process = subprocess.Popen(
                    [
                        str(program),
                        "--access", access_key,
                        "--secret", secret_key,
                        "--port", f"127.0.0.1:{port}",
                        "--region", REGION,
                        "--health", HEALTH_PATH,
                        "--quiet",
                        "posix",
                        "--sidecar", str(sidecar),
                        str(data_dir),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, stopped as one
                )
            endpoint = f"http://127.0.0.1:{port}"
            if _wait_healthy(process, endpoint + HEALTH_PATH):
                break
            _stop(process)
            process = None
        else:
            raise RuntimeError(f"versitygw did not answer on 127.0.0.1 within {START_TIMEOUT_S:.0f} s; log: "
                               + log_file.read_text(errors="replace")[-2000:])
        server = S3Server(endpoint, bucket, access_key, secret_key, REGION, data_dir, log_file)
        server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        if process is not None:
            _stop(process)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_healthy(process: subprocess.Popen[bytes], url: str) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL after STOP_TIMEOUT_S, then reap."""
    for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
            # The leader is gone; make sure nothing else of its group lingers.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            break
        except subprocess.TimeoutExpired:
            continue
    if process.poll() is None:
        process.wait(timeout=STOP_TIMEOUT_S)

