"""The same sample messages as crates/backlog-protocol/tests/samples/mod.rs, built by hand:
each must decode from, and encode to, the golden vector of the same name."""

import uuid

from backlog_client import (
    HIGH,
    LOW,
    Acknowledged,
    After,
    BatchOpen,
    BatchSpec,
    CallbackOn,
    CallbackSpec,
    OnDependencyFailure,
    WorkflowSpec,
    Cancel,
    Command,
    Completed,
    Enqueued,
    ErrorCode,
    ErrorInfo,
    ErrorReply,
    ExponentialBackoff,
    Extend,
    Failed,
    FailAction,
    FixedBackoff,
    Goodbye,
    Heartbeat,
    HeartbeatAck,
    Held,
    Hello,
    JobSpec,
    JobState,
    LinearBackoff,
    OnConflict,
    Order,
    Progress,
    Recordable,
    Recorded,
    RecordStatus,
    RejectCode,
    Rejected,
    Release,
    Request,
    Role,
    Unique,
    UniqueArgsName,
    Welcome,
)


def token(seed: int) -> bytes:
    return bytes((seed + i * 16) % 256 for i in range(16))


UUID = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")


def held(job_id: int, seed: int) -> Held:
    return Held(job_id=job_id, lease=token(seed))


SAMPLES = {
    "hello_worker": Hello(
        role=Role.WORKER,
        worker_id="host-1:4242:7f3a",
        kinds=["thumbnail", "face_detect"],
        queues=["default", "media"],
        capacity=8,
        holding=[held(41, 1), held(42, 2)],
        token="s3cret",
        library="backlog-python/0.1.0",
    ),
    "hello_producer": Hello(role=Role.PRODUCER),
    "welcome": Welcome(
        session="s-9c1e",
        server_id="backlog-serve@host-0",
        heartbeat_ms=5_000,
        lease_ms=30_000,
        max_message_bytes=4_194_304,
        max_batch=1_000,
        capacity=8,
        lost=[held(42, 2)],
    ),
    "request_one": Request(
        request_id="0b6f1f7e-7d3c-4a6e-9d4e-3f2a1b0c9d8e",
        jobs=[
            JobSpec(
                kind="thumbnail",
                args={
                    "asset": 7,
                    "sizes": [64, 256, 1024],
                    "quality": 0.5,
                    "gamma": 2.2,
                    "offset": -3,
                    "label": "Grüße ✓",
                    "crop": {"x": 0, "y": 1.25, "keep": True},
                },
                queue="media",
                priority=HIGH,
                run_after_ms=1_500,
                max_attempts=5,
                timeout_ms=60_000,
                backoff=ExponentialBackoff(base_ms=1_000, max_ms=3_600_000, jitter_permille=100),
                unique=Unique(
                    by_args=["asset"],
                    by_queue=True,
                    period_ms=3_600_000,
                    states=[JobState.AVAILABLE, JobState.RUNNING],
                    on_conflict=OnConflict.REPLACE,
                ),
                tags=["jobq", "demo"],
                metadata={"source": "upload", "retry_of": None},
                fingerprint="asset-6ba7b810",
                username="test_client",
                uuid=UUID,
            )
        ],
    ),
    "request_batch": Request(
        request_id="batch-0001",
        jobs=[
            JobSpec(
                kind="test",
                args=None,
                priority=LOW,
                run_at_ms=1_796_000_000_000,
                backoff=FixedBackoff(delay_ms=250),
                unique=Unique(by_args=UniqueArgsName.IGNORE),
            ),
            JobSpec(
                kind="test",
                args=[],
                priority=-32768,
                backoff=LinearBackoff(step_ms=500, max_ms=10_000),
            ),
        ],
    ),
    "request_workflow": Request(
        request_id="flow-0001",
        jobs=[
            JobSpec(kind="extract", args={"day": 1}),
            JobSpec(kind="load", args={}, after=[0]),
            JobSpec(
                kind="report",
                args={},
                after=[1, After(job=0, on_failure=OnDependencyFailure.RUN)],
            ),
        ],
        workflow=WorkflowSpec(name="nightly import"),
    ),
    "request_batch_open": Request(
        request_id="import-0001",
        jobs=[JobSpec(kind="row", args={"n": 1})],
        batch=BatchSpec(
            open=BatchOpen(
                description="csv import",
                parent=41,
                callback=CallbackSpec(
                    kind="import_done",
                    args={"file": "a.csv"},
                    queue="reports",
                    priority=HIGH,
                    max_attempts=3,
                    on=CallbackOn.SUCCESS,
                ),
            ),
            seal=True,
        ),
    ),
    "request_batch_add": Request(
        request_id="import-0002",
        jobs=[],
        batch=BatchSpec(id=42, seal=True),
    ),
    "acknowledged_group": Acknowledged(
        request_id="flow-0001",
        jobs=[Enqueued(id=77, duplicate=True, unique_conflict=False)],
        workflow_id=9,
        batch_id=10,
    ),
    "acknowledged": Acknowledged(
        request_id="batch-0001",
        jobs=[
            Enqueued(id=3000, duplicate=False, unique_conflict=False),
            Enqueued(id=2999, duplicate=True, unique_conflict=False),
            Enqueued(id=2**63 - 1, duplicate=False, unique_conflict=True),
        ],
    ),
    "rejected": Rejected(
        request_id="batch-0002",
        code=RejectCode.OVERLOADED,
        message="too many enqueues in flight; retry after 200 ms",
        index=1,
        retry_after_ms=200,
    ),
    "order": Order(
        job_id=3000,
        lease=token(7),
        kind="thumbnail",
        queue="media",
        args={"asset": 7, "sizes": [64, 256]},
        attempt=2,
        max_attempts=25,
        priority=10,
        lease_ms=30_000,
        timeout_ms=60_000,
        created_at_ms=1_796_000_000_123,
        tags=["jobq"],
        metadata={"source": "upload"},
        username="test_client",
        uuid=UUID,
    ),
    "heartbeat": Heartbeat(held=[held(3000, 7), held(3001, 8)], capacity=0),
    "heartbeat_ack": HeartbeatAck(
        lost=[held(3001, 8)], cancel=[3000], command=Command.QUIET, lease_ms=30_000
    ),
    "extend": Extend(job_id=3000, lease=token(7), lease_ms=600_000),
    "progress": Progress(
        job_id=3000, lease=token(7), progress={"percent": 40, "message": "resized 2 of 5"}
    ),
    "release": Release(job_id=3000, lease=token(7), reason="worker shutting down"),
    "completed": Completed(
        job_id=3000, lease=token(7), duration_us=103_412, result={"thumbnails": 3}
    ),
    "failed_retry": Failed(
        job_id=2988,
        lease=token(9),
        action=FailAction.RETRY,
        delay_ms=2_000,
        error=ErrorInfo(
            kind="ValueError",
            message="Simulating failure",
            backtrace='Traceback (most recent call last):\n  File "worker.py", line 12, in run\nValueError: Simulating failure',
            panicked=True,
        ),
        duration_us=100_250,
    ),
    "failed_snooze": Failed(
        job_id=2976, lease=token(10), action=FailAction.SNOOZE, delay_ms=30_000, duration_us=12
    ),
    "recorded": Recorded(
        job_id=3000,
        lease=token(7),
        of=Recordable.EXTEND,
        status=RecordStatus.APPLIED,
        lease_ms=300_000,
    ),
    "recorded_stale": Recorded(
        job_id=2988, lease=token(9), of=Recordable.FAILED, status=RecordStatus.STALE
    ),
    "cancel": Cancel(jobs=[held(3000, 7)]),
    "error": ErrorReply(
        code=ErrorCode.UNSUPPORTED_VERSION,
        message="protocol version 2 is not supported; this peer speaks [1]",
        supported_versions=[1],
    ),
    "goodbye": Goodbye(reason="server shutting down", reconnect_ms=1_000),
}
