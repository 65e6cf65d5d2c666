"""A worker: runs jobs that a ``backlog serve --zmq`` server orders, over ZeroMQ.

Register one function per job kind, then call :meth:`Worker.run`. The calling thread owns the
DEALER socket (ZeroMQ sockets are not thread-safe); job functions run on a pool of ``capacity``
threads. Finished jobs wake the socket thread through a pipe, so an outcome goes out at once and
no loop polls on a timer for it.

What the worker guarantees (``docs/protocol.md`` section 8):

- it never holds more unanswered orders than its capacity, and ignores an order for an
  execution it already holds;
- it sends ``Heartbeat`` every ``heartbeat_ms`` listing what it holds, and stops a job whose
  lease the server reports lost or whose cancellation it asks for;
- it keeps every outcome until the server answers ``Recorded``, resending it every heartbeat
  interval and after every reconnect, so an outcome survives a server restart;
- when the server goes silent for three heartbeat intervals, or says ``Goodbye``, it connects to
  the next endpoint of its list and says what it holds (``Hello.holding``);
- on SIGTERM / SIGINT (or :meth:`Worker.stop`) it takes no more work, lets running jobs finish
  within ``grace`` seconds, releases the rest, waits for the answers and says ``Goodbye``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import zmq

from .codec import Limits, decode, encode
from .errors import BacklogError, DecodeError, EncodeError
from .messages import (
    Cancel,
    Command,
    Completed,
    ErrorCode,
    ErrorInfo,
    ErrorReply,
    FailAction,
    Failed,
    Goodbye,
    Heartbeat,
    HeartbeatAck,
    Held,
    Hello,
    Order,
    Progress,
    RecordStatus,
    Recorded,
    Release,
    Role,
    Welcome,
)

LIBRARY = "backlog-python/0.1.0"

log = logging.getLogger("backlog_client.worker")

# -- what a job function may raise -----------------------------------------------------------


class JobOutcome(BacklogError):
    """Base of the exceptions a job function raises to ask for something other than a retry."""


class Retry(JobOutcome):
    """Fail this attempt and retry after ``delay`` seconds (``None``: the kind's backoff)."""

    def __init__(self, message: str = "retry requested", *, delay: Optional[float] = None):
        super().__init__(message)
        self.delay = delay


class Discard(JobOutcome):
    """Fail for good: the job is discarded whatever attempts are left."""


class Snooze(JobOutcome):
    """Run again after ``delay`` seconds without spending an attempt."""

    def __init__(self, delay: float, message: str = "snoozed"):
        if delay < 0:
            raise ValueError(f"snooze delay must be 0 or more seconds, got {delay}")
        super().__init__(message)
        self.delay = delay


class CancelJob(JobOutcome):
    """Stop and mark the job cancelled."""


# -- the job as a function sees it -----------------------------------------------------------


class Job:
    """One execution of a job, handed to the function registered for its kind."""

    def __init__(self, order: Order, worker: "Worker") -> None:
        self.order = order
        self.id: int = order.job_id
        self.kind: str = order.kind
        self.queue: str = order.queue
        self.args: Any = order.args
        self.attempt: int = order.attempt
        self.max_attempts: int = order.max_attempts
        self.priority: int = order.priority
        self.tags: List[str] = list(order.tags)
        self.metadata: Any = order.metadata
        self.username: Optional[str] = order.username
        self.uuid: Optional[uuid.UUID] = order.uuid
        self._cancelled = threading.Event()
        self._worker = worker

    @property
    def cancelled(self) -> bool:
        """True once the job should stop: cancelled, lease lost, timed out or shutting down."""
        return self._cancelled.is_set()

    def wait_cancelled(self, timeout: Optional[float] = None) -> bool:
        """Blocks until the job is cancelled or ``timeout`` seconds pass; returns ``cancelled``."""
        return self._cancelled.wait(timeout)

    def progress(self, value: Any) -> None:
        """Records the job's progress (any JSON value); sent by the socket thread, fenced."""
        self._worker._post(("progress", self.id, self.order.lease, value))


Handler = Callable[[Job], Any]


@dataclass
class _Execution:
    job: Job
    started: float
    deadline: Optional[float]
    lost: bool = False


@dataclass
class _Pending:
    """An outcome waiting for ``Recorded``."""

    message: Union[Completed, Failed, Release]
    sent_at: float = 0.0


@dataclass
class WorkerStats:
    """Counters of one worker (read them after :meth:`Worker.run` returned, or any time)."""

    orders: int = 0
    completed: int = 0
    failed: int = 0
    released: int = 0
    stale: int = 0
    lost: int = 0
    reconnects: int = 0
    ignored_orders: int = 0
    resent: int = 0
    by_kind: Dict[str, int] = field(default_factory=dict)


class Worker:
    """Runs jobs ordered by a Backlog server.

    ``endpoints``: one endpoint or a list (``tcp://host:7400``); the worker uses the first and
    moves to the next when a server goes away. ``capacity``: jobs run at once (threads).
    ``queues``: the queues it takes work from (default: ``["default"]``). With CURVE, pass the server's
    public key and this worker's key pair (Z85 text, as ``backlog keygen`` prints them).
    """

    def __init__(
        self,
        endpoints: Union[str, Sequence[str]],
        *,
        capacity: int = 4,
        queues: Optional[Sequence[str]] = None,
        worker_id: Optional[str] = None,
        grace: float = 30.0,
        server_public_key: Optional[str] = None,
        public_key: Optional[str] = None,
        secret_key: Optional[str] = None,
        context: Optional[zmq.Context] = None,
    ) -> None:
        self.endpoints: List[str] = [endpoints] if isinstance(endpoints, str) else list(endpoints)
        if not self.endpoints:
            raise ValueError("a worker needs at least one server endpoint")
        if capacity < 1:
            raise ValueError(f"capacity must be 1 or more, got {capacity}")
        if grace < 0:
            raise ValueError(f"grace must be 0 or more seconds, got {grace}")
        curve = (server_public_key, public_key, secret_key)
        if any(curve) and not all(curve):
            raise ValueError("CURVE needs server_public_key, public_key and secret_key together")
        self.capacity = capacity
        self.queues = list(queues) if queues else ["default"]
        self.worker_id = worker_id or f"py-{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.grace = grace
        self.stats = WorkerStats()
        self._curve = curve if all(curve) else None
        self._context = context or zmq.Context.instance()
        self._handlers: Dict[str, Handler] = {}
        self._running: Dict[Tuple[int, bytes], _Execution] = {}
        self._pending: Dict[Tuple[int, bytes], _Pending] = {}
        self._inbox: List[tuple] = []
        self._inbox_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._stopping = threading.Event()
        self._quiet = False
        self._limits = Limits()
        self._socket: Optional[zmq.Socket] = None
        self._endpoint_index = 0
        self._heartbeat_s = 5.0
        self._next_beat = 0.0
        self._last_heard = 0.0
        self._welcomed = False

    # -- registration --------------------------------------------------------------------------

    def register(self, kind: str, handler: Optional[Handler] = None):
        """Registers ``handler`` for jobs of ``kind``; usable as a decorator
        (``@worker.register("email")``)."""
        if not kind or len(kind.encode()) > 255:
            raise ValueError(f"a job kind must be 1 to 255 bytes, got {kind!r}")

        def add(fn: Handler) -> Handler:
            if kind in self._handlers:
                raise ValueError(f"kind {kind!r} already has a handler")
            self._handlers[kind] = fn
            return fn

        return add(handler) if handler is not None else add

    # -- running -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Asks :meth:`run` to stop gracefully (safe from any thread or a signal handler)."""
        self._stopping.set()
        self._wake()

    def run(self, *, install_signal_handlers: bool = True) -> WorkerStats:
        """Connects, runs ordered jobs until :meth:`stop` or SIGTERM / SIGINT, then shuts down
        gracefully. Returns the worker's counters."""
        if not self._handlers:
            raise BacklogError("register at least one job kind before running the worker")
        restore = self._install_signals() if install_signal_handlers else []
        pool = ThreadPoolExecutor(max_workers=self.capacity, thread_name_prefix="backlog-job")
        try:
            self._connect()
            self._loop(pool)
            self._drain(pool)
        finally:
            for sig, old in restore:
                signal.signal(sig, old)
            pool.shutdown(wait=False, cancel_futures=True)
            if self._socket is not None:
                self._socket.close(linger=0)
            os.close(self._wake_r)
            os.close(self._wake_w)
        return self.stats

    def _install_signals(self) -> list:
        if threading.current_thread() is not threading.main_thread():
            return []
        restore = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            restore.append((sig, signal.signal(sig, lambda *_: self.stop())))
        return restore

    # -- the socket ----------------------------------------------------------------------------

    def _connect(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self.stats.reconnects += 1
        socket = self._context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        if self._curve:
            server_key, public_key, secret_key = self._curve
            socket.curve_serverkey = server_key.encode()  # type: ignore[union-attr]
            socket.curve_publickey = public_key.encode()  # type: ignore[union-attr]
            socket.curve_secretkey = secret_key.encode()  # type: ignore[union-attr]
        endpoint = self.endpoints[self._endpoint_index % len(self.endpoints)]
        socket.connect(endpoint)
        self._socket = socket
        self._welcomed = False
        self._last_heard = time.monotonic()
        self._next_beat = self._last_heard + self._heartbeat_s
        self._send_hello()

    def _next_server(self, why: str) -> None:
        self._endpoint_index += 1
        endpoint = self.endpoints[self._endpoint_index % len(self.endpoints)]
        log.warning("%s; connecting to %s", why, endpoint)
        self._connect()

    def _holding(self) -> List[Held]:
        held = {key for key, ex in self._running.items() if not ex.lost}
        held.update(self._pending.keys())
        return [Held(job_id=job_id, lease=lease) for job_id, lease in sorted(held)]

    def _send_hello(self) -> None:
        self._send(
            Hello(
                role=Role.WORKER,
                worker_id=self.worker_id,
                kinds=sorted(self._handlers),
                queues=self.queues,
                capacity=0 if (self._quiet or self._stopping.is_set()) else self.capacity,
                holding=self._holding(),
                library=LIBRARY,
            )
        )

    def _send(self, message: object) -> None:
        assert self._socket is not None
        try:
            self._socket.send(encode(message), zmq.DONTWAIT)  # type: ignore[arg-type]
        except zmq.Again:
            # The pipe to the server is full or not connected yet; outcomes are resent
            # from `_pending`, heartbeats go out again next interval.
            log.debug("send of %s deferred: socket not ready", type(message).__name__)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except (BlockingIOError, OSError):
            pass

    def _post(self, item: tuple) -> None:
        with self._inbox_lock:
            self._inbox.append(item)
        self._wake()

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        while not self._stopping.is_set():
            self._turn(pool, None)

    def _turn(self, pool: Optional[ThreadPoolExecutor], until: Optional[float]) -> None:
        """One pass: wait for the socket, a finished job, the next heartbeat or ``until``;
        handle what came."""
        assert self._socket is not None
        now = time.monotonic()
        wake_at = min(self._next_beat, self._next_deadline(now))
        if until is not None:
            wake_at = min(wake_at, until)
        timeout_ms = max(0, int((wake_at - now) * 1000))
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        ready = dict(poller.poll(timeout_ms))
        if self._wake_r in ready:
            try:
                while os.read(self._wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
        self._handle_inbox()
        if self._socket in ready:
            while True:
                try:
                    raw = self._socket.recv(zmq.DONTWAIT)
                except zmq.Again:
                    break
                self._last_heard = time.monotonic()
                self._receive(raw, pool)
        now = time.monotonic()
        self._check_deadlines(now)
        if now >= self._next_beat:
            self._next_beat = now + self._heartbeat_s
            if now - self._last_heard > 3 * self._heartbeat_s:
                self._next_server(
                    f"no answer from the server for {now - self._last_heard:.1f} s"
                )
            else:
                self._heartbeat()
                self._resend(now)

    def _next_deadline(self, now: float) -> float:
        deadlines = [ex.deadline for ex in self._running.values() if ex.deadline]
        return min(deadlines, default=now + 3600)

    def _check_deadlines(self, now: float) -> None:
        for key, ex in list(self._running.items()):
            if ex.deadline is not None and now >= ex.deadline and not ex.job.cancelled:
                # The thread cannot be killed: it is told to stop, and its late result is
                # ignored; the timeout is reported now as a failed attempt.
                ex.job._cancelled.set()
                ex.lost = True
                timeout_ms = ex.job.order.timeout_ms
                self._finish(
                    key,
                    Failed(
                        job_id=key[0],
                        lease=key[1],
                        action=FailAction.RETRY,
                        error=ErrorInfo(
                            kind="timeout", message=f"job ran past its timeout of {timeout_ms} ms"
                        ),
                        duration_us=int((now - ex.started) * 1e6),
                    ),
                )

    def _heartbeat(self) -> None:
        capacity = None
        if self._quiet or self._stopping.is_set():
            capacity = 0
        held = [Held(job_id=j, lease=l) for (j, l), ex in self._running.items() if not ex.lost]
        self._send(Heartbeat(held=held, capacity=capacity))

    def _resend(self, now: float) -> None:
        for pending in self._pending.values():
            if now - pending.sent_at >= self._heartbeat_s:
                pending.sent_at = now
                self.stats.resent += 1
                self._send(pending.message)

    def _receive(self, raw: bytes, pool: Optional[ThreadPoolExecutor]) -> None:
        try:
            message = decode(raw, self._limits)
        except DecodeError as err:
            log.warning("undecodable message from the server: %s", err)
            return
        if isinstance(message, Welcome):
            self._welcome(message)
        elif isinstance(message, Order):
            self._order(message, pool)
        elif isinstance(message, HeartbeatAck):
            self._heartbeat_ack(message)
        elif isinstance(message, Recorded):
            self._recorded(message)
        elif isinstance(message, Cancel):
            for held in message.jobs:
                self._cancel(held.job_id, held.lease)
        elif isinstance(message, ErrorReply):
            if message.code == ErrorCode.NO_SESSION:
                self._send_hello()
            else:
                log.warning("server error %s: %s", message.code.value, message.message)
        elif isinstance(message, Goodbye):
            delay = (message.reconnect_ms or 0) / 1000
            self._stopping.wait(min(delay, self._heartbeat_s))
            self._next_server(f"the server said goodbye ({message.reason or 'no reason'})")
        else:
            log.warning("unexpected %s from the server", type(message).__name__)

    def _welcome(self, welcome: Welcome) -> None:
        self._welcomed = True
        self._heartbeat_s = max(0.01, welcome.heartbeat_ms / 1000)
        self._next_beat = time.monotonic() + self._heartbeat_s
        self._limits = Limits(max_message_bytes=welcome.max_message_bytes)
        for held in welcome.lost:
            self._lose(held.job_id, held.lease)
        # What is left in `_pending` is still ours to report: send it now.
        now = time.monotonic()
        for pending in self._pending.values():
            pending.sent_at = now
            self._send(pending.message)

    def _order(self, order: Order, pool: Optional[ThreadPoolExecutor]) -> None:
        key = (order.job_id, order.lease)
        if key in self._running or key in self._pending:
            self.stats.ignored_orders += 1
            return
        handler = self._handlers.get(order.kind)
        if pool is None or handler is None or self._stopping.is_set():
            # Not ours to run (or stopping): hand it straight back.
            self._pending[key] = _Pending(
                Release(
                    job_id=order.job_id,
                    lease=order.lease,
                    reason="worker stopping" if handler else f"no handler for kind {order.kind}",
                ),
                time.monotonic(),
            )
            self._send(self._pending[key].message)
            return
        self.stats.orders += 1
        now = time.monotonic()
        deadline = now + order.timeout_ms / 1000 if order.timeout_ms else None
        job = Job(order, self)
        self._running[key] = _Execution(job=job, started=now, deadline=deadline)
        pool.submit(self._execute, handler, job)

    def _execute(self, handler: Handler, job: Job) -> None:
        """Runs on a pool thread: calls the handler and posts the outcome."""
        started = time.monotonic()
        try:
            result = handler(job)
        except BaseException as err:  # noqa: BLE001 - every failure becomes an outcome
            outcome: Union[Completed, Failed] = _failure(job, err, started)
        else:
            outcome = Completed(
                job_id=job.id,
                lease=job.order.lease,
                duration_us=int((time.monotonic() - started) * 1e6),
                result=result,
            )
            try:
                encode(outcome)
            except EncodeError as err:
                outcome = Failed(
                    job_id=job.id,
                    lease=job.order.lease,
                    action=FailAction.DISCARD,
                    error=ErrorInfo(
                        kind="result_not_encodable",
                        message=f"the job's return value cannot be sent as JSON: {err}",
                    ).truncated(),
                    duration_us=outcome.duration_us,
                )
        self._post(("done", (job.id, job.order.lease), outcome))

    def _handle_inbox(self) -> None:
        with self._inbox_lock:
            items, self._inbox = self._inbox, []
        for item in items:
            if item[0] == "done":
                _, key, outcome = item
                ex = self._running.get(key)
                if ex is None or ex.lost:
                    self._running.pop(key, None)
                    continue
                self._finish(key, outcome)
            elif item[0] == "progress":
                _, job_id, lease, value = item
                if (job_id, lease) in self._running:
                    self._send(Progress(job_id=job_id, lease=lease, progress=value))

    def _finish(self, key: Tuple[int, bytes], outcome: Union[Completed, Failed, Release]) -> None:
        ex = self._running.get(key)
        if ex is not None and not ex.lost:
            self._running.pop(key, None)
        elif ex is not None:
            # A timed-out execution: keep it out of heartbeats until its thread returns.
            pass
        kind = ex.job.kind if ex else "?"
        self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
        if isinstance(outcome, Completed):
            self.stats.completed += 1
        elif isinstance(outcome, Failed):
            self.stats.failed += 1
        else:
            self.stats.released += 1
        self._pending[key] = _Pending(outcome, time.monotonic())
        self._send(outcome)

    def _heartbeat_ack(self, ack: HeartbeatAck) -> None:
        for held in ack.lost:
            self._lose(held.job_id, held.lease)
        for job_id in ack.cancel:
            for (j, lease) in list(self._running):
                if j == job_id:
                    self._cancel(j, lease)
        if ack.command == Command.QUIET and not self._quiet:
            log.info("the server asked this worker to go quiet")
            self._quiet = True
        elif ack.command == Command.TERMINATE:
            log.info("the server asked this worker to terminate")
            self.stop()

    def _recorded(self, recorded: Recorded) -> None:
        key = (recorded.job_id, recorded.lease)
        pending = self._pending.get(key)
        if pending is not None and type(pending.message).__name__ == recorded.of.value:
            del self._pending[key]
        if recorded.status == RecordStatus.STALE:
            self.stats.stale += 1
            self._lose(*key)

    def _lose(self, job_id: int, lease: bytes) -> None:
        """The server says this execution is no longer ours: stop it, forget its outcome."""
        key = (job_id, lease)
        self._pending.pop(key, None)
        ex = self._running.get(key)
        if ex is not None and not ex.lost:
            self.stats.lost += 1
            ex.lost = True
            ex.job._cancelled.set()

    def _cancel(self, job_id: int, lease: bytes) -> None:
        ex = self._running.get((job_id, lease))
        if ex is not None:
            ex.job._cancelled.set()

    # -- stopping ------------------------------------------------------------------------------

    def _drain(self, pool: ThreadPoolExecutor) -> None:
        """Graceful stop: no new work, running jobs get ``grace`` seconds, the rest is released;
        then wait (bounded) for every outcome's ``Recorded`` and say ``Goodbye``."""
        self._heartbeat()  # capacity 0: no more orders
        deadline = time.monotonic() + self.grace
        while self._live() and time.monotonic() < deadline:
            self._turn(None, deadline)
        for key, ex in list(self._running.items()):
            if ex.lost:
                continue
            ex.job._cancelled.set()
            ex.lost = True
            self._finish(
                key, Release(job_id=key[0], lease=key[1], reason="worker shutting down")
            )
        answer_by = time.monotonic() + max(3 * self._heartbeat_s, 1.0)
        while self._pending and time.monotonic() < answer_by:
            self._turn(None, answer_by)
        if self._pending:
            log.warning(
                "stopping with %d outcome(s) unacknowledged; their leases expire and the "
                "jobs are rescued",
                len(self._pending),
            )
        self._send(Goodbye(reason="worker stopped"))

    def _live(self) -> bool:
        """Some job still runs (not counting ones already reported or given up)."""
        return any(not ex.lost for ex in self._running.values())


def _failure(job: Job, err: BaseException, started: float) -> Failed:
    duration_us = int((time.monotonic() - started) * 1e6)
    delay_ms: Optional[int] = None
    if isinstance(err, Discard):
        action = FailAction.DISCARD
    elif isinstance(err, Snooze):
        action, delay_ms = FailAction.SNOOZE, int(err.delay * 1000)
    elif isinstance(err, CancelJob):
        action = FailAction.CANCEL
    elif isinstance(err, Retry):
        action = FailAction.RETRY
        delay_ms = None if err.delay is None else int(err.delay * 1000)
    elif job.cancelled:
        action = FailAction.CANCEL
    else:
        action = FailAction.RETRY
    panicked = not isinstance(err, (JobOutcome, Exception))
    error = ErrorInfo(
        kind=type(err).__name__,
        message=str(err) or type(err).__name__,
        backtrace=None if isinstance(err, JobOutcome) else "".join(
            traceback.format_exception(type(err), err, err.__traceback__)
        ),
        panicked=panicked,
    ).truncated()
    return Failed(
        job_id=job.id,
        lease=job.order.lease,
        action=action,
        delay_ms=delay_ms,
        error=error,
        duration_us=duration_us,
    )


__all__ = [
    "CancelJob",
    "Discard",
    "Handler",
    "Job",
    "JobOutcome",
    "Retry",
    "Snooze",
    "Worker",
    "WorkerStats",
]
