"""The Python worker against a scripted server: a ROUTER socket in the test plays the server's
side of ``docs/protocol.md`` section 8, so every rule of the worker's half is checked exactly
(capacity, duplicate orders, resending until ``Recorded``, lost leases, cancellation,
reconnecting with ``Hello.holding``, graceful stop). The same worker against a real
``backlog serve`` is in ``test_worker_server.py``."""

from __future__ import annotations

import os
import threading
import time
from typing import Callable, List, Optional, Tuple

import pytest
import zmq

from backlog_client import (
    Cancel,
    Completed,
    ErrorCode,
    ErrorReply,
    FailAction,
    Failed,
    Goodbye,
    Heartbeat,
    HeartbeatAck,
    Held,
    Hello,
    Order,
    Recordable,
    RecordStatus,
    Recorded,
    Release,
    Role,
    Welcome,
    decode,
    encode,
)
from backlog_client.worker import CancelJob, Discard, Job, Retry, Snooze, Worker

HEARTBEAT_MS = 40
WAIT = 10.0  # seconds: the most any single expected message may take


class FakeServer:
    """The server's side of a session, driven step by step by the test."""

    def __init__(self, context: zmq.Context) -> None:
        self.socket = context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.peer: Optional[bytes] = None
        self.ack_heartbeats = True

    def recv(self, timeout: float = WAIT) -> object:
        if not self.socket.poll(int(timeout * 1000)):
            raise AssertionError(f"no message from the worker within {timeout} s")
        peer, raw = self.socket.recv_multipart()
        self.peer = peer
        message = decode(raw)
        if isinstance(message, Heartbeat) and self.ack_heartbeats:
            # A live server answers every heartbeat; a silent one makes the worker move on.
            self.send(HeartbeatAck(lease_ms=HEARTBEAT_MS * 10))
        return message

    def expect(self, cls: type, *, skip: tuple = (Heartbeat,), timeout: float = WAIT) -> object:
        """The next message of type ``cls``, skipping the types in ``skip``."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.recv(max(0.01, deadline - time.monotonic()))
            if isinstance(message, cls):
                return message
            if not isinstance(message, skip):
                raise AssertionError(f"expected {cls.__name__}, got {message!r}")

    def send(self, message: object) -> None:
        assert self.peer is not None, "the worker has not spoken yet"
        self.socket.send_multipart([self.peer, encode(message)])  # type: ignore[arg-type]

    def welcome(self, hello: Hello, lost: Optional[List[Held]] = None) -> None:
        self.send(
            Welcome(
                session="s1",
                server_id="fake",
                heartbeat_ms=HEARTBEAT_MS,
                lease_ms=HEARTBEAT_MS * 10,
                max_message_bytes=1 << 20,
                max_batch=100,
                capacity=hello.capacity,
                lost=lost or [],
            )
        )

    def handshake(self) -> Hello:
        hello = self.expect(Hello)
        assert isinstance(hello, Hello)
        self.welcome(hello)
        return hello

    def record(self, job_id: int, lease: bytes, of: Recordable, status=RecordStatus.APPLIED):
        self.send(Recorded(job_id=job_id, lease=lease, of=of, status=status))

    def close(self) -> None:
        self.socket.close(linger=0)


def order(job_id: int, kind: str = "echo", args: object = None, **extra) -> Order:
    return Order(
        job_id=job_id,
        lease=os.urandom(16),
        kind=kind,
        queue="default",
        args=args if args is not None else {"n": job_id},
        attempt=1,
        max_attempts=5,
        priority=0,
        lease_ms=HEARTBEAT_MS * 10,
        created_at_ms=0,
        **extra,
    )


class Running:
    """A worker running on a background thread."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.worker.run(install_signal_handlers=False)
        except BaseException as err:  # noqa: BLE001
            self.error = err

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the worker did not stop"
        if self.error:
            raise self.error


@pytest.fixture
def context():
    ctx = zmq.Context()
    yield ctx
    ctx.term()


@pytest.fixture
def server(context):
    fake = FakeServer(context)
    yield fake
    fake.close()


def start(context, endpoints, handlers: dict, **options) -> Running:
    worker = Worker(endpoints, context=context, **options)
    for kind, fn in handlers.items():
        worker.register(kind, fn)
    return Running(worker)


def test_hello_announces_kinds_queues_and_capacity(context, server):
    running = start(context, server.endpoint, {"b": lambda j: 1, "a": lambda j: 2},
                    capacity=3, queues=["mail"], worker_id="w-1")
    hello = server.handshake()
    assert hello.role == Role.WORKER
    assert hello.kinds == ["a", "b"]
    assert hello.queues == ["mail"]
    assert hello.capacity == 3
    assert hello.worker_id == "w-1"
    assert hello.holding == []
    running.stop()
    server.expect(Goodbye)


def test_completed_is_resent_until_recorded(context, server):
    running = start(context, server.endpoint, {"echo": lambda job: {"got": job.args}})
    server.handshake()
    o = order(7)
    server.send(o)
    first = server.expect(Completed)
    assert (first.job_id, first.lease, first.result) == (7, o.lease, {"got": {"n": 7}})
    # No answer: the worker sends it again within a heartbeat or two.
    again = server.expect(Completed)
    assert (again.job_id, again.lease) == (7, o.lease)
    assert running.worker.stats.resent >= 1
    server.record(7, o.lease, Recordable.COMPLETED)
    # Once recorded it is never sent again: the next three heartbeats come with nothing else.
    for _ in range(3):
        message = server.recv()
        assert isinstance(message, Heartbeat), message
        assert message.held == []
    running.stop()
    server.expect(Goodbye)


def test_duplicate_order_runs_once(context, server):
    gate = threading.Event()
    runs: List[int] = []

    def slow(job: Job) -> None:
        runs.append(job.id)
        gate.wait(WAIT)

    running = start(context, server.endpoint, {"echo": slow})
    server.handshake()
    o = order(3)
    server.send(o)
    server.send(o)
    beat = server.expect(Heartbeat, skip=())
    assert [h.job_id for h in beat.held] == [3]
    gate.set()
    done = server.expect(Completed)
    server.record(done.job_id, done.lease, Recordable.COMPLETED)
    assert runs == [3]
    assert running.worker.stats.ignored_orders == 1
    running.stop()


@pytest.mark.parametrize(
    "raise_it, action, delay_ms, kind",
    [
        (lambda: Retry("later", delay=2.5), FailAction.RETRY, 2500, "Retry"),
        (lambda: Discard("bad input"), FailAction.DISCARD, None, "Discard"),
        (lambda: Snooze(1.5), FailAction.SNOOZE, 1500, "Snooze"),
        (lambda: CancelJob("nope"), FailAction.CANCEL, None, "CancelJob"),
        (lambda: ValueError("boom"), FailAction.RETRY, None, "ValueError"),
    ],
)
def test_exceptions_map_to_actions(context, server, raise_it, action, delay_ms, kind):
    def fail(job: Job) -> None:
        raise raise_it()

    running = start(context, server.endpoint, {"echo": fail})
    server.handshake()
    o = order(11)
    server.send(o)
    failed = server.expect(Failed)
    assert failed.action == action
    assert failed.delay_ms == delay_ms
    assert failed.error.kind == kind
    if kind == "ValueError":
        assert "boom" in failed.error.message
        assert "Traceback" in failed.error.backtrace
    server.record(11, o.lease, Recordable.FAILED)
    running.stop()


def test_unencodable_result_is_discarded_with_a_reason(context, server):
    running = start(context, server.endpoint, {"echo": lambda job: {1, 2}})
    server.handshake()
    server.send(order(12))
    failed = server.expect(Failed)
    assert failed.action == FailAction.DISCARD
    assert failed.error.kind == "result_not_encodable"
    running.stop()


def test_lost_lease_stops_the_job_and_its_outcome_is_never_sent(context, server):
    stopped = threading.Event()

    def waits(job: Job) -> str:
        if job.wait_cancelled(WAIT):
            stopped.set()
        return "finished anyway"

    running = start(context, server.endpoint, {"echo": waits})
    server.handshake()
    o = order(5)
    server.send(o)
    server.expect(Heartbeat, skip=())
    server.send(HeartbeatAck(lost=[Held(job_id=5, lease=o.lease)], lease_ms=400))
    assert stopped.wait(WAIT)
    for _ in range(4):
        message = server.recv()
        assert isinstance(message, Heartbeat), f"nothing but heartbeats expected, got {message!r}"
        assert message.held == []
    assert running.worker.stats.lost == 1
    running.stop()


def test_cancel_reaches_the_running_job(context, server):
    def until_cancelled(job: Job) -> None:
        job.wait_cancelled(WAIT)
        raise RuntimeError("stopped on request")

    running = start(context, server.endpoint, {"echo": until_cancelled})
    server.handshake()
    o = order(9)
    server.send(o)
    server.expect(Heartbeat, skip=())
    server.send(Cancel(jobs=[Held(job_id=9, lease=o.lease)]))
    failed = server.expect(Failed)
    assert failed.action == FailAction.CANCEL
    server.record(9, o.lease, Recordable.FAILED)
    running.stop()


def test_heartbeat_ack_cancel_by_job_id(context, server):
    running = start(context, server.endpoint,
                    {"echo": lambda job: "cancelled" if job.wait_cancelled(WAIT) else "timeout"})
    server.handshake()
    o = order(10)
    server.send(o)
    server.expect(Heartbeat, skip=())
    server.send(HeartbeatAck(cancel=[10], lease_ms=400))
    done = server.expect(Completed)
    assert done.result == "cancelled"
    running.stop()


def test_no_session_makes_the_worker_say_hello_again(context, server):
    running = start(context, server.endpoint, {"echo": lambda job: None})
    server.handshake()
    server.expect(Heartbeat, skip=())
    server.send(ErrorReply(code=ErrorCode.NO_SESSION, message="who are you?"))
    hello = server.expect(Hello)
    assert hello.role == Role.WORKER
    running.stop()


def test_moves_to_the_next_server_and_says_what_it_holds(context):
    first, second = FakeServer(context), FakeServer(context)
    gate = threading.Event()
    try:
        running = start(context, [first.endpoint, second.endpoint],
                        {"echo": lambda job: gate.wait(WAIT) and "done"})
        first.handshake()
        o = order(21)
        first.send(o)
        first.expect(Heartbeat, skip=())
        first.close()  # the server dies: no more answers
        hello = second.expect(Hello, timeout=WAIT)
        assert hello.holding == [Held(job_id=21, lease=o.lease)]
        second.welcome(hello)
        gate.set()
        done = second.expect(Completed)
        assert (done.job_id, done.result) == (21, "done")
        second.record(21, o.lease, Recordable.COMPLETED)
        assert running.worker.stats.reconnects >= 1
        running.stop()
    finally:
        second.close()


def test_welcome_lost_stops_the_execution(context, server):
    stopped = threading.Event()

    def waits(job: Job) -> None:
        if job.wait_cancelled(WAIT):
            stopped.set()

    running = start(context, server.endpoint, {"echo": waits})
    server.handshake()
    o = order(31)
    server.send(o)
    server.expect(Heartbeat, skip=())
    # The server lost the session (say it restarted): the worker says hello again with what
    # it holds, and is told the job is no longer its own.
    server.send(ErrorReply(code=ErrorCode.NO_SESSION, message="restarted"))
    hello = server.expect(Hello)
    assert hello.holding == [Held(job_id=31, lease=o.lease)]
    server.welcome(hello, lost=[Held(job_id=31, lease=o.lease)])
    assert stopped.wait(WAIT)
    running.stop()
    goodbye_or_beat = server.expect(Goodbye)
    assert isinstance(goodbye_or_beat, Goodbye)


def test_graceful_stop_releases_what_did_not_finish(context, server):
    def stubborn(job: Job) -> None:
        job.wait_cancelled(WAIT)

    running = start(context, server.endpoint, {"echo": stubborn}, grace=0.1)
    server.handshake()
    o = order(41)
    server.send(o)
    server.expect(Heartbeat, skip=())
    running.worker.stop()
    beat = server.expect(Heartbeat, skip=())
    assert beat.capacity == 0
    release = server.expect(Release)
    assert release.job_id == 41
    server.record(41, o.lease, Recordable.RELEASE)
    server.expect(Goodbye)
    running.thread.join(WAIT)
    assert not running.thread.is_alive()


def test_timeout_is_reported_as_a_failed_attempt(context, server):
    running = start(context, server.endpoint, {"echo": lambda job: job.wait_cancelled(WAIT)})
    server.handshake()
    o = order(51, timeout_ms=50)
    server.send(o)
    failed = server.expect(Failed)
    assert failed.action == FailAction.RETRY
    assert failed.error.kind == "timeout"
    server.record(51, o.lease, Recordable.FAILED)
    running.stop()


def test_order_for_an_unknown_kind_is_released(context, server):
    running = start(context, server.endpoint, {"echo": lambda job: None})
    server.handshake()
    o = order(61, kind="other")
    server.send(o)
    release = server.expect(Release)
    assert release.job_id == 61
    assert "no handler" in release.reason
    running.stop()


def test_worker_needs_a_handler_and_sane_options(context):
    with pytest.raises(ValueError):
        Worker("tcp://127.0.0.1:1", capacity=0)
    with pytest.raises(ValueError):
        Worker([])
    worker = Worker("tcp://127.0.0.1:1", context=context)
    with pytest.raises(Exception, match="register at least one"):
        worker.run(install_signal_handlers=False)
    worker.register("k", lambda job: None)
    with pytest.raises(ValueError, match="already has a handler"):
        worker.register("k", lambda job: None)
