"""A producer: enqueues jobs on a ``backlog serve --zmq`` server over ZeroMQ.

One DEALER socket, one request at a time. Every request carries a ``request_id`` (a fresh UUID
unless given); when no answer comes within ``timeout`` the same request, with the same id, is
sent again up to ``retries`` times, so the server can recognise repeats once it deduplicates
them by id.
"""

from __future__ import annotations

import time
import uuid
from typing import List, Optional, Sequence, Tuple

import zmq

from .codec import Limits, decode, encode
from .errors import BacklogError
from .messages import (
    Acknowledged,
    BatchOpen,
    BatchSpec,
    CallbackSpec,
    ErrorReply,
    Goodbye,
    Hello,
    JobSpec,
    RejectCode,
    Rejected,
    Request,
    Role,
    Welcome,
    WorkflowSpec,
)

LIBRARY = "backlog-python/0.1.0"


class ServerError(BacklogError):
    """The server answered ``Error``: the message was not used. ``code`` is the error code."""

    def __init__(self, reply: ErrorReply) -> None:
        super().__init__(f"server error {reply.code.value}: {reply.message}")
        self.code = reply.code
        self.reply = reply


class RejectedError(BacklogError):
    """The server refused a request (nothing was stored, unless ``code`` is
    ``outcome_unknown``). ``retryable`` says whether resending the same request can help."""

    def __init__(self, rejected: Rejected) -> None:
        where = f" (job {rejected.index})" if rejected.index is not None else ""
        super().__init__(f"request rejected, {rejected.code.value}{where}: {rejected.message}")
        self.code = rejected.code
        self.index = rejected.index
        self.retryable = rejected.code.is_retryable
        self.rejected = rejected


class TimeoutError(BacklogError):  # noqa: A001 - the package's own, distinct from the builtin
    """No answer from the server after every retry."""


class Producer:
    """Connects to ``endpoint`` (e.g. ``tcp://127.0.0.1:7400``) and opens a producer session.

    With CURVE, pass the server's public key and this client's key pair (Z85 text, as
    ``backlog keygen`` prints them).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        server_public_key: Optional[str] = None,
        public_key: Optional[str] = None,
        secret_key: Optional[str] = None,
        context: Optional[zmq.Context] = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}")
        curve = (server_public_key, public_key, secret_key)
        if any(curve) and not all(curve):
            raise ValueError(
                "CURVE needs server_public_key, public_key and secret_key together"
            )
        self._timeout_ms = int(timeout * 1000)
        self._retries = retries
        self._context = context or zmq.Context.instance()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        if all(curve):
            self._socket.curve_serverkey = server_public_key.encode()  # type: ignore[union-attr]
            self._socket.curve_publickey = public_key.encode()  # type: ignore[union-attr]
            self._socket.curve_secretkey = secret_key.encode()  # type: ignore[union-attr]
        self._socket.connect(endpoint)
        self._limits = Limits()
        reply = self._exchange(Hello(role=Role.PRODUCER, library=LIBRARY), lambda m: True)
        if not isinstance(reply, Welcome):
            self.close()
            raise BacklogError(f"expected Welcome, got {type(reply).__name__}")
        self.welcome: Welcome = reply

    def enqueue(self, job: JobSpec, *, request_id: Optional[str] = None) -> int:
        """Enqueues one job; returns its id once the server has committed it."""
        return self.enqueue_many([job], request_id=request_id)[0]

    def enqueue_many(
        self, jobs: Sequence[JobSpec], *, request_id: Optional[str] = None
    ) -> List[int]:
        """Enqueues jobs in one transaction (all or none); returns their ids in order."""
        if not jobs:
            raise ValueError("enqueue_many needs at least one job")
        if len(jobs) > self.welcome.max_batch:
            raise ValueError(
                f"at most {self.welcome.max_batch} jobs per request (the server's max_batch), "
                f"got {len(jobs)}; split them"
            )
        ack = self._request(Request(request_id=request_id or str(uuid.uuid4()), jobs=list(jobs)))
        return [job.id for job in ack.jobs]

    def enqueue_workflow(
        self, name: str, jobs: Sequence[JobSpec], *, request_id: Optional[str] = None
    ) -> Tuple[int, List[int]]:
        """Enqueues jobs as one workflow, in one transaction: a job with ``after`` (indexes
        of other jobs of this call, or ``After`` with a failure policy) runs once they
        completed. Returns the workflow's id and the jobs' ids in order. Resending with the
        same ``request_id`` stores nothing new and returns the same ids."""
        self._check_size(jobs, allow_empty=False)
        ack = self._request(
            Request(
                request_id=request_id or str(uuid.uuid4()),
                jobs=list(jobs),
                workflow=WorkflowSpec(name=name),
            )
        )
        assert ack.workflow_id is not None
        return ack.workflow_id, [job.id for job in ack.jobs]

    def open_batch(
        self,
        jobs: Sequence[JobSpec] = (),
        *,
        description: Optional[str] = None,
        parent: Optional[int] = None,
        callback: Optional[CallbackSpec] = None,
        seal: bool = False,
        request_id: Optional[str] = None,
    ) -> Tuple[int, List[int]]:
        """Creates a batch (inside the open batch ``parent``, if given) with ``jobs`` as its
        first members, and seals it if ``seal``; ``callback`` is enqueued once every member
        finished. Returns the batch's id and the jobs' ids. Safe to resend with the same
        ``request_id``: the batch is created and each job added once."""
        self._check_size(jobs, allow_empty=True)
        ack = self._request(
            Request(
                request_id=request_id or str(uuid.uuid4()),
                jobs=list(jobs),
                batch=BatchSpec(
                    open=BatchOpen(description=description, parent=parent, callback=callback),
                    seal=seal,
                ),
            )
        )
        assert ack.batch_id is not None
        return ack.batch_id, [job.id for job in ack.jobs]

    def add_to_batch(
        self,
        batch_id: int,
        jobs: Sequence[JobSpec],
        *,
        seal: bool = False,
        request_id: Optional[str] = None,
    ) -> List[int]:
        """Adds jobs to an open batch (and seals it if ``seal``); returns their ids."""
        self._check_size(jobs, allow_empty=True)
        ack = self._request(
            Request(
                request_id=request_id or str(uuid.uuid4()),
                jobs=list(jobs),
                batch=BatchSpec(id=batch_id, seal=seal),
            )
        )
        return [job.id for job in ack.jobs]

    def seal_batch(self, batch_id: int, *, request_id: Optional[str] = None) -> None:
        """Seals a batch: no more members; its callback fires once every member finished."""
        self.add_to_batch(batch_id, [], seal=True, request_id=request_id)

    def _check_size(self, jobs: Sequence[JobSpec], *, allow_empty: bool) -> None:
        if not jobs and not allow_empty:
            raise ValueError("a request needs at least one job")
        if len(jobs) > self.welcome.max_batch:
            raise ValueError(
                f"at most {self.welcome.max_batch} jobs per request (the server's max_batch), "
                f"got {len(jobs)}; split them"
            )

    def _request(self, request: Request) -> Acknowledged:
        request_id = request.request_id
        reply = self._exchange(
            request,
            lambda m: isinstance(m, (Acknowledged, Rejected)) and m.request_id == request_id,
        )
        if isinstance(reply, Rejected):
            raise RejectedError(reply)
        assert isinstance(reply, Acknowledged)
        return reply

    def close(self) -> None:
        """Says ``Goodbye`` and closes the socket."""
        if self._socket.closed:
            return
        try:
            self._socket.send(encode(Goodbye(reason="producer closed")), zmq.DONTWAIT)
        except zmq.ZMQError:
            pass
        self._socket.close(linger=0)

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _exchange(self, message: object, matches) -> object:
        """Sends ``message`` and waits for a reply ``matches`` accepts (or ``Error``),
        resending on timeout."""
        payload = encode(message)  # type: ignore[arg-type]
        for _ in range(self._retries + 1):
            self._socket.send(payload)
            deadline = time.monotonic() + self._timeout_ms / 1000
            while True:
                left = int((deadline - time.monotonic()) * 1000)
                if left <= 0 or not self._socket.poll(left, zmq.POLLIN):
                    break
                reply = decode(self._socket.recv(), self._limits)
                if isinstance(reply, ErrorReply):
                    raise ServerError(reply)
                if matches(reply):
                    return reply
                # A late answer to an earlier request: skip it.
        raise TimeoutError(
            f"no answer from the server after {self._retries + 1} tries of "
            f"{self._timeout_ms} ms; is `backlog serve --zmq` running and reachable "
            "(and, with CURVE, is this client's key allowed)?"
        )


__all__ = ["Producer", "RejectedError", "ServerError", "TimeoutError", "RejectCode"]
