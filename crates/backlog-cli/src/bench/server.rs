//! Through the ZeroMQ server: enqueue over the wire (one job per request from concurrent
//! producers, and batches), drain by remote workers, and enqueue→start latency over the wire.
//!
//! The server runs in this process on a loopback port with the bench's storage; producers and
//! workers are plain DEALER sockets on threads of their own speaking the protocol, the workers
//! answering each order at once (`Completed`), so the numbers are the server's and the
//! database's cost, not a worker's.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use backlog::Client;
use backlog_protocol::{
    decode, encode, Completed, Heartbeat, Held, Hello, JobSpec, Limits, Message, Request, Role,
};
use backlog_server::{Server, ServerConfig};

use super::measurement::Unit;
use super::scenarios::DEFAULT_CONCURRENCY;
use super::{unix_ns, Bench, Measurement, Noop};
use crate::percentiles::{ms, Samples};

/// Remote worker threads (each one session) and the capacity of each.
const WORKERS: usize = 2;

fn start_server(bench: &Bench) -> anyhow::Result<Server> {
    Server::start(
        Client::from_arc(bench.db.storage.clone()),
        ServerConfig {
            endpoint: "tcp://127.0.0.1:0".into(),
            ..ServerConfig::default()
        },
        Default::default(),
    )
    .context("could not start the ZeroMQ server")
}

fn socket(ctx: &zmq::Context, endpoint: &str) -> anyhow::Result<zmq::Socket> {
    let socket = ctx.socket(zmq::DEALER)?;
    socket.set_linger(0)?;
    socket.set_sndhwm(100_000)?;
    socket.set_rcvhwm(100_000)?;
    socket.connect(endpoint)?;
    Ok(socket)
}

fn send(socket: &zmq::Socket, message: &Message) -> anyhow::Result<()> {
    socket.send(encode(message)?, 0)?;
    Ok(())
}

fn recv(socket: &zmq::Socket) -> anyhow::Result<Message> {
    let bytes = socket.recv_bytes(0)?;
    Ok(decode(&bytes, &Limits::default())?)
}

fn hello(
    socket: &zmq::Socket,
    role: Role,
    worker_id: Option<String>,
    capacity: u32,
) -> anyhow::Result<()> {
    let worker = role == Role::Worker;
    send(
        socket,
        &Message::Hello(Hello {
            role,
            worker_id,
            kinds: if worker {
                vec![<Noop as backlog::JobArgs>::KIND.into()]
            } else {
                vec![]
            },
            queues: if worker { vec!["bench".into()] } else { vec![] },
            capacity: worker.then_some(capacity),
            holding: vec![],
            token: None,
            library: Some("backlog-bench".into()),
        }),
    )?;
    match recv(socket)? {
        Message::Welcome(_) => Ok(()),
        other => anyhow::bail!("expected Welcome, got {other:?}"),
    }
}

/// No-op remote workers: each answers every order at once and records enqueue→start.
struct RemoteWorkers {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    latencies: Arc<Mutex<Vec<Duration>>>,
    threads: Vec<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl RemoteWorkers {
    fn start(endpoint: &str, capacity: u32) -> anyhow::Result<RemoteWorkers> {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for i in 0..WORKERS {
            let (endpoint, stop, done, latencies) = (
                endpoint.to_owned(),
                stop.clone(),
                done.clone(),
                latencies.clone(),
            );
            threads.push(std::thread::spawn(move || -> anyhow::Result<()> {
                let ctx = zmq::Context::new();
                let socket = socket(&ctx, &endpoint)?;
                hello(
                    &socket,
                    Role::Worker,
                    Some(format!("bench-remote-{i}")),
                    capacity,
                )?;
                socket.set_rcvtimeo(100)?;
                let mut beat = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let message = match socket.recv_bytes(0) {
                        Ok(bytes) => Some(decode(&bytes, &Limits::default())?),
                        Err(zmq::Error::EAGAIN) => None,
                        Err(e) => return Err(e.into()),
                    };
                    if let Some(Message::Order(order)) = message {
                        let sent = order
                            .args
                            .get("sent_ns")
                            .and_then(|v| v.as_u64())
                            .unwrap_or(0);
                        if sent > 0 {
                            let waited = Duration::from_nanos(unix_ns().saturating_sub(sent));
                            latencies
                                .lock()
                                .map_err(|_| anyhow::anyhow!("poisoned"))?
                                .push(waited);
                        }
                        send(
                            &socket,
                            &Message::Completed(Completed {
                                job_id: order.job_id,
                                lease: order.lease,
                                duration_us: 0,
                                result: None,
                            }),
                        )?;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    if beat.elapsed() > Duration::from_secs(2) {
                        beat = Instant::now();
                        send(
                            &socket,
                            &Message::Heartbeat(Heartbeat {
                                held: Vec::<Held>::new(),
                                capacity: None,
                            }),
                        )?;
                    }
                }
                Ok(())
            }));
        }
        Ok(RemoteWorkers {
            stop,
            done,
            latencies,
            threads,
        })
    }

    async fn wait_for(&self, n: u64, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.done.load(Ordering::Relaxed) < n {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }

    fn stop(self) -> anyhow::Result<Vec<Duration>> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join()
                .map_err(|_| anyhow::anyhow!("a remote worker thread panicked"))??;
        }
        let latencies = self.latencies.lock().map(|l| l.clone()).unwrap_or_default();
        Ok(latencies)
    }
}

fn noop_spec(sent_ns: u64) -> JobSpec {
    let mut spec = JobSpec::new(
        <Noop as backlog::JobArgs>::KIND,
        serde_json::json!({ "sent_ns": sent_ns }),
    );
    spec.queue = Some("bench".into());
    spec
}

/// Sends `requests` requests of `per_request` jobs from one producer session; waits for each.
fn produce(endpoint: &str, tag: usize, requests: usize, per_request: usize) -> anyhow::Result<()> {
    let ctx = zmq::Context::new();
    let socket = socket(&ctx, endpoint)?;
    hello(&socket, Role::Producer, None, 0)?;
    for r in 0..requests {
        let request_id = format!("bench-{}-{tag}-{r}", std::process::id());
        send(
            &socket,
            &Message::Request(Request::new(
                request_id,
                (0..per_request).map(|_| noop_spec(0)).collect(),
            )),
        )?;
        match recv(&socket)? {
            Message::Acknowledged(_) => {}
            other => anyhow::bail!("expected Acknowledged, got {other:?}"),
        }
    }
    Ok(())
}

async fn produce_all(
    endpoint: &str,
    producers: usize,
    requests: usize,
    per_request: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut threads = Vec::new();
    for p in 0..producers {
        let endpoint = endpoint.to_owned();
        threads.push(tokio::task::spawn_blocking(move || {
            produce(&endpoint, p, requests, per_request)
        }));
    }
    for t in threads {
        t.await??;
    }
    Ok(started.elapsed())
}

/// Enqueue through the server: single-job requests from concurrent producers, then batches.
pub(crate) async fn enqueue(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let server = start_server(bench)?;
    let endpoint = server.endpoint().to_owned();
    let producers = bench.args.producers.max(1);
    let per_producer = (bench.args.single_jobs / producers).max(1);
    let single = produce_all(&endpoint, producers, per_producer, 1).await?;
    let batch = bench.args.batch.clamp(1, 1000);
    let batches = (bench.args.jobs / batch).max(1);
    let bulk = produce_all(&endpoint, 1, batches, batch).await?;
    server.shutdown().await;
    Ok(vec![
        Measurement::rate(
            "server: enqueue, one job per request",
            (producers * per_producer) as u64,
            single,
        )
        .setting("producers", producers)
        .detail(format!(
            "{producers} producer sessions, acknowledged after commit"
        )),
        Measurement::rate("server: enqueue, batches", (batches * batch) as u64, bulk)
            .setting("batch", batch)
            .detail(format!("{batches} requests of {batch} jobs, one session")),
    ])
}

/// Drain a backlog through the server to remote no-op workers.
pub(crate) async fn drain(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let mut measured = Vec::new();
    for concurrency in bench.concurrencies(DEFAULT_CONCURRENCY) {
        bench.reset().await?;
        measured.push(drain_at(bench, concurrency).await?);
    }
    Ok(measured)
}

async fn drain_at(bench: &Bench, concurrency: usize) -> anyhow::Result<Measurement> {
    let n = bench.args.jobs;
    let client = Client::from_arc(bench.db.storage.clone());
    super::scenarios::enqueue_bulk(&client, n, bench.args.batch.max(1)).await?;
    let server = start_server(bench)?;
    let capacity = (concurrency / WORKERS).max(1) as u32;
    let started = Instant::now();
    let workers = RemoteWorkers::start(server.endpoint(), capacity)?;
    let finished = workers.wait_for(n as u64, Duration::from_secs(600)).await;
    let elapsed = started.elapsed();
    let ran = workers.done.load(Ordering::Relaxed);
    workers.stop()?;
    server.shutdown().await;
    anyhow::ensure!(finished, "only {ran} of {n} jobs ran within 600 s");
    Ok(Measurement::rate(
        format!("server: drain {n} by remote workers"),
        n as u64,
        elapsed,
    )
    .concurrency(concurrency)
    .setting("sessions", WORKERS)
    .detail(format!(
        "{WORKERS} worker sessions × capacity {capacity}, no-op jobs"
    )))
}

/// Enqueue→start over the wire at steady offered loads: a producer session enqueues one job
/// per request; idle remote workers record when its order arrives.
pub(crate) async fn latency(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let mut rows = Vec::new();
    for &per_sec in &bench.args.rates {
        bench.reset().await?;
        let server = start_server(bench)?;
        let endpoint = server.endpoint().to_owned();
        let workers = RemoteWorkers::start(&endpoint, 64)?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let total = per_sec as u64 * bench.args.latency_secs;
        let producer = {
            let endpoint = endpoint.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let ctx = zmq::Context::new();
                let socket = socket(&ctx, &endpoint)?;
                hello(&socket, Role::Producer, None, 0)?;
                let interval = Duration::from_secs_f64(1.0 / f64::from(per_sec.max(1)));
                let start = Instant::now();
                for i in 0..total {
                    let due = start + interval.mul_f64(i as f64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    send(
                        &socket,
                        &Message::Request(Request::new(
                            format!("lat-{}-{per_sec}-{i}", std::process::id()),
                            vec![noop_spec(unix_ns())],
                        )),
                    )?;
                }
                // Answers are counted, not awaited one by one, so the offered load holds.
                for _ in 0..total {
                    match recv(&socket)? {
                        Message::Acknowledged(_) => {}
                        other => anyhow::bail!("expected Acknowledged, got {other:?}"),
                    }
                }
                Ok(())
            })
        };
        producer.await??;
        workers.wait_for(total, Duration::from_secs(30)).await;
        let samples = Samples::new(workers.stop()?);
        server.shutdown().await;
        rows.push(
            Measurement::latency(
                format!("server: enqueue→start at {per_sec} jobs/s"),
                &samples,
            )
            .setting("rate", per_sec)
            .detail(format!(
                "p50 / p99 over the wire of {} jobs (max {})",
                samples.len(),
                ms(samples.max())
            )),
        );
    }
    Ok(rows)
}

/// Idle sessions held open by the memory scenario.
const IDLE_SESSIONS: usize = 1_000;
/// Orders the memory scenario's worker session holds without answering.
const HELD_ORDERS: u32 = 1_000;

/// A free loopback port (bound and released; the child binds it a moment later).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Resident and peak resident memory of a process, in bytes (Linux `/proc`).
fn rss(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("could not read the server's memory (/proc is needed: Linux only)")?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Server memory: a separate `backlog serve --zmq` process on a backlog of --jobs jobs, then
/// with 1,000 idle producer sessions and a worker session holding 1,000 unanswered orders.
pub(crate) async fn memory(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let n = bench.args.jobs;
    let client = Client::from_arc(bench.db.storage.clone());
    super::scenarios::enqueue_bulk(&client, n, bench.args.batch.max(1)).await?;
    let endpoint = format!("tcp://127.0.0.1:{}", free_port()?);
    let http = format!("127.0.0.1:{}", free_port()?);
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args([
            "serve",
            "--no-maintenance",
            "--zmq",
            &endpoint,
            "--http",
            &http,
        ])
        .args(["--database", &bench.url, "--schema", &bench.args.schema])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("could not start `backlog serve`")?;
    let pid = child.id();
    let stdout = child.stdout.take().context("no stdout")?;
    let measured =
        tokio::task::spawn_blocking(move || -> anyhow::Result<([(u64, u64); 3], usize)> {
            use std::io::BufRead;
            let mut lines = std::io::BufReader::new(stdout).lines();
            loop {
                match lines.next() {
                    Some(line) => {
                        if line?.contains("ZeroMQ server listening") {
                            break;
                        }
                    }
                    None => anyhow::bail!("`backlog serve` exited before listening"),
                }
            }
            std::thread::spawn(move || lines.for_each(drop));
            std::thread::sleep(Duration::from_secs(1));
            let idle = rss(pid)?;
            // A context holds at most 1,023 sockets (libzmq's default; zmq 0.9 cannot raise it):
            // one context per 500 sessions.
            let contexts: Vec<zmq::Context> = (0..IDLE_SESSIONS.div_ceil(500) + 1)
                .map(|_| zmq::Context::new())
                .collect();
            let mut sockets = Vec::with_capacity(IDLE_SESSIONS + 1);
            for i in 0..IDLE_SESSIONS {
                let s = socket(&contexts[i / 500], &endpoint)?;
                hello(&s, Role::Producer, None, 0)?;
                sockets.push(s);
            }
            let worker = socket(&contexts[contexts.len() - 1], &endpoint)?;
            hello(
                &worker,
                Role::Worker,
                Some("bench-holder".into()),
                HELD_ORDERS,
            )?;
            // Let the orders go out, then one heartbeat round on every session.
            std::thread::sleep(Duration::from_secs(2));
            let connected = rss(pid)?;
            for s in &sockets {
                send(
                    s,
                    &Message::Heartbeat(Heartbeat {
                        held: vec![],
                        capacity: None,
                    }),
                )?;
            }
            std::thread::sleep(Duration::from_secs(2));
            let after = rss(pid)?;
            // The orders the worker session was sent (it answers none).
            let mut orders = 0;
            while worker.poll(zmq::POLLIN, 0)? > 0 {
                if matches!(recv(&worker)?, Message::Order(_)) {
                    orders += 1;
                }
            }
            drop(worker);
            drop(sockets);
            drop(contexts);
            Ok(([idle, connected, after], orders))
        })
        .await?;
    let _ = child.kill();
    let _ = child.wait();
    let ([idle, connected, after], orders) = measured?;
    Ok(vec![
        Measurement::new(
            format!("server RSS, {n} jobs waiting"),
            mb(idle.0),
            Unit::Megabytes,
        )
        .detail("a `backlog serve --zmq` process, no sessions"),
        Measurement::new(
            format!("server RSS, +{IDLE_SESSIONS} sessions"),
            mb(connected.0.max(after.0)),
            Unit::Megabytes,
        )
        .detail(format!(
            "{IDLE_SESSIONS} idle producers (one heartbeat round) + a worker holding {orders} orders"
        )),
        Measurement::new("server peak RSS (VmHWM)", mb(after.1), Unit::Megabytes)
            .detail("over the whole run"),
    ])
}
