//! `backlog demo`: a realistic mix of jobs run in-process, with a progress bar and a summary.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use backlog::storage::JobListParams;
use backlog::{
    Backoff, Client, InsertOpts, Job, JobArgs, JobError, JobState, Priority, Runner, Worker,
    Workers,
};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::database::Database;

#[cfg(feature = "server")]
pub mod server;
use crate::percentiles::{ms, Samples};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to run: defaults to a fresh SQLite file in the temp directory.
    #[arg(long, short = 'd', env = "BACKLOG_DEMO_DATABASE_URL")]
    database: Option<String>,
    /// PostgreSQL schema for the demo's tables (emptied first; refused when it holds anything
    /// the demo did not create, unless --force).
    #[arg(long, default_value = "backlog_demo")]
    schema: String,
    /// Empty the database even when it holds jobs, queue settings or cron schedules that the
    /// demo did not create.
    #[arg(long)]
    force: bool,
    /// How many jobs to enqueue (default: 5,000; 500 with --server).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run jobq's example over the wire instead: a ZeroMQ server, separate worker processes
    /// (two in Rust, one in Python when its client is installed) and a remote producer
    /// (needs the `server` feature).
    #[arg(long)]
    server: bool,
    /// After the run, serve the dashboard on the demo's database until Ctrl-C.
    #[arg(long)]
    serve: bool,
    /// The dashboard's address with --serve.
    #[arg(long, default_value = crate::serve::DEFAULT_HTTP)]
    http: std::net::SocketAddr,
}

/// Latencies measured by the demo workers: due time to start, first attempts only.
type Latencies = Arc<Mutex<Vec<Duration>>>;

#[derive(Serialize, Deserialize)]
struct Thumbnail {
    image_id: u64,
    size: u32,
}
impl JobArgs for Thumbnail {
    const KIND: &'static str = "thumbnail";
    fn default_opts() -> InsertOpts {
        InsertOpts::new().queue("media")
    }
}

#[derive(Serialize, Deserialize)]
struct SendEmail {
    to: String,
    template: String,
}
impl JobArgs for SendEmail {
    const KIND: &'static str = "send_email";
    fn default_opts() -> InsertOpts {
        InsertOpts::new().queue("emails").max_attempts(5)
    }
}

#[derive(Serialize, Deserialize)]
struct ImportRow {
    file: String,
    row: u32,
}
impl JobArgs for ImportRow {
    const KIND: &'static str = "import_row";
    fn default_opts() -> InsertOpts {
        InsertOpts::new().queue("imports").priority(Priority::LOW)
    }
}

#[derive(Serialize, Deserialize)]
struct DetectFaces {
    image_id: u64,
}
impl JobArgs for DetectFaces {
    const KIND: &'static str = "detect_faces";
    fn default_opts() -> InsertOpts {
        InsertOpts::new().queue("media").max_attempts(3)
    }
}

#[derive(Serialize, Deserialize)]
struct Webhook {
    url: String,
}
impl JobArgs for Webhook {
    const KIND: &'static str = "webhook";
    fn default_opts() -> InsertOpts {
        InsertOpts::new().max_attempts(3)
    }
}

/// Shared by every demo worker: simulated work with a given duration and failure profile.
struct Demo<A> {
    latencies: Latencies,
    millis: (u64, u64),
    _args: std::marker::PhantomData<fn() -> A>,
}

impl<A> Demo<A> {
    fn new(latencies: &Latencies, millis: (u64, u64)) -> Self {
        Demo {
            latencies: latencies.clone(),
            millis,
            _args: std::marker::PhantomData,
        }
    }

    async fn simulate<B>(&self, job: &Job<B>) {
        if job.attempt == 1 {
            let waited = (chrono::Utc::now() - job.scheduled_at)
                .to_std()
                .unwrap_or_default();
            if let Ok(mut l) = self.latencies.lock() {
                l.push(waited);
            }
        }
        tokio::time::sleep(Duration::from_millis(fastrand::u64(
            self.millis.0..=self.millis.1,
        )))
        .await;
    }
}

fn quick_retries() -> Backoff {
    Backoff::Fixed(Duration::from_millis(300))
}

impl Worker for Demo<Thumbnail> {
    type Args = Thumbnail;
    async fn work(&self, job: Job<Thumbnail>) -> Result<(), JobError> {
        self.simulate(&job).await;
        Ok(())
    }
}

impl Worker for Demo<SendEmail> {
    type Args = SendEmail;
    async fn work(&self, job: Job<SendEmail>) -> Result<(), JobError> {
        self.simulate(&job).await;
        // The mail server is flaky: one first attempt in ten times out.
        if job.attempt == 1 && job.id % 10 == 0 {
            return Err(JobError::retry(format!(
                "SMTP timeout sending {} to {}",
                job.args.template, job.args.to
            )));
        }
        Ok(())
    }
    fn backoff(&self) -> Backoff {
        quick_retries()
    }
}

impl Worker for Demo<ImportRow> {
    type Args = ImportRow;
    async fn work(&self, job: Job<ImportRow>) -> Result<(), JobError> {
        self.simulate(&job).await;
        if job.args.row % 97 == 13 {
            return Err(JobError::discard(format!(
                "{} row {}: malformed CSV, not retrying",
                job.args.file, job.args.row
            )));
        }
        Ok(())
    }
}

impl Worker for Demo<DetectFaces> {
    type Args = DetectFaces;
    async fn work(&self, job: Job<DetectFaces>) -> Result<(), JobError> {
        self.simulate(&job).await;
        if job.attempt == 1 && job.args.image_id % 7 == 0 {
            panic!("model crashed on image {}", job.args.image_id);
        }
        Ok(())
    }
    fn backoff(&self) -> Backoff {
        quick_retries()
    }
}

impl Worker for Demo<Webhook> {
    type Args = Webhook;
    async fn work(&self, job: Job<Webhook>) -> Result<(), JobError> {
        self.simulate(&job).await;
        if job.args.url.contains("gone") {
            return Err(JobError::retry(format!("POST {}: 410 Gone", job.args.url)));
        }
        Ok(())
    }
    fn backoff(&self) -> Backoff {
        quick_retries()
    }
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // Installed before anything starts, and awaited by the progress loop: a Ctrl-C at any moment
    // interrupts the demo, none is lost between two turns of the loop.
    let mut interrupt = std::pin::pin!(crate::serve::stop_signal()?);
    if args.server {
        #[cfg(feature = "server")]
        return server::run(args, interrupt.as_mut()).await;
        #[cfg(not(feature = "server"))]
        anyhow::bail!(
            "`demo --server` needs the ZeroMQ server: build with `--features server` (it links libzmq; Debian: apt-get install libzmq3-dev pkg-config)"
        );
    }
    let (db, url) = prepare(
        &args,
        &crate::disposable::Owned {
            command: "demo",
            queues: &["media", "emails", "imports", "default"],
            kinds: &[
                Thumbnail::KIND,
                SendEmail::KIND,
                ImportRow::KIND,
                DetectFaces::KIND,
                Webhook::KIND,
            ],
        },
    )
    .await?;
    println!("Backlog demo on {}", db.describe);

    let client = Client::from_arc(db.storage.clone());
    let started = Instant::now();
    let total = enqueue_mix(&client, args.jobs.unwrap_or(5_000)).await?;
    let enqueue_time = started.elapsed();
    println!(
        "enqueued {total} jobs in {} (5 kinds, 4 queues, priorities, some scheduled for later)",
        ms(enqueue_time)
    );

    let latencies: Latencies = Arc::default();
    let workers = Workers::new()
        .register(Demo::<Thumbnail>::new(&latencies, (2, 20)))
        .register(Demo::<SendEmail>::new(&latencies, (1, 10)))
        .register(Demo::<ImportRow>::new(&latencies, (0, 2)))
        .register(Demo::<DetectFaces>::new(&latencies, (5, 40)))
        .register(Demo::<Webhook>::new(&latencies, (1, 5)));
    let run_started = Instant::now();
    let runner = Runner::builder(db.storage.clone(), workers)
        .queue("media", 50)
        .queue("emails", 20)
        .queue("imports", 50)
        .queue("default", 10)
        .configure(|c| c.maintenance_config.schedule_interval = Duration::from_millis(200))
        .start()?;

    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} finished  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    loop {
        let s = runner.stats();
        let finished = s.completed + s.discarded + s.cancelled;
        bar.set_position(finished);
        bar.set_message(format!("{} retries", s.retried));
        if finished >= total as u64 {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = interrupt.as_mut() => {
                bar.abandon_with_message("interrupted");
                break;
            }
        }
    }
    let elapsed = run_started.elapsed();
    bar.finish();
    runner.shutdown(Duration::from_secs(10)).await;

    let target = target(&args, &url);
    summary(&db, &target, total, elapsed, &latencies).await?;
    crate::serve::after_demo(&db, &target, args.serve, args.http).await
}

/// Opens and migrates the demo's database (a fresh SQLite file unless `--database`), refuses
/// one holding what `owned` does not name (unless `--force`), and empties it.
async fn prepare(
    args: &DemoArgs,
    owned: &crate::disposable::Owned<'_>,
) -> anyhow::Result<(Database, String)> {
    let url = match &args.database {
        Some(url) => url.clone(),
        None => {
            let dir = std::env::temp_dir().join(format!("backlog-demo-{}", std::process::id()));
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("could not create {}", dir.display()))?;
            format!("sqlite://{}", dir.join("demo.sqlite3").display())
        }
    };
    let db = Database::open(&url, &args.schema).await?;
    backlog::migrate_up(&*db.storage)
        .await
        .context("could not migrate the demo database")?;
    crate::disposable::ensure(&*db.storage, owned, &db.describe, args.force).await?;
    db.truncate_all()
        .await
        .context("could not empty the demo database")?;
    Ok((db, url))
}

/// How to name the demo's database to other commands.
fn target(args: &DemoArgs, url: &str) -> String {
    if url.starts_with("postgres") {
        format!("{url} --schema {}", args.schema)
    } else {
        url.to_owned()
    }
}

async fn enqueue_mix(client: &Client, jobs: usize) -> anyhow::Result<usize> {
    let mut prepared = Vec::with_capacity(jobs);
    for i in 0..jobs {
        let n = i as u64;
        let job = match i % 20 {
            0..=5 => client.prepare(
                &Thumbnail {
                    image_id: n,
                    size: 256,
                },
                InsertOpts::new().priority(if i % 3 == 0 {
                    Priority::HIGH
                } else {
                    Priority::NORMAL
                }),
            )?,
            6..=9 => client.prepare(
                &SendEmail {
                    to: format!("user{i}@example.com"),
                    template: "welcome".into(),
                },
                InsertOpts::new(),
            )?,
            10..=15 => client.prepare(
                &ImportRow {
                    file: "customers.csv".into(),
                    row: i as u32,
                },
                InsertOpts::new(),
            )?,
            16 | 17 => client.prepare(&DetectFaces { image_id: n }, InsertOpts::new())?,
            18 => client.prepare(
                &Webhook {
                    url: if i % 40 == 18 {
                        format!("https://gone.example.com/{i}")
                    } else {
                        format!("https://hooks.example.com/{i}")
                    },
                },
                InsertOpts::new(),
            )?,
            _ => client.prepare(
                &SendEmail {
                    to: format!("user{i}@example.com"),
                    template: "digest".into(),
                },
                InsertOpts::new()
                    .run_after(Duration::from_millis(500 + fastrand::u64(0..2500)))
                    .tag("scheduled"),
            )?,
        };
        prepared.push(job);
    }
    let mut total = 0;
    for chunk in prepared.chunks(1000) {
        total += client.insert_prepared(chunk.to_vec()).await?.len();
    }
    Ok(total)
}

async fn summary(
    db: &Database,
    url: &str,
    total: usize,
    elapsed: Duration,
    latencies: &Latencies,
) -> anyhow::Result<()> {
    let counts = db.storage.job_count_by_state().await?;
    println!("\nJobs per state:");
    for state in JobState::ALL {
        let n: u64 = counts
            .iter()
            .filter(|c| c.state == state)
            .map(|c| c.count)
            .sum();
        if n > 0 {
            println!("  {:<10} {n:>8}", state.as_str());
        }
    }
    let rows = db
        .storage
        .job_list(JobListParams {
            limit: total as u32 + 10,
            ..Default::default()
        })
        .await?;
    let retried = rows.iter().filter(|r| r.attempt > 1).count();
    let panics = rows
        .iter()
        .flat_map(|r| &r.errors)
        .filter(|e| e.panicked)
        .count();
    let durations = Samples::new(
        rows.iter()
            .flat_map(|r| r.attempt_durations_us.iter())
            .map(|us| Duration::from_micros((*us).max(0) as u64))
            .collect(),
    );
    let latencies = Samples::new(latencies.lock().map(|l| l.clone()).unwrap_or_default());
    println!("\nRun:");
    println!("  throughput            {:.0} jobs/s ({total} jobs in {:.2} s, including retries and scheduled jobs)", total as f64 / elapsed.as_secs_f64(), elapsed.as_secs_f64());
    println!("  jobs retried          {retried} (caught panics: {panics})");
    println!(
        "  due→start latency     p50 {}  p99 {}  ({} first attempts)",
        ms(latencies.percentile(50.0)),
        ms(latencies.percentile(99.0)),
        latencies.len()
    );
    println!(
        "  attempt duration      p50 {}  p99 {}  max {}",
        ms(durations.percentile(50.0)),
        ms(durations.percentile(99.0)),
        ms(durations.max())
    );
    if let Some(example) = rows.iter().find(|r| r.state == JobState::Discarded) {
        println!(
            "\nDiscarded jobs keep their history. Inspect one and retry it:\n  backlog jobs --database {url} show {id}\n  backlog jobs --database {url} retry {id}",
            id = example.id
        );
    }
    Ok(())
}
