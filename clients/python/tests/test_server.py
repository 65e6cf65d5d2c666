"""The Python producer and worker against a real ``backlog serve --zmq`` on both backends.

The server binary comes from ``BACKLOG_BIN`` (``scripts/test-python`` builds it); PostgreSQL from
``BACKLOG_TEST_DATABASE_URL`` (as for the Rust tests; default: the local server, database
``backlog_test``), each test in a schema of its own, dropped afterwards. Job states are read through the server's HTTP API.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from typing import Callable, Dict, List, Optional

import pytest

from backlog_client import JobSpec, Producer
from backlog_client.worker import CancelJob, Discard, Job, Retry, Snooze, Worker

REPO = pathlib.Path(__file__).resolve().parents[3]
BIN = pathlib.Path(os.environ.get("BACKLOG_BIN", REPO / "target/debug/backlog"))
POSTGRES = os.environ.get(
    "BACKLOG_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/backlog_test"
)
HEARTBEAT_MS = 200


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range. Servers here are restarted on
    their port; a port from that range, once released, may become the source port of any
    outgoing connection (or of a worker's reconnect, which then connects to itself), and the
    second bind would fail with "address in use"."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(low // 2, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


class ServerProcess:
    """One ``backlog serve`` process; ``kill`` is SIGKILL, ``stop`` a graceful SIGTERM."""

    def __init__(
        self, database: str, schema: str, zmq_port: int, lease_ms: int = 30_000
    ) -> None:
        if not BIN.exists():
            pytest.fail(
                f"{BIN} not found: build it with `cargo build -p backlog-cli --features server` "
                "or set BACKLOG_BIN"
            )
        self.proc = subprocess.Popen(
            [
                str(BIN), "serve", "--database", database, "--schema", schema, "--migrate",
                "--http", "127.0.0.1:0", "--zmq", f"tcp://127.0.0.1:{zmq_port}",
                "--insecure-no-auth", "--heartbeat-ms", str(HEARTBEAT_MS), "--lease-ms", str(lease_ms),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.endpoint = ""
        self.http = ""
        deadline = time.monotonic() + 60
        seen: List[str] = []
        while not (self.endpoint and self.http):
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if not line:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("backlog serve did not start:\n" + "".join(seen))
                continue
            seen.append(line)
            if m := re.search(r"ZeroMQ server listening on (\S+)", line):
                self.endpoint = m.group(1)
            if m := re.search(r"Dashboard: (http://[^/\s]+)", line):
                self.http = m.group(1)
        # Keep reading so that the server never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for _ in self.proc.stdout or []:
            pass

    def job(self, job_id: int) -> dict:
        with urllib.request.urlopen(f"{self.http}/api/jobs/{job_id}", timeout=5) as r:
            body = json.load(r)
        return body.get("job", body)

    def cancel(self, job_id: int) -> None:
        request = urllib.request.Request(
            f"{self.http}/api/jobs/actions/cancel",
            data=json.dumps({"ids": [job_id]}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5):
            pass

    def wait_state(self, job_id: int, states: set, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["state"] in states:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} is {job['state']}, expected {states}")
            time.sleep(0.02)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path):
    if request.param == "sqlite":
        yield {"url": f"sqlite://{tmp_path / 'backlog.sqlite3'}", "schema": "public"}
        return
    schema = f"py_{uuid.uuid4().hex[:12]}"
    yield {"url": POSTGRES, "schema": schema}
    # Best effort: without psql the schema stays behind (it is named py_...).
    subprocess.run(
        ["psql", POSTGRES, "-qc", f"DROP SCHEMA IF EXISTS {schema} CASCADE"],
        capture_output=True,
        check=False,
    )


@pytest.fixture
def server(database):
    started = ServerProcess(database["url"], database["schema"], free_port())
    yield started
    started.stop()


class RunningWorker:
    """A :class:`Worker` on a thread of its own."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.stats = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.stats = self.worker.run(install_signal_handlers=False)

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the worker did not stop within 30 s"


def run_worker(endpoints, handlers: Dict[str, Callable[[Job], object]], **kw) -> RunningWorker:
    worker = Worker(endpoints, grace=5.0, **kw)
    for kind, fn in handlers.items():
        worker.register(kind, fn)
    return RunningWorker(worker)


def test_python_worker_runs_jobs_end_to_end(server):
    with Producer(server.endpoint) as producer:
        ids = producer.enqueue_many(
            [JobSpec(kind="square", args={"n": n}, username="alice") for n in range(20)]
        )
    seen_users = set()

    def square(job: Job):
        seen_users.add(job.username)
        return {"square": job.args["n"] ** 2}

    running = run_worker(server.endpoint, {"square": square}, capacity=4)
    try:
        for n, job_id in enumerate(ids):
            job = server.wait_state(job_id, {"completed"})
            assert job["result"] == {"square": n * n}
    finally:
        running.stop()
    assert running.stats.completed == 20
    assert seen_users == {"alice"}


def test_failures_map_onto_job_states(server):
    def raise_(exc: BaseException):
        def handler(job: Job):
            raise exc

        return handler

    handlers = {
        "discard": raise_(Discard("not worth retrying")),
        "retry": raise_(Retry("later", delay=3600)),
        "snooze": raise_(Snooze(3600)),
        "cancel": raise_(CancelJob("no longer wanted")),
        "crash": raise_(ValueError("bad input")),
    }
    with Producer(server.endpoint) as producer:
        ids = {
            kind: producer.enqueue(
                JobSpec(kind=kind, args={}, max_attempts=1 if kind == "crash" else 5)
            )
            for kind in handlers
        }
    running = run_worker(server.endpoint, handlers, capacity=5)
    try:
        expected = {
            "discard": "discarded",
            "retry": "retryable",
            "snooze": "scheduled",
            "cancel": "cancelled",
            "crash": "discarded",
        }
        for kind, state in expected.items():
            server.wait_state(ids[kind], {state})
        crash = server.job(ids["crash"])
        messages = json.dumps(crash.get("errors", []))
        assert "ValueError" in messages and "bad input" in messages, messages
        assert server.job(ids["snooze"])["attempt"] == 0
    finally:
        running.stop()


def test_cancelling_a_running_job_reaches_the_python_worker(server):
    started = threading.Event()

    def wait_for_cancel(job: Job):
        started.set()
        if job.wait_cancelled(20):
            raise CancelJob("stopped on request")
        return "not cancelled"

    with Producer(server.endpoint) as producer:
        job_id = producer.enqueue(JobSpec(kind="long", args={}))
    running = run_worker(server.endpoint, {"long": wait_for_cancel}, capacity=1)
    try:
        assert started.wait(20)
        server.cancel(job_id)
        server.wait_state(job_id, {"cancelled"}, timeout=10)
    finally:
        running.stop()


def test_an_outcome_survives_the_server_being_killed(database):
    """SIGKILL the server while a job runs; a new server on the same database and endpoint
    receives the outcome the worker kept, and the job ran exactly once."""
    port = free_port()
    first = ServerProcess(database["url"], database["schema"], port)
    release = threading.Event()
    started = threading.Event()
    executions: List[int] = []

    def slow(job: Job):
        executions.append(job.id)
        started.set()
        release.wait(30)
        return {"done": True}

    with Producer(first.endpoint) as producer:
        job_id = producer.enqueue(JobSpec(kind="slow", args={}))
    running = run_worker(first.endpoint, {"slow": slow}, capacity=1)
    second: Optional[ServerProcess] = None
    try:
        assert started.wait(20)
        first.kill()
        release.set()
        second = ServerProcess(database["url"], database["schema"], port)
        job = second.wait_state(job_id, {"completed"}, timeout=30)
        assert job["result"] == {"done": True}
        assert job["attempt"] == 1
        assert executions == [job_id], "the job ran exactly once"
    finally:
        release.set()
        running.stop()
        if second is not None:
            second.stop()
    # The outcome may have waited in the socket's queue or been resent after the new Hello;
    # either way it was recorded once.
    assert running.stats.completed == 1 and running.stats.stale == 0


@pytest.fixture
def postgres_database():
    schema = f"py_{uuid.uuid4().hex[:12]}"
    yield {"url": POSTGRES, "schema": schema}
    subprocess.run(
        ["psql", POSTGRES, "-qc", f"DROP SCHEMA IF EXISTS {schema} CASCADE"],
        capture_output=True,
        check=False,
    )


def test_two_servers_share_the_work_and_ride_out_one_being_killed(postgres_database):
    """Two servers on one database, two workers each knowing both endpoints; one server is
    SIGKILLed mid-run. Every job completes, and each ran exactly once: the workers on the
    killed server move to the other with the jobs they hold and their outcomes. (PostgreSQL:
    the production setup for several servers.)"""
    database = postgres_database
    # An order on its way to a worker when its server dies is lost with it; the job waits for
    # its lease to run out and the rescuer (every 5 s). Short leases keep the test short.
    a = ServerProcess(database["url"], database["schema"], free_port(), lease_ms=2000)
    b = ServerProcess(database["url"], database["schema"], free_port(), lease_ms=2000)
    executions: Dict[int, int] = {}
    lock = threading.Lock()

    def work(job: Job):
        with lock:
            executions[job.id] = executions.get(job.id, 0) + 1
        time.sleep(0.01)  # the job's own work
        return None

    total = 200
    with Producer(a.endpoint) as producer:
        ids = producer.enqueue_many([JobSpec(kind="w", args={"i": i}) for i in range(total)])
    workers = [
        run_worker([a.endpoint, b.endpoint], {"w": work}, capacity=4, worker_id="on-a"),
        run_worker([b.endpoint, a.endpoint], {"w": work}, capacity=4, worker_id="on-b"),
    ]
    try:
        deadline = time.monotonic() + 30
        while len(executions) < total // 4:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.01)
        a.kill()
        for job_id in ids:
            b.wait_state(job_id, {"completed"}, timeout=60)
    finally:
        for w in workers:
            w.stop()
        b.stop()
    assert sorted(executions) == sorted(ids)
    # An order lost in flight never started, so it ran once after its rescue; a job whose
    # outcome was sent to the dead server was resent to the other: once too.
    twice = {job_id: n for job_id, n in executions.items() if n != 1}
    assert not twice, f"ran more than once: {twice}"
    assert workers[0].stats.reconnects >= 1, "the worker on the killed server moved"
