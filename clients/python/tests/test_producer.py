"""Producer against a real ``backlog serve --zmq``, started by the test on both backends."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import uuid

import pytest
import zmq

from backlog_client import (
    After,
    CallbackSpec,
    ErrorCode,
    JobSpec,
    OnDependencyFailure,
    Producer,
    RejectCode,
    RejectedError,
    ServerError,
    TimeoutError,
    Unique,
)
from backlog_client.codec import encode
from backlog_client.messages import Heartbeat

REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def backlog_bin() -> pathlib.Path:
    """The CLI with the server feature, built once (override with BACKLOG_BIN)."""
    if "BACKLOG_BIN" in os.environ:
        return pathlib.Path(os.environ["BACKLOG_BIN"])
    subprocess.run(
        ["cargo", "build", "--quiet", "-p", "backlog-cli", "--features", "server"],
        cwd=REPO,
        check=True,
    )
    return REPO / "target/debug/backlog"


def _database(kind: str, tmp_path: pathlib.Path) -> list:
    if kind == "sqlite":
        return ["-d", f"sqlite://{tmp_path / 'backlog.db'}"]
    url = os.environ.get(
        "BACKLOG_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/backlog_test"
    )
    return ["-d", url, "--schema", f"py_{uuid.uuid4().hex[:12]}"]


def _cli(served: "Served", *args: str) -> str:
    return subprocess.run(
        [str(served.bin), *args, *served.db], check=True, capture_output=True, text=True
    ).stdout


class Served:
    def __init__(self, bin: pathlib.Path, db: list, extra: list) -> None:
        self.bin = bin
        self.db = db
        subprocess.run([str(bin), "migrate", "up", *db], check=True, capture_output=True)
        self.process = subprocess.Popen(
            [str(bin), "serve", *db, "--http", "127.0.0.1:0", "--zmq", "tcp://127.0.0.1:0", *extra],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        # The server prints what it serves, one line each; the ZeroMQ endpoint comes first.
        found = None
        for _ in range(5):
            line = self.process.stdout.readline()
            found = re.search(r"listening on (\S+)", line)
            if found or not line:
                break
        if not found:
            self.stop()
            pytest.fail(f"backlog serve did not start: {line!r}")
        self.endpoint = found.group(1)

    def job(self, job_id: int) -> str:
        out = subprocess.run(
            [str(self.bin), "jobs", "show", str(job_id), *self.db],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(params=["sqlite", "postgres"])
def served(request, backlog_bin, tmp_path):
    server = Served(backlog_bin, _database(request.param, tmp_path), [])
    yield server
    server.stop()


def test_enqueue_one_and_a_batch(served: Served) -> None:
    with Producer(served.endpoint) as producer:
        assert producer.welcome.max_batch >= 3
        job = JobSpec(
            kind="email",
            args={"to": "a@example.com"},
            queue="mail",
            priority=5,
            max_attempts=2,
            tags=["py"],
            metadata={"team": "ops"},
            unique=Unique(by_queue=True),
        )
        job_id = producer.enqueue(job)
        shown = served.job(job_id)
        assert "email" in shown and "mail" in shown
        ids = producer.enqueue_many(
            [JobSpec(kind="k", args={"i": i}) for i in range(3)], request_id="batch-1"
        )
        assert len(set(ids)) == 3


def test_workflow_and_batch(served: Served) -> None:
    with Producer(served.endpoint) as producer:
        jobs = [
            JobSpec(kind="extract", args={}),
            JobSpec(kind="load", args={}, after=[0]),
            JobSpec(
                kind="report",
                args={},
                after=[1, After(job=0, on_failure=OnDependencyFailure.RUN)],
            ),
        ]
        workflow_id, ids = producer.enqueue_workflow("nightly", jobs, request_id="wf-py")
        # A resend (same request id) stores nothing new.
        assert producer.enqueue_workflow("nightly", jobs, request_id="wf-py") == (
            workflow_id,
            ids,
        )
        shown = _cli(served, "workflows", "show", str(workflow_id))
        assert "nightly" in shown and all(str(i) in shown for i in ids)
        assert len(_cli(served, "workflows", "list").strip().splitlines()) == 2  # header + 1

        with pytest.raises(RejectedError) as cycle:
            producer.enqueue_workflow(
                "loop",
                [JobSpec(kind="a", args={}, after=[1]), JobSpec(kind="b", args={}, after=[0])],
            )
        assert cycle.value.code == RejectCode.INVALID and "cycle" in str(cycle.value)

        batch_id, first = producer.open_batch(
            [JobSpec(kind="row", args={"n": 1})],
            description="rows",
            callback=CallbackSpec(kind="rows_done", args={"file": "a.csv"}),
            request_id="batch-py",
        )
        again = producer.open_batch(
            [JobSpec(kind="row", args={"n": 1})],
            description="rows",
            callback=CallbackSpec(kind="rows_done", args={"file": "a.csv"}),
            request_id="batch-py",
        )
        assert again == (batch_id, first)
        producer.add_to_batch(batch_id, [JobSpec(kind="row", args={"n": 2})])
        producer.seal_batch(batch_id)
        shown = _cli(served, "batches", "show", str(batch_id))
        assert '"total": 2' in shown and '"sealed_at": null' not in shown, shown
        with pytest.raises(RejectedError) as sealed:
            producer.add_to_batch(batch_id, [JobSpec(kind="row", args={"n": 3})])
        assert sealed.value.code == RejectCode.INVALID and "sealed" in str(sealed.value)


def test_bad_input_raises_typed_errors(served: Served) -> None:
    with Producer(served.endpoint) as producer:
        with pytest.raises(RejectedError) as rejected:
            producer.enqueue(JobSpec(kind="k", args={}, queue="not a queue!"))
        assert rejected.value.code == RejectCode.INVALID
        assert not rejected.value.retryable
        assert "queue" in str(rejected.value)
    # A message before Hello is answered `no_session`.
    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(served.endpoint)
    raw.send(encode(Heartbeat()))
    assert raw.poll(10_000)
    from backlog_client import decode

    reply = decode(raw.recv())
    assert reply.code == ErrorCode.NO_SESSION
    raw.close()


def test_no_server_times_out() -> None:
    with pytest.raises(TimeoutError):
        # Nothing listens on this port: every try times out.
        Producer("tcp://127.0.0.1:1", timeout=0.2, retries=1)


def _keygen(bin: pathlib.Path) -> tuple:
    out = subprocess.run([str(bin), "keygen"], check=True, capture_output=True, text=True)
    keys = dict(line.split(": ", 1) for line in out.stdout.strip().splitlines())
    return keys["public-key"], keys["secret-key"]


def test_curve_allowlisted_client_enqueues_and_a_stranger_gets_nothing(
    backlog_bin, tmp_path
) -> None:
    server_public, server_secret = _keygen(backlog_bin)
    client_public, client_secret = _keygen(backlog_bin)
    stranger_public, stranger_secret = _keygen(backlog_bin)
    server = Served(
        backlog_bin,
        _database("sqlite", tmp_path),
        ["--curve-secret-key", server_secret, "--allow-client", client_public],
    )
    try:
        with Producer(
            server.endpoint,
            server_public_key=server_public,
            public_key=client_public,
            secret_key=client_secret,
        ) as producer:
            assert producer.enqueue(JobSpec(kind="k", args={})) > 0
        with pytest.raises(TimeoutError):
            Producer(
                server.endpoint,
                timeout=0.5,
                retries=0,
                server_public_key=server_public,
                public_key=stranger_public,
                secret_key=stranger_secret,
            )
        with pytest.raises(TimeoutError):
            Producer(server.endpoint, timeout=0.5, retries=0)
    finally:
        server.stop()


