//! One or two sample messages per message type, every field set in at least one of them: the
//! golden vectors are these messages encoded, and the Python client's tests build the same
//! messages by hand.

use backlog_protocol::*;
use backlog_types::{JobState, Priority};
use serde_json::json;

pub fn token(seed: u8) -> LeaseToken {
    LeaseToken(core::array::from_fn(|i| seed.wrapping_add(i as u8 * 16)))
}

pub fn uuid() -> Uuid {
    Uuid([
        0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ])
}

/// `(name, message)`; the golden file of each is `tests/golden/<name>.cbor`.
pub fn samples() -> Vec<(&'static str, Message)> {
    let held = |id, seed| Held {
        job_id: id,
        lease: token(seed),
    };
    vec![
        (
            "hello_worker",
            Hello {
                role: Role::Worker,
                worker_id: Some("host-1:4242:7f3a".into()),
                kinds: vec!["thumbnail".into(), "face_detect".into()],
                queues: vec!["default".into(), "media".into()],
                capacity: Some(8),
                holding: vec![held(41, 1), held(42, 2)],
                token: Some("s3cret".into()),
                library: Some("backlog-python/0.1.0".into()),
            }
            .into(),
        ),
        (
            "hello_producer",
            Hello {
                role: Role::Producer,
                worker_id: None,
                kinds: vec![],
                queues: vec![],
                capacity: None,
                holding: vec![],
                token: None,
                library: None,
            }
            .into(),
        ),
        (
            "welcome",
            Welcome {
                session: "s-9c1e".into(),
                server_id: "backlog-serve@host-0".into(),
                heartbeat_ms: 5_000,
                lease_ms: 30_000,
                max_message_bytes: 4_194_304,
                max_batch: 1_000,
                capacity: Some(8),
                lost: vec![held(42, 2)],
            }
            .into(),
        ),
        (
            "request_one",
            Request {
                request_id: "0b6f1f7e-7d3c-4a6e-9d4e-3f2a1b0c9d8e".into(),
                jobs: vec![JobSpec {
                    queue: Some("media".into()),
                    priority: Some(Priority::HIGH),
                    run_after_ms: Some(1_500),
                    max_attempts: Some(5),
                    timeout_ms: Some(60_000),
                    backoff: Some(Backoff::Exponential {
                        base_ms: 1_000,
                        max_ms: 3_600_000,
                        jitter_permille: 100,
                    }),
                    unique: Some(Unique {
                        by_args: Some(UniqueArgs::Fields(vec!["asset".into()])),
                        by_queue: Some(true),
                        period_ms: Some(3_600_000),
                        states: Some(vec![JobState::Available, JobState::Running]),
                        on_conflict: Some(OnConflict::Replace),
                    }),
                    tags: vec!["jobq".into(), "demo".into()],
                    metadata: Some(json!({"source": "upload", "retry_of": null})),
                    fingerprint: Some("asset-6ba7b810".into()),
                    username: Some("test_client".into()),
                    uuid: Some(uuid()),
                    ..JobSpec::new(
                        "thumbnail",
                        json!({
                            "asset": 7,
                            "sizes": [64, 256, 1024],
                            "quality": 0.5,
                            "gamma": 2.2,
                            "offset": -3,
                            "label": "Grüße ✓",
                            "crop": {"x": 0, "y": 1.25, "keep": true}
                        }),
                    )
                }],
                workflow: None,
                batch: None,
            }
            .into(),
        ),
        (
            "request_batch",
            Request {
                request_id: "batch-0001".into(),
                jobs: vec![
                    JobSpec {
                        priority: Some(Priority::LOW),
                        run_at_ms: Some(1_796_000_000_000),
                        backoff: Some(Backoff::Fixed { delay_ms: 250 }),
                        unique: Some(Unique {
                            by_args: Some(UniqueArgs::Named(UniqueArgsName::Ignore)),
                            by_queue: None,
                            period_ms: None,
                            states: None,
                            on_conflict: None,
                        }),
                        ..JobSpec::new("test", serde_json::Value::Null)
                    },
                    JobSpec {
                        priority: Some(Priority(-32768)),
                        backoff: Some(Backoff::Linear {
                            step_ms: 500,
                            max_ms: 10_000,
                        }),
                        ..JobSpec::new("test", json!([]))
                    },
                ],
                workflow: None,
                batch: None,
            }
            .into(),
        ),
        (
            "request_workflow",
            Request {
                request_id: "flow-0001".into(),
                jobs: vec![
                    JobSpec::new("extract", json!({"day": 1})),
                    JobSpec {
                        after: vec![Dependency::Index(0)],
                        ..JobSpec::new("load", json!({}))
                    },
                    JobSpec {
                        after: vec![
                            Dependency::Index(1),
                            Dependency::With {
                                job: 0,
                                on_failure: Some(OnDependencyFailure::Run),
                            },
                        ],
                        ..JobSpec::new("report", json!({}))
                    },
                ],
                workflow: Some(WorkflowSpec {
                    name: "nightly import".into(),
                }),
                batch: None,
            }
            .into(),
        ),
        (
            "request_batch_open",
            Request {
                request_id: "import-0001".into(),
                jobs: vec![JobSpec::new("row", json!({"n": 1}))],
                workflow: None,
                batch: Some(BatchSpec {
                    id: None,
                    open: Some(BatchOpen {
                        description: "csv import".into(),
                        parent: Some(41),
                        callback: Some(CallbackSpec {
                            kind: "import_done".into(),
                            args: json!({"file": "a.csv"}),
                            queue: Some("reports".into()),
                            priority: Some(Priority::HIGH),
                            max_attempts: Some(3),
                            on: Some(CallbackOn::Success),
                        }),
                    }),
                    seal: true,
                }),
            }
            .into(),
        ),
        (
            "request_batch_add",
            Request {
                request_id: "import-0002".into(),
                jobs: Vec::new(),
                workflow: None,
                batch: Some(BatchSpec {
                    id: Some(42),
                    open: None,
                    seal: true,
                }),
            }
            .into(),
        ),
        (
            "acknowledged",
            Acknowledged {
                request_id: "batch-0001".into(),
                jobs: vec![
                    Enqueued {
                        id: 3000,
                        duplicate: false,
                        unique_conflict: false,
                    },
                    Enqueued {
                        id: 2999,
                        duplicate: true,
                        unique_conflict: false,
                    },
                    Enqueued {
                        id: i64::MAX,
                        duplicate: false,
                        unique_conflict: true,
                    },
                ],
                workflow_id: None,
                batch_id: None,
            }
            .into(),
        ),
        (
            "acknowledged_group",
            Acknowledged {
                request_id: "flow-0001".into(),
                jobs: vec![Enqueued {
                    id: 77,
                    duplicate: true,
                    unique_conflict: false,
                }],
                workflow_id: Some(9),
                batch_id: Some(10),
            }
            .into(),
        ),
        (
            "rejected",
            Rejected {
                request_id: "batch-0002".into(),
                code: RejectCode::Overloaded,
                message: "too many enqueues in flight; retry after 200 ms".into(),
                index: Some(1),
                retry_after_ms: Some(200),
            }
            .into(),
        ),
        (
            "order",
            Order {
                job_id: 3000,
                lease: token(7),
                kind: "thumbnail".into(),
                queue: "media".into(),
                args: json!({"asset": 7, "sizes": [64, 256]}),
                attempt: 2,
                max_attempts: 25,
                priority: 10,
                lease_ms: 30_000,
                timeout_ms: Some(60_000),
                created_at_ms: 1_796_000_000_123,
                tags: vec!["jobq".into()],
                metadata: Some(json!({"source": "upload"})),
                username: Some("test_client".into()),
                uuid: Some(uuid()),
            }
            .into(),
        ),
        (
            "heartbeat",
            Heartbeat {
                held: vec![held(3000, 7), held(3001, 8)],
                capacity: Some(0),
            }
            .into(),
        ),
        (
            "heartbeat_ack",
            HeartbeatAck {
                lost: vec![held(3001, 8)],
                cancel: vec![3000],
                command: Some(Command::Quiet),
                lease_ms: 30_000,
            }
            .into(),
        ),
        (
            "extend",
            Extend {
                job_id: 3000,
                lease: token(7),
                lease_ms: 600_000,
            }
            .into(),
        ),
        (
            "progress",
            Progress {
                job_id: 3000,
                lease: token(7),
                progress: json!({"percent": 40, "message": "resized 2 of 5"}),
            }
            .into(),
        ),
        (
            "release",
            Release {
                job_id: 3000,
                lease: token(7),
                reason: Some("worker shutting down".into()),
            }
            .into(),
        ),
        (
            "completed",
            Completed {
                job_id: 3000,
                lease: token(7),
                duration_us: 103_412,
                result: Some(json!({"thumbnails": 3})),
            }
            .into(),
        ),
        (
            "failed_retry",
            Failed {
                job_id: 2988,
                lease: token(9),
                action: FailAction::Retry,
                delay_ms: Some(2_000),
                error: Some(ErrorInfo {
                    kind: Some("ValueError".into()),
                    message: "Simulating failure".into(),
                    backtrace: Some(
                        "Traceback (most recent call last):\n  File \"worker.py\", line 12, in run\nValueError: Simulating failure".into(),
                    ),
                    panicked: true,
                }),
                duration_us: 100_250,
            }
            .into(),
        ),
        (
            "failed_snooze",
            Failed {
                job_id: 2976,
                lease: token(10),
                action: FailAction::Snooze,
                delay_ms: Some(30_000),
                error: None,
                duration_us: 12,
            }
            .into(),
        ),
        (
            "recorded",
            Recorded {
                job_id: 3000,
                lease: token(7),
                of: Recordable::Extend,
                status: RecordStatus::Applied,
                lease_ms: Some(300_000),
            }
            .into(),
        ),
        (
            "recorded_stale",
            Recorded {
                job_id: 2988,
                lease: token(9),
                of: Recordable::Failed,
                status: RecordStatus::Stale,
                lease_ms: None,
            }
            .into(),
        ),
        (
            "cancel",
            Cancel {
                jobs: vec![held(3000, 7)],
            }
            .into(),
        ),
        (
            "error",
            ErrorReply {
                code: ErrorCode::UnsupportedVersion,
                message: "protocol version 2 is not supported; this peer speaks [1]".into(),
                re: None,
                supported_versions: vec![1],
            }
            .into(),
        ),
        (
            "goodbye",
            Goodbye {
                reason: Some("server shutting down".into()),
                reconnect_ms: Some(1_000),
            }
            .into(),
        ),
    ]
}
