"""The protocol's messages as dataclasses, one per message type, with the fields in the order
the Rust crate writes them. See ``docs/protocol.md`` for what each field means."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Dict, List, Optional, Union

from ._fields import (
    I16,
    I32,
    I64,
    JSON,
    PRIORITY,
    TEXT,
    TOKEN,
    U16,
    U32,
    U64,
    UUID,
    BOOL,
    Either,
    EnumKind,
    ListOf,
    Struct,
    Tagged,
    flag,
    many,
    opt,
    req,
)

#: Priorities by jobq's names (any 16-bit integer is allowed; higher runs first).
HIGH, NORMAL, LOW = 10, 0, -10


class Role(str, Enum):
    """What a session does."""

    PRODUCER = "producer"
    WORKER = "worker"


class Command(str, Enum):
    """What the server asks of a whole worker."""

    QUIET = "quiet"
    TERMINATE = "terminate"


class FailAction(str, Enum):
    """What a failed execution asks for."""

    RETRY = "retry"
    DISCARD = "discard"
    SNOOZE = "snooze"
    CANCEL = "cancel"


class Recordable(str, Enum):
    """The messages ``Recorded`` answers."""

    COMPLETED = "Completed"
    FAILED = "Failed"
    RELEASE = "Release"
    PROGRESS = "Progress"
    EXTEND = "Extend"


class RecordStatus(str, Enum):
    """What a fenced write did."""

    APPLIED = "applied"
    ALREADY_RECORDED = "already_recorded"
    STALE = "stale"


class RejectCode(str, Enum):
    """Why a ``Request`` was refused."""

    INVALID = "invalid"
    TOO_LARGE = "too_large"
    UNAUTHORIZED = "unauthorized"
    OVERLOADED = "overloaded"
    UNAVAILABLE = "unavailable"
    OUTCOME_UNKNOWN = "outcome_unknown"

    @property
    def is_retryable(self) -> bool:
        """Whether resending the same request (same ``request_id``) can succeed."""
        return self in (RejectCode.OVERLOADED, RejectCode.UNAVAILABLE, RejectCode.OUTCOME_UNKNOWN)


class ErrorCode(str, Enum):
    """Why a message could not be used."""

    MALFORMED = "malformed"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED_VERSION = "unsupported_version"
    TOO_LARGE = "too_large"
    TOO_DEEP = "too_deep"
    INVALID = "invalid"
    NO_SESSION = "no_session"
    UNEXPECTED = "unexpected"
    UNAUTHORIZED = "unauthorized"
    OVERLOADED = "overloaded"
    SHUTTING_DOWN = "shutting_down"
    INTERNAL = "internal"


class UniqueArgsName(str, Enum):
    """The named choices of ``Unique.by_args`` (the other is a list of field names)."""

    ALL = "all"
    IGNORE = "ignore"


class JobState(str, Enum):
    """A job's state (used by ``Unique.states``)."""

    AVAILABLE = "available"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    RETRYABLE = "retryable"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    DISCARDED = "discarded"


class OnConflict(str, Enum):
    """What an insert does when a live job holds its unique key."""

    SKIP = "skip"
    REPLACE = "replace"


class OnDependencyFailure(str, Enum):
    """What happens to a workflow job when a job it waits for fails for good or is
    cancelled."""

    CANCEL = "cancel"
    RUN = "run"


class CallbackOn(str, Enum):
    """When a batch's callback job is enqueued."""

    SUCCESS = "success"
    COMPLETE = "complete"


# -- parts ---------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Held:
    """One execution a worker holds."""

    job_id: int = req(I64)
    lease: bytes = req(TOKEN)


@dataclass(kw_only=True)
class ExponentialBackoff:
    base_ms: int = req(U64)
    max_ms: int = req(U64)
    jitter_permille: int = req(U16)


@dataclass(kw_only=True)
class LinearBackoff:
    step_ms: int = req(U64)
    max_ms: int = req(U64)


@dataclass(kw_only=True)
class FixedBackoff:
    delay_ms: int = req(U64)


Backoff = Union[ExponentialBackoff, LinearBackoff, FixedBackoff]
_BACKOFF = Tagged(
    {"exponential": ExponentialBackoff, "linear": LinearBackoff, "fixed": FixedBackoff}
)


@dataclass(kw_only=True)
class Unique:
    """Uniqueness among live jobs; absent fields take the library's defaults."""

    by_args: Optional[Union[UniqueArgsName, List[str]]] = opt(
        Either(EnumKind(UniqueArgsName), ListOf(TEXT))
    )
    by_queue: Optional[bool] = opt(BOOL)
    period_ms: Optional[int] = opt(U64)
    states: Optional[List[JobState]] = opt(ListOf(EnumKind(JobState)))
    on_conflict: Optional[OnConflict] = opt(EnumKind(OnConflict))


@dataclass(kw_only=True)
class After:
    """A dependency with a failure policy: wait for job ``job`` (its index in the request)."""

    job: int = req(U32)
    on_failure: Optional[OnDependencyFailure] = opt(EnumKind(OnDependencyFailure))


@dataclass(kw_only=True)
class JobSpec:
    """One job to enqueue, with every option of the library."""

    kind: str = req(TEXT)
    args: Any = req(JSON)
    queue: Optional[str] = opt(TEXT)
    priority: Optional[int] = opt(PRIORITY)
    run_at_ms: Optional[int] = opt(I64)
    run_after_ms: Optional[int] = opt(U64)
    max_attempts: Optional[int] = opt(I32)
    timeout_ms: Optional[int] = opt(U64)
    backoff: Optional[Backoff] = opt(_BACKOFF)
    expires_at_ms: Optional[int] = opt(I64)
    partition_key: Optional[str] = opt(TEXT)
    unique: Optional[Unique] = opt(Struct(Unique))
    tags: List[str] = many(TEXT)
    metadata: Any = opt(JSON)
    fingerprint: Optional[str] = opt(TEXT)
    username: Optional[str] = opt(TEXT)
    uuid: Optional[uuid.UUID] = opt(UUID)
    #: Workflow requests only: the indexes of the request's jobs this one waits for (an
    #: ``int``, or ``After`` for a failure policy).
    after: List[Union[int, After]] = many(Either(U32, Struct(After)))


@dataclass(kw_only=True)
class WorkflowSpec:
    """The workflow a request's jobs form."""

    name: str = req(TEXT)


@dataclass(kw_only=True)
class CallbackSpec:
    """A batch's callback job; its args (a dict) get the batch's counts under ``"batch"``."""

    kind: str = req(TEXT)
    args: Any = req(JSON)
    queue: Optional[str] = opt(TEXT)
    priority: Optional[int] = opt(PRIORITY)
    max_attempts: Optional[int] = opt(I32)
    on: Optional[CallbackOn] = opt(EnumKind(CallbackOn))


@dataclass(kw_only=True)
class BatchOpen:
    """A batch to create (once per request id)."""

    description: Optional[str] = opt(TEXT)
    parent: Optional[int] = opt(I64)
    callback: Optional[CallbackSpec] = opt(Struct(CallbackSpec))


@dataclass(kw_only=True)
class BatchSpec:
    """The batch a request's jobs join: exactly one of ``id`` and ``open``."""

    id: Optional[int] = opt(I64)
    open: Optional[BatchOpen] = opt(Struct(BatchOpen))
    seal: bool = flag()


@dataclass(kw_only=True)
class Enqueued:
    """What became of one job of a ``Request``."""

    id: int = req(I64)
    duplicate: bool = req(BOOL)
    unique_conflict: bool = req(BOOL)


#: Limits of ``ErrorInfo`` (bytes, lines), as in the Rust crate.
MAX_ERROR_KIND_BYTES = 128
MAX_ERROR_MESSAGE_BYTES = 4096
MAX_BACKTRACE_LINES = 64
MAX_BACKTRACE_BYTES = 16384


def _cut(text: str, limit: int) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", errors="ignore")


@dataclass(kw_only=True)
class ErrorInfo:
    """An error as recorded in the job's error list."""

    kind: Optional[str] = opt(TEXT)
    message: str = req(TEXT)
    backtrace: Optional[str] = opt(TEXT)
    panicked: bool = flag()

    def truncated(self) -> "ErrorInfo":
        """This error within the protocol's limits, cut exactly as the Rust side cuts it."""
        backtrace = self.backtrace
        if backtrace is not None:
            lines = backtrace.split("\n")
            if len(lines) > MAX_BACKTRACE_LINES:
                head = MAX_BACKTRACE_LINES // 2
                tail = MAX_BACKTRACE_LINES - head - 1
                omitted = len(lines) - head - tail
                lines = lines[:head] + [f"... {omitted} lines omitted ..."] + lines[-tail:]
                backtrace = "\n".join(lines)
            backtrace = _cut(backtrace, MAX_BACKTRACE_BYTES)
        return ErrorInfo(
            kind=None if self.kind is None else _cut(self.kind, MAX_ERROR_KIND_BYTES),
            message=_cut(self.message, MAX_ERROR_MESSAGE_BYTES),
            backtrace=backtrace,
            panicked=self.panicked,
        )


# -- messages ------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Hello:
    TYPE: ClassVar[str] = "Hello"
    role: Role = req(EnumKind(Role))
    worker_id: Optional[str] = opt(TEXT)
    kinds: List[str] = many(TEXT)
    queues: List[str] = many(TEXT)
    capacity: Optional[int] = opt(U32)
    holding: List[Held] = many(Struct(Held))
    token: Optional[str] = opt(TEXT)
    library: Optional[str] = opt(TEXT)


@dataclass(kw_only=True)
class Welcome:
    TYPE: ClassVar[str] = "Welcome"
    session: str = req(TEXT)
    server_id: str = req(TEXT)
    heartbeat_ms: int = req(U64)
    lease_ms: int = req(U64)
    max_message_bytes: int = req(U64)
    max_batch: int = req(U32)
    capacity: Optional[int] = opt(U32)
    lost: List[Held] = many(Struct(Held))


@dataclass(kw_only=True)
class Request:
    TYPE: ClassVar[str] = "Request"
    request_id: str = req(TEXT)
    jobs: List[JobSpec] = req(ListOf(Struct(JobSpec)))
    workflow: Optional[WorkflowSpec] = opt(Struct(WorkflowSpec))
    batch: Optional[BatchSpec] = opt(Struct(BatchSpec))


@dataclass(kw_only=True)
class Acknowledged:
    TYPE: ClassVar[str] = "Acknowledged"
    request_id: str = req(TEXT)
    jobs: List[Enqueued] = req(ListOf(Struct(Enqueued)))
    workflow_id: Optional[int] = opt(I64)
    batch_id: Optional[int] = opt(I64)


@dataclass(kw_only=True)
class Rejected:
    TYPE: ClassVar[str] = "Rejected"
    request_id: str = req(TEXT)
    code: RejectCode = req(EnumKind(RejectCode))
    message: str = req(TEXT)
    index: Optional[int] = opt(U32)
    retry_after_ms: Optional[int] = opt(U64)


@dataclass(kw_only=True)
class Order:
    TYPE: ClassVar[str] = "Order"
    job_id: int = req(I64)
    lease: bytes = req(TOKEN)
    kind: str = req(TEXT)
    queue: str = req(TEXT)
    args: Any = req(JSON)
    attempt: int = req(I32)
    max_attempts: int = req(I32)
    priority: int = req(I16)
    lease_ms: int = req(U64)
    timeout_ms: Optional[int] = opt(U64)
    created_at_ms: int = req(I64)
    tags: List[str] = many(TEXT)
    metadata: Any = opt(JSON)
    username: Optional[str] = opt(TEXT)
    uuid: Optional[uuid.UUID] = opt(UUID)


@dataclass(kw_only=True)
class Heartbeat:
    TYPE: ClassVar[str] = "Heartbeat"
    held: List[Held] = many(Struct(Held))
    capacity: Optional[int] = opt(U32)


@dataclass(kw_only=True)
class HeartbeatAck:
    TYPE: ClassVar[str] = "HeartbeatAck"
    lost: List[Held] = many(Struct(Held))
    cancel: List[int] = many(I64)
    command: Optional[Command] = opt(EnumKind(Command))
    lease_ms: int = req(U64)


@dataclass(kw_only=True)
class Extend:
    TYPE: ClassVar[str] = "Extend"
    job_id: int = req(I64)
    lease: bytes = req(TOKEN)
    lease_ms: int = req(U64)


@dataclass(kw_only=True)
class Progress:
    TYPE: ClassVar[str] = "Progress"
    job_id: int = req(I64)
    lease: bytes = req(TOKEN)
    progress: Any = req(JSON)


@dataclass(kw_only=True)
class Release:
    TYPE: ClassVar[str] = "Release"
    job_id: int = req(I64)
    lease: bytes = req(TOKEN)
    reason: Optional[str] = opt(TEXT)


@dataclass(kw_only=True)
class Completed:
    TYPE: ClassVar[str] = "Completed"
    job_id: int = req(I64)
    lease: bytes = req(TOKEN)
    duration_us: int = req(U64)
    result: Any = opt(JSON)


@dataclass(kw_only=True)
class Failed:
    TYPE: ClassVar[str] = "Failed"
    job_id: int = req(I64)
    lease: bytes = req(TOKEN)
    action: FailAction = req(EnumKind(FailAction))
    delay_ms: Optional[int] = opt(U64)
    error: Optional[ErrorInfo] = opt(Struct(ErrorInfo))
    duration_us: int = req(U64)


@dataclass(kw_only=True)
class Recorded:
    TYPE: ClassVar[str] = "Recorded"
    job_id: int = req(I64)
    lease: bytes = req(TOKEN)
    of: Recordable = req(EnumKind(Recordable))
    status: RecordStatus = req(EnumKind(RecordStatus))
    lease_ms: Optional[int] = opt(U64)


@dataclass(kw_only=True)
class Cancel:
    TYPE: ClassVar[str] = "Cancel"
    jobs: List[Held] = req(ListOf(Struct(Held)))


@dataclass(kw_only=True)
class ErrorReply:
    """The ``Error`` message."""

    TYPE: ClassVar[str] = "Error"
    code: ErrorCode = req(EnumKind(ErrorCode))
    message: str = req(TEXT)
    re: Optional[str] = opt(TEXT)
    supported_versions: List[int] = many(U32)


@dataclass(kw_only=True)
class Goodbye:
    TYPE: ClassVar[str] = "Goodbye"
    reason: Optional[str] = opt(TEXT)
    reconnect_ms: Optional[int] = opt(U64)


Message = Union[
    Hello,
    Welcome,
    Request,
    Acknowledged,
    Rejected,
    Order,
    Heartbeat,
    HeartbeatAck,
    Extend,
    Progress,
    Release,
    Completed,
    Failed,
    Recorded,
    Cancel,
    ErrorReply,
    Goodbye,
]

#: Every message class by its ``type`` name, in the spec's order.
MESSAGE_TYPES: Dict[str, type] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        Welcome,
        Request,
        Acknowledged,
        Rejected,
        Order,
        Heartbeat,
        HeartbeatAck,
        Extend,
        Progress,
        Release,
        Completed,
        Failed,
        Recorded,
        Cancel,
        ErrorReply,
        Goodbye,
    )
}
