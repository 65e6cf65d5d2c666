//! `backlog serve`: the HTTP API, dashboard and `/metrics` on one address, plus the maintenance
//! services (scheduler, rescuer, cleaner, cron), leader-elected with every other process sharing
//! the database. Stops gracefully on Ctrl-C or SIGTERM.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use backlog::maintenance::{Maintainer, MaintenanceConfig};
use backlog::Client;
use backlog_web::{Auth, BasicUser, Role, WebOptions};
use clap::Args;

use crate::cli::DatabaseArgs;

/// The default address: loopback only, so the dashboard is off the network unless asked.
pub const DEFAULT_HTTP: &str = "127.0.0.1:9470";

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Address of the HTTP API, dashboard and /metrics. Binding beyond loopback needs
    /// --password (or --insecure-no-auth).
    #[arg(long, default_value = DEFAULT_HTTP, env = "BACKLOG_HTTP")]
    pub http: SocketAddr,
    /// Mount everything under this path, e.g. /backlog.
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// HTTP Basic user name (with --password).
    #[arg(long, default_value = "admin", env = "BACKLOG_WEB_USER")]
    pub user: String,
    /// HTTP Basic password of the admin user; without it, nobody is asked.
    #[arg(long, env = "BACKLOG_WEB_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Password of a read-only user named `viewer`.
    #[arg(long, env = "BACKLOG_WEB_VIEWER_PASSWORD", hide_env_values = true)]
    pub viewer_password: Option<String>,
    /// Serve a non-loopback address without authentication (behind your own proxy's auth).
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Allow enqueueing jobs from the API (`POST /api/jobs`).
    #[arg(long)]
    pub allow_enqueue: bool,
    /// Do not run the maintenance services in this process.
    #[arg(long)]
    pub no_maintenance: bool,
    /// Apply pending migrations before serving.
    #[arg(long)]
    pub migrate: bool,
    /// The ZeroMQ server's options (`--zmq ENDPOINT`, CURVE keys).
    #[cfg(feature = "server")]
    #[command(flatten)]
    pub zmq: crate::serve_zmq::ZmqArgs,
}

/// Web options from the command line, refusing an exposed address without authentication.
pub fn options(args: &ServeArgs) -> anyhow::Result<WebOptions> {
    let mut users = Vec::new();
    if let Some(password) = &args.password {
        users.push(BasicUser {
            user: args.user.clone(),
            password: password.clone(),
            role: Role::Admin,
        });
    }
    if let Some(password) = &args.viewer_password {
        users.push(BasicUser {
            user: "viewer".into(),
            password: password.clone(),
            role: Role::ReadOnly,
        });
    }
    if users.is_empty() && !args.http.ip().is_loopback() && !args.insecure_no_auth {
        bail!(
            "refusing to serve {} without authentication: set --password (or BACKLOG_WEB_PASSWORD), \
             bind to 127.0.0.1, or pass --insecure-no-auth if a proxy authenticates callers",
            args.http
        );
    }
    Ok(WebOptions {
        prefix: args.prefix.clone(),
        auth: if users.is_empty() {
            Auth::None
        } else {
            Auth::Basic(users)
        },
        enqueue: args.allow_enqueue,
        ..WebOptions::default()
    })
}

/// Installs the process-wide Prometheus recorder, so that the library's metrics appear on
/// `/metrics`.
pub fn prometheus() -> anyhow::Result<metrics_exporter_prometheus::PrometheusHandle> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("could not install the Prometheus recorder")
}

/// Installs the Ctrl-C and SIGTERM handlers now, and returns what resolves on either. Made once
/// and awaited in a loop, it misses no signal sent between two turns of the loop.
pub(crate) fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static>
{
    backlog::shutdown_signal().context("could not install the Ctrl-C and SIGTERM handlers")
}

/// Serves `client` with `options` on `addr` until `stop` resolves; prints the address.
pub async fn serve_http(
    client: Client,
    mut options: WebOptions,
    addr: SocketAddr,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    options.metrics = Some(prometheus()?);
    let prefix = options.prefix.trim_end_matches('/').to_owned();
    let app = backlog_web::router(client, options)?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("could not listen on {addr} (is the port in use? pick another with --http)")
    })?;
    let local = listener.local_addr().context("no local address")?;
    println!("Dashboard: http://{local}{prefix}/   (API under {prefix}/api, metrics at {prefix}/metrics)");
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .context("the HTTP server failed")
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // The handlers go in before anything starts. Until they are in, a SIGTERM kills the process
    // with the signal's default action: a leading maintainer would not resign, and the others
    // would wait out its lease.
    let stop = stop_signal()?;
    #[cfg_attr(not(feature = "server"), allow(unused_mut))] // set below with the server
    let mut options = options(&args)?;
    let db = args.db.open().await?;
    if args.migrate {
        backlog::migrate_up(&*db.storage)
            .await
            .context("could not apply the migrations")?;
    }
    println!("Backlog serving {}", db.describe);
    let maintainer = (!args.no_maintenance).then(|| {
        let id = format!("serve:{}:{}", std::process::id(), args.http);
        Maintainer::start(db.storage.clone(), id, MaintenanceConfig::default())
    });
    let client = Client::from_arc(db.storage.clone());
    #[cfg(feature = "server")]
    let zmq = match &args.zmq.zmq {
        Some(endpoint) => {
            let config = args.zmq.config(endpoint)?;
            let server = crate::serve_zmq::start(client.clone(), config)?;
            options.worker_control = Some(crate::serve_zmq::worker_control(server.control()));
            Some(server)
        }
        None => None,
    };
    let served = serve_http(client, options, args.http, stop).await;
    #[cfg(feature = "server")]
    if let Some(server) = zmq {
        server.shutdown().await;
    }
    if let Some(m) = maintainer {
        m.shutdown().await;
    }
    println!("Backlog server stopped");
    served
}

/// The end of `backlog demo`: serves the dashboard on the demo's database until Ctrl-C with
/// `--serve`, else says how to see it.
pub async fn after_demo(
    db: &crate::database::Database,
    target: &str,
    serve: bool,
    addr: SocketAddr,
) -> anyhow::Result<()> {
    if !serve {
        println!(
            "\nSee it in the dashboard: backlog serve --database {target}   (http://{addr}/), or run the demo with --serve"
        );
        return Ok(());
    }
    let stop = stop_signal()?;
    println!("\nServing the dashboard until Ctrl-C.");
    let client = Client::from_arc(db.storage.clone());
    serve_http(client, WebOptions::default(), addr, stop).await
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> ServeArgs {
        Cli::parse_from(std::iter::once("serve").chain(args.iter().copied())).serve
    }

    #[test]
    fn exposed_address_needs_auth() {
        assert!(options(&parse(&[])).is_ok(), "loopback by default");
        let err = options(&parse(&["--http", "0.0.0.0:9470"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("without authentication"), "{err}");
        let ok = options(&parse(&["--http", "0.0.0.0:9470", "--password", "x"])).unwrap();
        assert!(matches!(ok.auth, Auth::Basic(_)));
        assert!(options(&parse(&["--http", "0.0.0.0:9470", "--insecure-no-auth"])).is_ok());
        assert!(!options(&parse(&[])).unwrap().enqueue);
    }
}
