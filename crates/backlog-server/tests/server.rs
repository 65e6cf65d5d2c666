//! The server in-process on a random port, driven by plain ZeroMQ DEALER clients.

use std::sync::Arc;
use std::time::Duration;

use backlog::{Client, JobState};
use backlog_protocol::{
    decode, encode, Acknowledged, BatchOpen, BatchSpec, CallbackOn, CallbackSpec, Dependency,
    ErrorCode, Goodbye, Heartbeat, Hello, JobSpec, Limits, Message, OnDependencyFailure,
    RejectCode, Rejected, Request, Role, Unique, WorkflowSpec,
};
use backlog_server::{CurveConfig, CurveKeyPair, LostReason, Server, ServerConfig, ServerHooks};

type Db = Client;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let storage = backlog::Client::new(
                        backlog::sqlite::testing::test_storage().await.expect("sqlite"),
                    );
                    super::$name(storage).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let storage =
                        backlog::Client::new(backlog::postgres::testing::test_storage().await);
                    super::$name(storage).await;
                }
            )*
        }
    };
}

on_both_backends!(
    hostile_and_early_messages_get_errors_and_the_server_keeps_serving,
    producer_enqueues_one_and_a_batch_with_every_option,
    resent_requests_are_idempotent,
    requests_arriving_together_share_a_statement_and_keep_their_own_answers,
    a_flood_of_sessions_is_bounded,
    two_peers_claiming_one_worker_id_both_get_replies,
    silent_sessions_are_dropped_and_handed_to_the_hook,
    curve_admits_only_allowlisted_keys,
    workflows_and_batches_over_the_wire,
    shutdown_releases_the_port,
);

fn config() -> ServerConfig {
    ServerConfig {
        endpoint: "tcp://127.0.0.1:0".into(),
        ..ServerConfig::default()
    }
}

struct Peer {
    socket: zmq::Socket,
    _ctx: zmq::Context,
}

impl Peer {
    fn connect(endpoint: &str) -> Peer {
        Peer::connect_with(endpoint, |_| {})
    }

    fn connect_with(endpoint: &str, setup: impl FnOnce(&zmq::Socket)) -> Peer {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::DEALER).unwrap();
        socket.set_linger(0).unwrap();
        socket.set_rcvtimeo(10_000).unwrap();
        setup(&socket);
        socket.connect(endpoint).unwrap();
        Peer { socket, _ctx: ctx }
    }

    fn send_raw(&self, bytes: &[u8]) {
        self.socket.send(bytes, 0).unwrap();
    }

    fn send(&self, message: Message) {
        self.send_raw(&encode(&message).unwrap());
    }

    fn recv(&self) -> Message {
        let bytes = self.socket.recv_bytes(0).expect("a reply within 10 s");
        decode(&bytes, &Limits::default()).unwrap()
    }

    fn error_code(&self) -> ErrorCode {
        match self.recv() {
            Message::Error(e) => e.code,
            other => panic!("expected Error, got {other:?}"),
        }
    }

    fn hello(&self, role: Role, worker_id: Option<&str>) -> Message {
        self.send(hello(role, worker_id));
        self.recv()
    }
}

fn hello(role: Role, worker_id: Option<&str>) -> Message {
    let worker = role == Role::Worker;
    Message::Hello(Hello {
        role,
        worker_id: worker_id.map(str::to_owned),
        kinds: if worker { vec!["k".into()] } else { vec![] },
        queues: if worker {
            vec!["default".into()]
        } else {
            vec![]
        },
        capacity: worker.then_some(2),
        holding: vec![],
        token: None,
        library: Some("test".into()),
    })
}

fn heartbeat() -> Message {
    Message::Heartbeat(Heartbeat {
        held: vec![],
        capacity: None,
    })
}

fn request(id: &str, jobs: Vec<JobSpec>) -> Message {
    Message::Request(Request::new(id, jobs))
}

async fn hostile_and_early_messages_get_errors_and_the_server_keeps_serving(db: Db) {
    let server = Server::start(
        db,
        ServerConfig {
            max_message_bytes: 1024,
            ..config()
        },
        ServerHooks::default(),
    )
    .unwrap();
    let endpoint = server.endpoint().to_owned();
    tokio::task::spawn_blocking(move || {
        let peer = Peer::connect(&endpoint);
        // Before Hello.
        peer.send(request(
            "r1",
            vec![JobSpec::new("k", serde_json::json!({}))],
        ));
        assert_eq!(peer.error_code(), ErrorCode::NoSession);
        peer.send(heartbeat());
        assert_eq!(peer.error_code(), ErrorCode::NoSession);
        // Not CBOR, truncated CBOR.
        peer.send_raw(b"\xff\x00garbage");
        assert_eq!(peer.error_code(), ErrorCode::Malformed);
        peer.send_raw(&[0xa1, 0x61]);
        assert_eq!(peer.error_code(), ErrorCode::Malformed);
        // {"v": 1, "type": "Nope"}
        peer.send_raw(b"\xa2\x61v\x01\x64type\x64Nope");
        assert_eq!(peer.error_code(), ErrorCode::UnknownType);
        // {"v": 99, "type": "Hello", "role": "producer"}
        peer.send_raw(b"\xa3\x61v\x18\x63\x64type\x65Hello\x64role\x68producer");
        match peer.recv() {
            Message::Error(e) => {
                assert_eq!(e.code, ErrorCode::UnsupportedVersion);
                assert_eq!(e.supported_versions, vec![1]);
            }
            other => panic!("expected Error, got {other:?}"),
        }
        // Two frames.
        peer.socket
            .send_multipart([&b"a"[..], &b"b"[..]], 0)
            .unwrap();
        assert_eq!(peer.error_code(), ErrorCode::Malformed);
        // A worker's Hello without kinds.
        peer.send(Message::Hello(Hello {
            role: Role::Worker,
            worker_id: Some("w".into()),
            kinds: vec![],
            queues: vec!["default".into()],
            capacity: Some(1),
            holding: vec![],
            token: None,
            library: None,
        }));
        assert_eq!(peer.error_code(), ErrorCode::Invalid);
        // Over the message limit but under ZeroMQ's cut-off: answered.
        peer.send_raw(&vec![0u8; 1500]);
        assert_eq!(peer.error_code(), ErrorCode::TooLarge);
        // A server message sent to the server.
        assert!(matches!(
            peer.hello(Role::Producer, None),
            Message::Welcome(_)
        ));
        peer.send(Message::Goodbye(Goodbye {
            reason: None,
            reconnect_ms: None,
        }));
        peer.send(heartbeat());
        assert_eq!(peer.error_code(), ErrorCode::NoSession, "Goodbye ended it");

        // Over ZeroMQ's cut-off: that connection is dropped, others are served.
        let big = Peer::connect(server_endpoint_of(&peer));
        big.send_raw(&vec![0u8; 4096]);
        let other = Peer::connect(server_endpoint_of(&peer));
        assert!(matches!(
            other.hello(Role::Producer, None),
            Message::Welcome(_)
        ));
        other.send(heartbeat());
        assert!(matches!(other.recv(), Message::HeartbeatAck(_)));
    })
    .await
    .unwrap();
    server.shutdown().await;
}

fn server_endpoint_of(peer: &Peer) -> &'static str {
    let endpoint = peer.socket.get_last_endpoint().unwrap().unwrap();
    Box::leak(endpoint.into_boxed_str())
}

async fn producer_enqueues_one_and_a_batch_with_every_option(db: Db) {
    let client = db;
    let server = Server::start(client.clone(), config(), ServerHooks::default()).unwrap();
    let endpoint = server.endpoint().to_owned();
    let (one, batch, rejected) = tokio::task::spawn_blocking(move || {
        let peer = Peer::connect(&endpoint);
        assert!(matches!(
            peer.hello(Role::Producer, None),
            Message::Welcome(_)
        ));
        let mut spec = JobSpec::new("email", serde_json::json!({"to": "a@example.com"}));
        spec.queue = Some("mail".into());
        spec.priority = Some(backlog::Priority(7));
        spec.run_at_ms = Some(4_102_444_800_000); // 2100-01-01
        spec.max_attempts = Some(3);
        spec.timeout_ms = Some(60_000);
        spec.backoff = Some(backlog_protocol::Backoff::Fixed { delay_ms: 500 });
        spec.unique = Some(Unique {
            by_args: None,
            by_queue: Some(true),
            period_ms: None,
            states: None,
            on_conflict: None,
        });
        spec.tags = vec!["t1".into(), "t2".into()];
        spec.metadata = Some(serde_json::json!({"team": "ops"}));
        spec.fingerprint = Some("fp-1".into());
        spec.username = Some("alice".into());
        peer.send(request("one", vec![spec]));
        let one = match peer.recv() {
            Message::Acknowledged(ack) => ack,
            other => panic!("expected Acknowledged, got {other:?}"),
        };
        let jobs = (0..3)
            .map(|i| JobSpec::new("k", serde_json::json!({ "i": i })))
            .collect();
        peer.send(request("batch", jobs));
        let batch = match peer.recv() {
            Message::Acknowledged(ack) => ack,
            other => panic!("expected Acknowledged, got {other:?}"),
        };
        let mut bad = JobSpec::new("k", serde_json::json!({}));
        bad.queue = Some("not a queue!".into());
        peer.send(request(
            "bad",
            vec![JobSpec::new("k", serde_json::json!({})), bad],
        ));
        let rejected = match peer.recv() {
            Message::Rejected(r) => r,
            other => panic!("expected Rejected, got {other:?}"),
        };
        (one, batch, rejected)
    })
    .await
    .unwrap();
    assert_eq!(one.request_id, "one");
    let row = client
        .job_get(one.jobs[0].id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(row.kind, "email");
    assert_eq!(row.queue, "mail");
    assert_eq!(row.priority, 7);
    assert_eq!(row.max_attempts, 3);
    assert_eq!(row.state, JobState::Scheduled);
    assert_eq!(row.tags, vec!["t1".to_owned(), "t2".to_owned()]);
    assert_eq!(row.metadata["team"], "ops");
    assert_eq!(row.metadata["username"], "alice");
    assert_eq!(row.fingerprint.as_deref(), Some("fp-1"));
    assert_eq!(row.args["to"], "a@example.com");

    assert_eq!(batch.jobs.len(), 3);
    for (i, job) in batch.jobs.iter().enumerate() {
        let row = client.job_get(job.id).await.unwrap().expect("stored");
        assert_eq!(row.args["i"], i);
    }
    assert_eq!(rejected.code, backlog_protocol::RejectCode::Invalid);
    assert_eq!(rejected.index, Some(1));
    assert!(rejected.message.contains("queue"), "{}", rejected.message);
    server.shutdown().await;
}

/// A request resent with the same `request_id` (its reply was lost) stores nothing new: the
/// same ids come back marked duplicate, for one job and for a batch.
async fn resent_requests_are_idempotent(db: Db) {
    let client = db.clone();
    let server = Server::start(db, config(), ServerHooks::default()).unwrap();
    let endpoint = server.endpoint().to_owned();
    let (first, again, batch, batch_again) = tokio::task::spawn_blocking(move || {
        let peer = Peer::connect(&endpoint);
        assert!(matches!(
            peer.hello(Role::Producer, None),
            Message::Welcome(_)
        ));
        let ack = |id: &str, jobs: Vec<JobSpec>| {
            peer.send(request(id, jobs));
            match peer.recv() {
                Message::Acknowledged(a) => a,
                other => panic!("expected Acknowledged, got {other:?}"),
            }
        };
        let one = || vec![JobSpec::new("k", serde_json::json!({"n": 1}))];
        let three = || {
            (0..3)
                .map(|i| JobSpec::new("k", serde_json::json!({ "i": i })))
                .collect::<Vec<_>>()
        };
        (
            ack("req-1", one()),
            ack("req-1", one()),
            ack("req-2", three()),
            ack("req-2", three()),
        )
    })
    .await
    .unwrap();
    assert!(!first.jobs[0].duplicate);
    assert_eq!(again.jobs[0].id, first.jobs[0].id);
    assert!(again.jobs[0].duplicate);
    let ids = |a: &Acknowledged| a.jobs.iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(ids(&batch), ids(&batch_again));
    assert!(batch.jobs.iter().all(|j| !j.duplicate));
    assert!(batch_again.jobs.iter().all(|j| j.duplicate));
    let counts = client.unfinished().await.unwrap();
    assert_eq!(
        counts.total, 4,
        "one job and a batch of three, each stored once"
    );
    server.shutdown().await;
}

async fn requests_arriving_together_share_a_statement_and_keep_their_own_answers(db: Db) {
    let client = db.clone();
    let server = Server::start(db, config(), ServerHooks::default()).unwrap();
    let endpoint = server.endpoint().to_owned();
    let answers = tokio::task::spawn_blocking(move || {
        let peer = Peer::connect(&endpoint);
        assert!(matches!(
            peer.hello(Role::Producer, None),
            Message::Welcome(_)
        ));
        // Sent back to back without waiting, so that they are gathered; "dup" is sent twice
        // (a resend racing its original) and must still store one job.
        for i in 0..40 {
            let jobs = (0..=(i % 3))
                .map(|j| JobSpec::new("k", serde_json::json!({ "i": i, "j": j })))
                .collect();
            peer.send(request(&format!("burst-{i}"), jobs));
        }
        let dup = || vec![JobSpec::new("k", serde_json::json!({"dup": true}))];
        peer.send(request("dup", dup()));
        peer.send(request("dup", dup()));
        (0..42)
            .map(|_| match peer.recv() {
                Message::Acknowledged(a) => a,
                other => panic!("expected Acknowledged, got {other:?}"),
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let mut ids = std::collections::HashSet::new();
    for ack in answers
        .iter()
        .filter(|a| a.request_id.starts_with("burst-"))
    {
        let i: usize = ack.request_id["burst-".len()..].parse().unwrap();
        assert_eq!(
            ack.jobs.len(),
            i % 3 + 1,
            "{} got its own jobs",
            ack.request_id
        );
        for job in &ack.jobs {
            assert!(!job.duplicate);
            assert!(ids.insert(job.id), "job {} answered twice", job.id);
        }
    }
    let dups: Vec<_> = answers.iter().filter(|a| a.request_id == "dup").collect();
    assert_eq!(dups.len(), 2);
    assert_eq!(dups[0].jobs[0].id, dups[1].jobs[0].id);
    assert_eq!(
        dups.iter().filter(|a| a.jobs[0].duplicate).count(),
        1,
        "one of the two stored the job"
    );
    let stored: u64 = (0..40).map(|i| i % 3 + 1).sum::<u64>() + 1;
    assert_eq!(client.unfinished().await.unwrap().total, stored);
    server.shutdown().await;
}

async fn a_flood_of_sessions_is_bounded(db: Db) {
    let server = Server::start(
        db,
        ServerConfig {
            max_sessions: 5,
            ..config()
        },
        ServerHooks::default(),
    )
    .unwrap();
    let endpoint = server.endpoint().to_owned();
    tokio::task::spawn_blocking(move || {
        let peers: Vec<Peer> = (0..8).map(|_| Peer::connect(&endpoint)).collect();
        let mut welcomed = 0;
        let mut refused = 0;
        for peer in &peers {
            match peer.hello(Role::Producer, None) {
                Message::Welcome(_) => welcomed += 1,
                Message::Error(e) if e.code == ErrorCode::Overloaded => refused += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((welcomed, refused), (5, 3));
        // A session that leaves makes room.
        peers[0].send(Message::Goodbye(Goodbye {
            reason: None,
            reconnect_ms: None,
        }));
        // Two connections are not ordered: see the Goodbye handled before the next Hello.
        peers[0].send(heartbeat());
        assert_eq!(peers[0].error_code(), ErrorCode::NoSession);
        assert!(matches!(
            peers[7].hello(Role::Producer, None),
            Message::Welcome(_)
        ));
    })
    .await
    .unwrap();
    server.shutdown().await;
}

async fn two_peers_claiming_one_worker_id_both_get_replies(db: Db) {
    let server = Server::start(db, config(), ServerHooks::default()).unwrap();
    let endpoint = server.endpoint().to_owned();
    tokio::task::spawn_blocking(move || {
        let a = Peer::connect(&endpoint);
        let b = Peer::connect(&endpoint);
        let (Message::Welcome(wa), Message::Welcome(wb)) = (
            a.hello(Role::Worker, Some("same-worker")),
            b.hello(Role::Worker, Some("same-worker")),
        ) else {
            panic!("both get Welcome");
        };
        assert_ne!(wa.session, wb.session);
        a.send(heartbeat());
        b.send(heartbeat());
        assert!(matches!(a.recv(), Message::HeartbeatAck(_)));
        assert!(matches!(b.recv(), Message::HeartbeatAck(_)));
    })
    .await
    .unwrap();
    server.shutdown().await;
}

async fn silent_sessions_are_dropped_and_handed_to_the_hook(db: Db) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let hooks = ServerHooks {
        session_lost: Some(Arc::new(move |lost| {
            let _ = tx.send(lost);
        })),
        unroutable: None,
    };
    let server = Server::start(
        db,
        ServerConfig {
            heartbeat: Duration::from_millis(50),
            missed_heartbeats: 2,
            ..config()
        },
        hooks,
    )
    .unwrap();
    let endpoint = server.endpoint().to_owned();
    let peer = tokio::task::spawn_blocking(move || {
        let peer = Peer::connect(&endpoint);
        assert!(matches!(
            peer.hello(Role::Worker, Some("w-1")),
            Message::Welcome(_)
        ));
        peer
    })
    .await
    .unwrap();
    let lost = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the session is dropped")
        .unwrap();
    assert_eq!(lost.reason, LostReason::Silent);
    assert_eq!(lost.worker_id.as_deref(), Some("w-1"));
    tokio::task::spawn_blocking(move || {
        peer.send(heartbeat());
        assert_eq!(peer.error_code(), ErrorCode::NoSession);
    })
    .await
    .unwrap();
    server.shutdown().await;
}

async fn curve_admits_only_allowlisted_keys(db: Db) {
    let server_keys = CurveKeyPair::generate().unwrap();
    let allowed = CurveKeyPair::generate().unwrap();
    let stranger = CurveKeyPair::generate().unwrap();
    let server = Server::start(
        db,
        ServerConfig {
            curve: Some(CurveConfig {
                server_secret: server_keys.secret,
                allowed_clients: vec![allowed.public],
            }),
            ..config()
        },
        ServerHooks::default(),
    )
    .unwrap();
    let endpoint = server.endpoint().to_owned();
    tokio::task::spawn_blocking(move || {
        let curve_peer = |keys: &CurveKeyPair| {
            let keys = keys.clone();
            let server_public = server_keys.public;
            Peer::connect_with(&endpoint, move |s| {
                s.set_curve_serverkey(&server_public).unwrap();
                s.set_curve_publickey(&keys.public).unwrap();
                s.set_curve_secretkey(&keys.secret).unwrap();
                // Refused peers are expected to hear nothing: wait a bounded time.
                s.set_rcvtimeo(1_000).unwrap();
            })
        };
        let good = curve_peer(&allowed);
        assert!(matches!(
            good.hello(Role::Producer, None),
            Message::Welcome(_)
        ));
        let bad = curve_peer(&stranger);
        bad.send(hello(Role::Producer, None));
        assert!(
            bad.socket.recv_bytes(0).is_err(),
            "an unknown key gets nothing"
        );
        let plain = Peer::connect_with(&endpoint, |s| s.set_rcvtimeo(1_000).unwrap());
        plain.send(hello(Role::Producer, None));
        assert!(
            plain.socket.recv_bytes(0).is_err(),
            "a plaintext client gets nothing"
        );
        good.send(heartbeat());
        assert!(matches!(good.recv(), Message::HeartbeatAck(_)));
    })
    .await
    .unwrap();
    server.shutdown().await;
}

/// The one job kind of the workflow / batch test: records its step's name.
#[derive(serde::Serialize, serde::Deserialize)]
struct Step {
    name: String,
}

impl backlog::JobArgs for Step {
    const KIND: &'static str = "step";
}

struct Steps(Arc<std::sync::Mutex<Vec<String>>>);

impl backlog::Worker for Steps {
    type Args = Step;

    async fn work(&self, job: backlog::Job<Step>) -> Result<(), backlog::JobError> {
        self.0.lock().unwrap().push(job.args.name.clone());
        Ok(())
    }
}

fn step(name: &str) -> JobSpec {
    JobSpec::new("step", serde_json::json!({ "name": name }))
}

/// A workflow and a batch submitted over the wire: stored once however often they are resent,
/// run in dependency order, the batch's callback enqueued once; bad shapes are refused with
/// `invalid` and store nothing.
async fn workflows_and_batches_over_the_wire(db: Db) {
    let client = db.clone();
    let server = Server::start(db, config(), ServerHooks::default()).unwrap();
    let endpoint = server.endpoint().to_owned();
    let workflow = |id: &str, jobs: Vec<JobSpec>| {
        let mut r = Request::new(id, jobs);
        r.workflow = Some(WorkflowSpec {
            name: "import".into(),
        });
        Message::Request(r)
    };
    let diamond = || {
        let mut load = step("load");
        load.after = vec![Dependency::Index(0)];
        let mut report = step("report");
        report.after = vec![
            Dependency::Index(1),
            Dependency::With {
                job: 0,
                on_failure: Some(OnDependencyFailure::Run),
            },
        ];
        vec![step("extract"), load, report]
    };
    let open = |id: &str, jobs: Vec<JobSpec>| {
        let mut r = Request::new(id, jobs);
        r.batch = Some(BatchSpec {
            id: None,
            open: Some(BatchOpen {
                description: "rows".into(),
                parent: None,
                callback: Some(CallbackSpec {
                    kind: "step".into(),
                    args: serde_json::json!({"name": "callback"}),
                    queue: None,
                    priority: None,
                    max_attempts: None,
                    on: Some(CallbackOn::Complete),
                }),
            }),
            seal: false,
        });
        Message::Request(r)
    };
    let add = |id: &str, batch: i64, jobs: Vec<JobSpec>, seal: bool| {
        let mut r = Request::new(id, jobs);
        r.batch = Some(BatchSpec {
            id: Some(batch),
            open: None,
            seal,
        });
        Message::Request(r)
    };
    let answers = tokio::task::spawn_blocking(move || {
        let peer = Peer::connect(&endpoint);
        assert!(matches!(
            peer.hello(Role::Producer, None),
            Message::Welcome(_)
        ));
        let ack = |m: Message| {
            peer.send(m);
            match peer.recv() {
                Message::Acknowledged(a) => a,
                other => panic!("expected Acknowledged, got {other:?}"),
            }
        };
        let rejected = |m: Message| {
            peer.send(m);
            match peer.recv() {
                Message::Rejected(r) => r,
                other => panic!("expected Rejected, got {other:?}"),
            }
        };
        let flow = ack(workflow("wf-1", diamond()));
        let flow_again = ack(workflow("wf-1", diamond()));
        let batch = ack(open("b-1", vec![step("row-1"), step("row-2")]));
        let batch_again = ack(open("b-1", vec![step("row-1"), step("row-2")]));
        let batch_id = batch.batch_id.unwrap();
        let added = ack(add("b-2", batch_id, vec![step("row-3")], true));
        let added_again = ack(add("b-2", batch_id, vec![step("row-3")], true));
        let mut cycle = diamond();
        cycle[0].after = vec![Dependency::Index(2)];
        let bad = vec![
            rejected(workflow("wf-2", cycle)),
            rejected(workflow("wf-3", {
                let mut d = diamond();
                d[1].after = vec![Dependency::Index(7)];
                d
            })),
            rejected(request("plain", diamond())),
            rejected(add("b-3", batch_id, vec![step("late")], false)),
            rejected({
                let mut both = Request::new("both", vec![step("x")]);
                both.workflow = Some(WorkflowSpec { name: "w".into() });
                both.batch = Some(BatchSpec {
                    id: Some(batch_id),
                    open: None,
                    seal: false,
                });
                Message::Request(both)
            }),
            rejected(workflow("wf-4", {
                let mut d = diamond();
                d[2].unique = Some(Unique {
                    by_args: None,
                    by_queue: None,
                    period_ms: None,
                    states: None,
                    on_conflict: None,
                });
                d
            })),
        ];
        (
            [flow, flow_again, batch, batch_again, added, added_again],
            bad,
        )
    })
    .await
    .unwrap();
    let ([flow, flow_again, batch, batch_again, added, added_again], bad) = answers;
    let ids = |a: &Acknowledged| a.jobs.iter().map(|j| j.id).collect::<Vec<_>>();

    // The workflow: stored once, the resend answered with the same ids.
    let workflow_id = flow.workflow_id.expect("a workflow id");
    assert_eq!(flow_again.workflow_id, Some(workflow_id));
    assert_eq!(ids(&flow), ids(&flow_again));
    assert!(flow.jobs.iter().all(|j| !j.duplicate));
    assert!(flow_again.jobs.iter().all(|j| j.duplicate));
    let jobs = client.workflow_jobs(workflow_id).await.unwrap();
    assert_eq!(jobs.len(), 3);
    let report = jobs.iter().find(|j| j.job.id == flow.jobs[2].id).unwrap();
    assert_eq!(report.depends_on.len(), 2);

    // The batch: created once, each member counted once, sealed.
    assert_eq!(batch_again.batch_id, batch.batch_id);
    assert_eq!(ids(&batch), ids(&batch_again));
    assert!(batch_again.jobs.iter().all(|j| j.duplicate));
    assert_eq!(ids(&added), ids(&added_again));
    let batch_id = batch.batch_id.unwrap();
    let row = client.batch_get(batch_id).await.unwrap().unwrap();
    assert_eq!(row.counts.total, 3);
    assert!(row.sealed_at.is_some());

    // Refused: a cycle, a missing dependency, `after` outside a workflow, a sealed batch,
    // workflow and batch at once, a unique workflow job.
    assert!(bad.iter().all(|r: &Rejected| r.code == RejectCode::Invalid));
    assert!(bad[0].message.contains("cycle"), "{}", bad[0].message);
    assert_eq!(bad[1].index, Some(1));
    assert_eq!(bad[2].index, Some(1));
    assert!(bad[3].message.contains("sealed"), "{}", bad[3].message);
    assert_eq!(bad[5].index, Some(2));
    assert_eq!(
        client.unfinished().await.unwrap().total,
        6,
        "3 workflow + 3 batch jobs"
    );

    // Run everything: the workflow in dependency order, the batch's callback once at the end.
    let ran = Arc::new(std::sync::Mutex::new(Vec::new()));
    let workers = backlog::Workers::new().register(Steps(ran.clone()));
    backlog::testing::drain(client.storage(), &workers)
        .await
        .unwrap();
    backlog::testing::drain(client.storage(), &workers)
        .await
        .unwrap();
    let ran = ran.lock().unwrap().clone();
    let at = |name: &str| ran.iter().position(|n| n == name).unwrap();
    assert!(
        at("extract") < at("load") && at("load") < at("report"),
        "{ran:?}"
    );
    assert_eq!(
        ran.iter().filter(|n| *n == "callback").count(),
        1,
        "{ran:?}"
    );
    assert_eq!(ran.len(), 7, "{ran:?}");
    server.shutdown().await;
}

/// When `shutdown` returns the port is free again: a server started right after on the same
/// endpoint binds at once, even with a peer connected to the old one (ZeroMQ closes a listener
/// on its I/O thread; shutdown waits for that). Repeated, because the race it guards is short.
/// Whether a socket of this machine listens on `port` over IPv4 (`/proc/net/tcp`, state `0A`).
fn listening(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local_port = fields[1].rsplit(':').next().unwrap();
        u16::from_str_radix(local_port, 16) == Ok(port) && fields[3] == "0A"
    })
}

/// The port is free when `shutdown` returns, also while requests are still being answered
/// (their tasks hold the socket's handle): 30 rounds on one endpoint, each with a producer that
/// has just sent requests, and a new server binding the same port at once, with no retry.
async fn shutdown_releases_the_port(db: Db) {
    let mut server = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let endpoint = server.endpoint().to_owned();
    let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
    for round in 0..30 {
        assert!(listening(port), "round {round}: the server listens");
        let to = endpoint.clone();
        let peer = tokio::task::spawn_blocking(move || {
            let peer = Peer::connect(&to);
            assert!(matches!(
                peer.hello(Role::Producer, None),
                Message::Welcome(_)
            ));
            for i in 0..10 {
                let job = JobSpec::new("k", serde_json::json!({ "round": round, "i": i }));
                peer.send(request(&format!("r{round}-{i}"), vec![job]));
            }
            peer
        })
        .await
        .unwrap();
        server.shutdown().await;
        assert!(
            !listening(port),
            "round {round}: shutdown returned with the port still bound"
        );
        drop(peer);
        let same = ServerConfig {
            endpoint: endpoint.clone(),
            ..config()
        };
        server = Server::start(db.clone(), same, ServerHooks::default())
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    server.shutdown().await;
}
