//! Dispatch to remote workers: a real server on a random port, plain ZeroMQ DEALER workers
//! speaking the protocol by hand, and jobs enqueued through the library, on both backends.

use std::time::Duration;

use backlog::{Client, InsertOpts, JobState};
use backlog_protocol::{
    decode, encode, Command, Completed, ErrorInfo, FailAction, Failed, Heartbeat, Held, Hello,
    JobSpec, Limits, Message, Order, RecordStatus, Recordable, Recorded, Release, Request, Role,
};
use backlog_server::{Server, ServerConfig, ServerHooks};
use backlog_storage::JobRescueParams;

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
    a_job_enqueued_anywhere_reaches_an_idle_worker_without_traffic,
    a_worker_never_holds_more_than_its_capacity,
    two_workers_for_one_kind_both_get_work,
    only_announced_kinds_and_queues_are_claimed,
    outcomes_are_fenced_and_resends_recognised,
    failed_maps_onto_retry_discard_snooze_and_cancel,
    release_gives_the_job_back_without_spending_an_attempt,
    heartbeats_renew_leases_and_report_lost_ones,
    a_worker_rejoining_another_server_keeps_what_it_holds,
    an_undeliverable_order_gives_the_job_back_at_once,
    cancellation_reaches_the_remote_worker,
    quiet_stops_orders_and_is_told_in_the_heartbeat_ack,
    the_global_active_limit_holds_over_workers,
    remote_workers_are_listed_beside_the_runners,
    an_expired_job_is_discarded_not_ordered,
    a_request_for_an_idle_worker_is_claimed_with_its_insert,
);

fn config() -> ServerConfig {
    ServerConfig {
        endpoint: "tcp://127.0.0.1:0".into(),
        // Wake-ups start claims; a long poll proves no test depends on polling.
        poll_interval: Duration::from_secs(60),
        ..ServerConfig::default()
    }
}

/// A worker speaking the protocol by hand over a DEALER socket.
struct Peer {
    socket: zmq::Socket,
    _ctx: zmq::Context,
}

impl Peer {
    fn connect(endpoint: &str) -> Peer {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::DEALER).unwrap();
        socket.set_linger(0).unwrap();
        socket.connect(endpoint).unwrap();
        Peer { socket, _ctx: ctx }
    }

    fn send(&self, message: Message) {
        self.socket.send(encode(&message).unwrap(), 0).unwrap();
    }

    /// The next message within `timeout`, or `None`.
    fn try_recv(&self, timeout: Duration) -> Option<Message> {
        tokio::task::block_in_place(|| {
            self.socket
                .set_rcvtimeo(timeout.as_millis() as i32)
                .unwrap();
            let bytes = self.socket.recv_bytes(0).ok()?;
            Some(decode(&bytes, &Limits::default()).unwrap())
        })
    }

    fn recv(&self) -> Message {
        self.try_recv(Duration::from_secs(10))
            .expect("a message within 10 s")
    }

    fn order(&self) -> Order {
        match self.recv() {
            Message::Order(order) => order,
            other => panic!("expected Order, got {other:?}"),
        }
    }

    fn recorded(&self) -> Recorded {
        match self.recv() {
            Message::Recorded(r) => r,
            other => panic!("expected Recorded, got {other:?}"),
        }
    }

    /// Opens a worker session and returns the `Welcome`'s lost list.
    fn hello(
        &self,
        id: &str,
        kinds: &[&str],
        queues: &[&str],
        capacity: u32,
        holding: Vec<Held>,
    ) -> Vec<Held> {
        self.send(Message::Hello(Hello {
            role: Role::Worker,
            worker_id: Some(id.into()),
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            queues: queues.iter().map(|q| q.to_string()).collect(),
            capacity: Some(capacity),
            holding,
            token: None,
            library: Some("test".into()),
        }));
        match self.recv() {
            Message::Welcome(w) => w.lost,
            other => panic!("expected Welcome, got {other:?}"),
        }
    }

    fn complete(&self, order: &Order) {
        self.send(Message::Completed(Completed {
            job_id: order.job_id,
            lease: order.lease,
            duration_us: 1_000,
            result: Some(serde_json::json!({"ok": true})),
        }));
    }
}

async fn enqueue(db: &Db, kind: &str, opts: InsertOpts) -> i64 {
    db.enqueue_raw(kind, serde_json::json!({"n": 1}), opts)
        .await
        .unwrap()
}

async fn state(db: &Db, id: i64) -> backlog::JobRow {
    db.storage().job_get(id).await.unwrap().expect("the job")
}

fn held(order: &Order) -> Held {
    Held {
        job_id: order.job_id,
        lease: order.lease,
    }
}

async fn a_job_enqueued_anywhere_reaches_an_idle_worker_without_traffic(db: Db) {
    let server = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let worker = Peer::connect(server.endpoint());
    worker.hello("w-1", &["k"], &["default"], 4, vec![]);
    assert!(worker.try_recv(Duration::from_millis(100)).is_none());
    // Enqueued through the library, not the server: only the database's wake-up tells it.
    let started = std::time::Instant::now();
    let id = enqueue(
        &db,
        "k",
        InsertOpts::new().tag("t").metadata(serde_json::json!({
            "username": "alice",
            "uuid": "00112233-4455-6677-8899-aabbccddeeff",
        })),
    )
    .await;
    let order = worker.order();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the poll interval is 60 s; the order came from the wake-up"
    );
    assert_eq!(
        (order.job_id, order.kind.as_str(), order.attempt),
        (id, "k", 1)
    );
    assert_eq!(order.tags, vec!["t".to_string()]);
    assert_eq!(order.username.as_deref(), Some("alice"));
    assert_eq!(
        order.uuid.map(|u| u.to_string()).as_deref(),
        Some("00112233-4455-6677-8899-aabbccddeeff")
    );
    assert_eq!(order.args, serde_json::json!({"n": 1}));
    let row = state(&db, id).await;
    assert_eq!(row.state, JobState::Running);
    assert_eq!(row.attempted_by, vec!["w-1".to_string()]);
    worker.complete(&order);
    let recorded = worker.recorded();
    assert_eq!(
        (recorded.job_id, recorded.of, recorded.status),
        (id, Recordable::Completed, RecordStatus::Applied)
    );
    let row = state(&db, id).await;
    assert_eq!(row.state, JobState::Completed);
    assert_eq!(row.result, Some(serde_json::json!({"ok": true})));
    server.shutdown().await;
}

async fn a_worker_never_holds_more_than_its_capacity(db: Db) {
    let server = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    for _ in 0..7 {
        enqueue(&db, "k", InsertOpts::new()).await;
    }
    let worker = Peer::connect(server.endpoint());
    worker.hello("w-1", &["k"], &["default"], 3, vec![]);
    let mut done = 0;
    while done < 7 {
        let mut batch = Vec::new();
        while let Some(message) = worker.try_recv(Duration::from_millis(300)) {
            match message {
                Message::Order(order) => batch.push(order),
                Message::Recorded(r) => assert_eq!(r.status, RecordStatus::Applied),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(!batch.is_empty(), "orders keep coming while jobs wait");
        assert!(
            batch.len() <= 3,
            "{} orders outstanding with capacity 3",
            batch.len()
        );
        for order in &batch {
            worker.complete(order);
        }
        done += batch.len();
    }
    assert_eq!(done, 7);
    server.shutdown().await;
}

async fn two_workers_for_one_kind_both_get_work(db: Db) {
    let server = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let a = Peer::connect(server.endpoint());
    let b = Peer::connect(server.endpoint());
    a.hello("a", &["k"], &["default"], 1, vec![]);
    b.hello("b", &["k"], &["default"], 1, vec![]);
    enqueue(&db, "k", InsertOpts::new()).await;
    enqueue(&db, "k", InsertOpts::new()).await;
    // Each holds one order; neither answers, so the second job can only go to the other.
    let (oa, ob) = (a.order(), b.order());
    assert_ne!(oa.job_id, ob.job_id);
    server.shutdown().await;
}

async fn only_announced_kinds_and_queues_are_claimed(db: Db) {
    let server = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let other_kind = enqueue(&db, "other", InsertOpts::new()).await;
    let other_queue = enqueue(&db, "k", InsertOpts::new().queue("elsewhere")).await;
    let mine = enqueue(&db, "k", InsertOpts::new()).await;
    let worker = Peer::connect(server.endpoint());
    worker.hello("w", &["k"], &["default"], 5, vec![]);
    assert_eq!(worker.order().job_id, mine);
    assert!(worker.try_recv(Duration::from_millis(300)).is_none());
    assert_eq!(state(&db, other_kind).await.state, JobState::Available);
    assert_eq!(state(&db, other_queue).await.state, JobState::Available);
    server.shutdown().await;
}

async fn outcomes_are_fenced_and_resends_recognised(db: Db) {
    let server = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let id = enqueue(&db, "k", InsertOpts::new()).await;
    let worker = Peer::connect(server.endpoint());
    worker.hello("w", &["k"], &["default"], 1, vec![]);
    let order = worker.order();
    // A forged token is refused and changes nothing.
    let mut forged = order.clone();
    forged.lease = backlog_protocol::LeaseToken::from([7u8; 16]);
    worker.complete(&forged);
    assert_eq!(worker.recorded().status, RecordStatus::Stale);
    assert_eq!(state(&db, id).await.state, JobState::Running);
    worker.complete(&order);
    assert_eq!(worker.recorded().status, RecordStatus::Applied);
    // The resend of an outcome whose Recorded was lost.
    worker.complete(&order);
    assert_eq!(worker.recorded().status, RecordStatus::AlreadyRecorded);
    // A late failure of the same execution cannot regress the job.
    worker.send(Message::Failed(Failed {
        job_id: order.job_id,
        lease: order.lease,
        action: FailAction::Retry,
        delay_ms: None,
        error: Some(ErrorInfo::new("late")),
        duration_us: 1,
    }));
    let late = worker.recorded();
    assert_ne!(late.status, RecordStatus::Applied);
    assert_eq!(state(&db, id).await.state, JobState::Completed);
    server.shutdown().await;
}

fn failed(order: &Order, action: FailAction, delay_ms: Option<u64>) -> Message {
    Message::Failed(Failed {
        job_id: order.job_id,
        lease: order.lease,
        action,
        delay_ms,
        error: Some(ErrorInfo {
            kind: Some("ValueError".into()),
            message: "bad input".into(),
            backtrace: Some("frame 1\nframe 2".into()),
            panicked: false,
        }),
        duration_us: 10,
    })
}

async fn failed_maps_onto_retry_discard_snooze_and_cancel(db: Db) {
    let server = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let worker = Peer::connect(server.endpoint());
    worker.hello("w", &["k"], &["default"], 1, vec![]);
    let cases = [
        (FailAction::Retry, Some(3_600_000), JobState::Retryable, 1),
        (FailAction::Discard, None, JobState::Discarded, 1),
        (FailAction::Snooze, Some(3_600_000), JobState::Scheduled, 0),
        (FailAction::Cancel, None, JobState::Cancelled, 1),
    ];
    for (action, delay, expected, attempt) in cases {
        let id = enqueue(&db, "k", InsertOpts::new()).await;
        let order = worker.order();
        assert_eq!(order.job_id, id);
        worker.send(failed(&order, action, delay));
        let recorded = worker.recorded();
        assert_eq!(
            (recorded.of, recorded.status),
            (Recordable::Failed, RecordStatus::Applied)
        );
        let row = state(&db, id).await;
        assert_eq!(row.state, expected, "{action:?}");
        assert_eq!(row.attempt, attempt, "{action:?}");
        if action != FailAction::Snooze {
            let error = row.errors.last().expect("the error is kept");
            assert_eq!(error.message, "bad input");
            assert_eq!(error.kind.as_deref(), Some("ValueError"), "kind kept apart");
            assert_eq!(
                error.backtrace.as_deref(),
                Some("frame 1\nframe 2"),
                "backtrace kept apart"
            );
        }
    }
    // The last attempt's retry discards.
    let id = enqueue(&db, "k", InsertOpts::new().max_attempts(1)).await;
    let order = worker.order();
    worker.send(failed(&order, FailAction::Retry, None));
    worker.recorded();
    assert_eq!(state(&db, id).await.state, JobState::Discarded);
    server.shutdown().await;
}

async fn an_expired_job_is_discarded_not_ordered(db: Db) {
    let server = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    let expired = enqueue(&db, "k", InsertOpts::new().expires_at(past)).await;
    let fresh = enqueue(
        &db,
        "k",
        InsertOpts::new().expires_after(Duration::from_secs(3600)),
    )
    .await;
    let worker = Peer::connect(server.endpoint());
    worker.hello("w", &["k"], &["default"], 2, vec![]);
    let order = worker.order();
    assert_eq!(order.job_id, fresh, "the expired job is never sent");
    // Outcomes are recorded in the order they were submitted: once the fresh job's is, the
    // expired job's discard (submitted when it was claimed) is too.
    worker.complete(&order);
    assert_eq!(worker.recorded().status, RecordStatus::Applied);
    let row = state(&db, expired).await;
    assert_eq!(row.state, JobState::Discarded);
    assert_eq!(row.errors[0].kind.as_deref(), Some("expired"));
    server.shutdown().await;
}

async fn release_gives_the_job_back_without_spending_an_attempt(db: Db) {
    let server = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let first = enqueue(&db, "k", InsertOpts::new()).await;
    let worker = Peer::connect(server.endpoint());
    worker.hello("w", &["k"], &["default"], 1, vec![]);
    let order = worker.order();
    assert_eq!(order.job_id, first);
    let second = enqueue(&db, "k", InsertOpts::new()).await;
    worker.send(Message::Release(Release {
        job_id: order.job_id,
        lease: order.lease,
        reason: Some("shutting down".into()),
    }));
    // The released job comes back first (it kept its place) with its attempt given back.
    let mut next = None;
    while next.is_none() {
        match worker.recv() {
            Message::Recorded(r) => assert_eq!(
                (r.of, r.status),
                (Recordable::Release, RecordStatus::Applied)
            ),
            Message::Order(o) => next = Some(o),
            other => panic!("unexpected {other:?}"),
        }
    }
    let next = next.unwrap();
    assert_eq!((next.job_id, next.attempt), (first, 1));
    assert_ne!(next.lease, order.lease, "a new claim, a new token");
    let _ = second;
    server.shutdown().await;
}

async fn heartbeats_renew_leases_and_report_lost_ones(db: Db) {
    let server = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let worker = Peer::connect(server.endpoint());
    worker.hello("w", &["k"], &["default"], 1, vec![]);
    let id = enqueue(&db, "k", InsertOpts::new()).await;
    let order = worker.order();
    let claimed = state(&db, id).await.lease_expires_at.unwrap();
    let heartbeat = Message::Heartbeat(Heartbeat {
        held: vec![held(&order)],
        capacity: None,
    });
    worker.send(heartbeat.clone());
    match worker.recv() {
        Message::HeartbeatAck(ack) => assert!(ack.lost.is_empty() && ack.cancel.is_empty()),
        other => panic!("expected HeartbeatAck, got {other:?}"),
    }
    let renewed = state(&db, id).await.lease_expires_at.unwrap();
    assert!(renewed > claimed, "renewed {renewed} after claim {claimed}");
    // The database decides the lease ran out (its clock is an input): the job is rescued.
    let rescued = db
        .storage()
        .job_rescue(JobRescueParams {
            now: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
            max: 100,
            poison_threshold: 0,
        })
        .await
        .unwrap();
    assert_eq!(rescued, vec![id]);
    worker.send(heartbeat);
    let ack = loop {
        match worker.recv() {
            Message::HeartbeatAck(ack) => break ack,
            // The rescued job may be ordered again under a new token.
            Message::Order(o) => assert_ne!(o.lease, order.lease),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(ack.lost, vec![held(&order)]);
    worker.complete(&order);
    loop {
        match worker.recv() {
            Message::Recorded(r) => {
                assert_eq!(r.status, RecordStatus::Stale);
                break;
            }
            Message::Order(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    server.shutdown().await;
}

async fn a_worker_rejoining_another_server_keeps_what_it_holds(db: Db) {
    let first = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let a = enqueue(&db, "k", InsertOpts::new()).await;
    let b = enqueue(&db, "k", InsertOpts::new()).await;
    let worker = Peer::connect(first.endpoint());
    worker.hello("w", &["k"], &["default"], 2, vec![]);
    let orders = [worker.order(), worker.order()];
    first.shutdown().await;
    assert!(matches!(worker.recv(), Message::Goodbye(_)));
    // While no server runs, job `b` is cancelled: its execution is over.
    db.job_cancel(b).await.unwrap();
    let second = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let worker = Peer::connect(second.endpoint());
    let lost = worker.hello(
        "w",
        &["k"],
        &["default"],
        2,
        orders.iter().map(held).collect(),
    );
    let kept_a = orders.iter().find(|o| o.job_id == a).unwrap();
    assert!(
        lost.iter().all(|h| h.job_id != a),
        "job a is still the worker's: {lost:?}"
    );
    // Not run twice: no new order for `a` arrives, and its outcome through the new server applies.
    assert!(worker
        .try_recv(Duration::from_millis(300))
        .is_none_or(|m| !matches!(m, Message::Order(_))));
    worker.complete(kept_a);
    assert_eq!(worker.recorded().status, RecordStatus::Applied);
    let row = state(&db, a).await;
    assert_eq!((row.state, row.attempt), (JobState::Completed, 1));
    second.shutdown().await;
}

async fn an_undeliverable_order_gives_the_job_back_at_once(db: Db) {
    let server = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let worker = Peer::connect(server.endpoint());
    worker.hello("w", &["k"], &["default"], 1, vec![]);
    drop(worker);
    // Until the server notices the peer is gone, an order may still be queued to it; once it
    // fails to route, the job is given back, unspent, and claimable at once.
    let id = enqueue(&db, "k", InsertOpts::new()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let row = state(&db, id).await;
        if row.state == JobState::Available && row.attempt == 0 && !row.attempted_by.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not given back: {row:?}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shutdown().await;
}

async fn cancellation_reaches_the_remote_worker(db: Db) {
    let server = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let worker = Peer::connect(server.endpoint());
    worker.hello("w", &["k"], &["default"], 1, vec![]);
    let id = enqueue(&db, "k", InsertOpts::new()).await;
    let order = worker.order();
    db.job_cancel(id).await.unwrap();
    match worker.recv() {
        Message::Cancel(cancel) => assert_eq!(cancel.jobs, vec![held(&order)]),
        other => panic!("expected Cancel, got {other:?}"),
    }
    worker.send(failed(&order, FailAction::Cancel, None));
    assert_eq!(worker.recorded().status, RecordStatus::Applied);
    assert_eq!(state(&db, id).await.state, JobState::Cancelled);
    server.shutdown().await;
}

async fn quiet_stops_orders_and_is_told_in_the_heartbeat_ack(db: Db) {
    let server = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let worker = Peer::connect(server.endpoint());
    worker.hello("w", &["k"], &["default"], 1, vec![]);
    assert_eq!(server.command(Some("w"), Command::Quiet).await, 1);
    assert_eq!(server.command(Some("nobody"), Command::Quiet).await, 0);
    let id = enqueue(&db, "k", InsertOpts::new()).await;
    worker.send(Message::Heartbeat(Heartbeat {
        held: vec![],
        capacity: None,
    }));
    match worker.recv() {
        Message::HeartbeatAck(ack) => assert_eq!(ack.command, Some(Command::Quiet)),
        other => panic!("expected HeartbeatAck, got {other:?}"),
    }
    assert!(worker.try_recv(Duration::from_millis(300)).is_none());
    assert_eq!(state(&db, id).await.state, JobState::Available);
    server.shutdown().await;
}

async fn the_global_active_limit_holds_over_workers(db: Db) {
    let server = Server::start(
        db.clone(),
        ServerConfig {
            max_active: Some(2),
            ..config()
        },
        ServerHooks::default(),
    )
    .unwrap();
    for _ in 0..4 {
        enqueue(&db, "k", InsertOpts::new()).await;
    }
    let a = Peer::connect(server.endpoint());
    let b = Peer::connect(server.endpoint());
    a.hello("a", &["k"], &["default"], 2, vec![]);
    b.hello("b", &["k"], &["default"], 2, vec![]);
    let mut orders = Vec::new();
    for peer in [&a, &b] {
        while let Some(Message::Order(o)) = peer.try_recv(Duration::from_millis(300)) {
            orders.push((peer, o));
        }
    }
    assert_eq!(orders.len(), 2, "max_active 2 over both workers");
    let (peer, first) = &orders[0];
    peer.complete(first);
    let mut more = 0;
    for p in [&a, &b] {
        while let Some(m) = p.try_recv(Duration::from_millis(300)) {
            if matches!(m, Message::Order(_)) {
                more += 1;
            }
        }
    }
    assert_eq!(more, 1, "one slot freed, one more order");
    server.shutdown().await;
}

async fn remote_workers_are_listed_beside_the_runners(db: Db) {
    let server = Server::start(db.clone(), config(), ServerHooks::default()).unwrap();
    let worker = Peer::connect(server.endpoint());
    worker.hello("remote-1", &["k", "j"], &["default"], 3, vec![]);
    let id = enqueue(&db, "k", InsertOpts::new()).await;
    let order = worker.order();
    assert_eq!(order.job_id, id);
    worker.send(Message::Heartbeat(Heartbeat {
        held: vec![held(&order)],
        capacity: None,
    }));
    assert!(matches!(worker.recv(), Message::HeartbeatAck(_)));
    let listed = |db: Db| async move {
        db.storage()
            .worker_list(backlog_storage::WorkerListParams {
                seen_since: chrono::Utc::now() - chrono::Duration::minutes(1),
            })
            .await
            .unwrap()
    };
    // The registration is written beside the heartbeat's answer; wait for it to land.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let row = loop {
        let rows = listed(db.clone()).await;
        if let Some(row) = rows
            .into_iter()
            .find(|r| r.report.id == "remote-1" && r.report.in_flight == 1)
        {
            break row;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the remote worker is not listed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(row.report.origin, "remote (test)");
    assert_eq!(row.report.kinds, vec!["j".to_string(), "k".to_string()]);
    assert_eq!(row.report.capacity, 3);
    worker.send(Message::Goodbye(backlog_protocol::Goodbye {
        reason: None,
        reconnect_ms: None,
    }));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while listed(db.clone())
        .await
        .iter()
        .any(|r| r.report.id == "remote-1")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "still listed after Goodbye"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shutdown().await;
}

/// A request whose jobs an idle worker takes is claimed in the insert's own statement
/// (`job_insert_and_fetch`), so the orders leave as soon as it commits; on PostgreSQL in the
/// insert's own transaction, so the attempt starts at the job's creation instant (`now()` is
/// the transaction's). Jobs nobody connected takes are stored and wait.
async fn a_request_for_an_idle_worker_is_claimed_with_its_insert(db: Db) {
    // Claims of one job: a claim of the dispatcher's in flight (the worker's Hello starts one,
    // a wake-up may start another) reserves one slot of four, never all of them.
    let config = ServerConfig {
        max_batch: 1,
        ..config()
    };
    let server = Server::start(db.clone(), config, ServerHooks::default()).unwrap();
    let worker = Peer::connect(server.endpoint());
    worker.hello("w-1", &["k"], &["default"], 4, vec![]);
    let producer = Peer::connect(server.endpoint());
    producer.send(Message::Hello(Hello {
        role: Role::Producer,
        worker_id: None,
        kinds: vec![],
        queues: vec![],
        capacity: None,
        holding: vec![],
        token: None,
        library: Some("test".into()),
    }));
    assert!(matches!(producer.recv(), Message::Welcome(_)));
    let spec = |kind: &str| JobSpec::new(kind, serde_json::json!({"n": 1}));
    for request in ["r-1", "r-2"] {
        producer.send(Message::Request(Request::new(request, vec![spec("k")])));
        let Message::Acknowledged(ack) = producer.recv() else {
            panic!("expected Acknowledged");
        };
        let order = worker.order();
        assert_eq!(order.job_id, ack.jobs[0].id);
        let row = state(&db, order.job_id).await;
        assert_eq!(row.state, JobState::Running);
        assert_eq!(row.attempted_by, vec!["w-1".to_string()]);
        if db.storage().backend_name() == "postgres" {
            assert_eq!(
                row.attempted_at,
                Some(row.created_at),
                "claimed in the insert's transaction"
            );
        }
        worker.complete(&order);
        assert_eq!(worker.recorded().status, RecordStatus::Applied);
    }

    producer.send(Message::Request(Request::new("r-3", vec![spec("other")])));
    let Message::Acknowledged(ack) = producer.recv() else {
        panic!("expected Acknowledged");
    };
    assert!(worker.try_recv(Duration::from_millis(200)).is_none());
    assert_eq!(state(&db, ack.jobs[0].id).await.state, JobState::Available);
    server.shutdown().await;
}
