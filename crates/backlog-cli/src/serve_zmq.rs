//! `backlog serve --zmq ENDPOINT` (the ZeroMQ server) and `backlog keygen`.

use std::time::Duration;

use anyhow::Context;
use backlog::Client;
use backlog_server::{decode_key, encode_key, CurveConfig, CurveKeyPair, Server, ServerConfig};
use clap::Args;

/// Options of the ZeroMQ server.
#[derive(Debug, Clone, Args)]
pub struct ZmqArgs {
    /// Serve the ZeroMQ protocol on this endpoint, e.g. `tcp://127.0.0.1:7400` (port 0 picks
    /// a free port; the one bound is printed). Bind `tcp://0.0.0.0:PORT` only with CURVE keys.
    #[arg(long, value_name = "ENDPOINT")]
    pub zmq: Option<String>,
    /// The server's CURVE secret key (Z85, from `backlog keygen`): encrypts connections and
    /// admits only `--allow-client` keys.
    // Z85 keys may begin with `-`.
    #[arg(
        long,
        env = "BACKLOG_CURVE_SECRET_KEY",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub curve_secret_key: Option<String>,
    /// A client's CURVE public key allowed to connect (repeatable; needs --curve-secret-key).
    #[arg(
        long = "allow-client",
        value_name = "PUBLIC_KEY",
        allow_hyphen_values = true
    )]
    pub allow_client: Vec<String>,
    /// How often clients send heartbeats, in milliseconds; three missed drop the session.
    #[arg(long, default_value_t = 5000)]
    pub heartbeat_ms: u64,
    /// How long a remote worker's lease lasts after each renewal, in milliseconds (at least
    /// three heartbeat intervals). An order lost with a dead server waits this long for the
    /// rescuer.
    #[arg(long, default_value_t = 30_000)]
    pub lease_ms: u64,
    /// Most orders outstanding over all workers of this server (jobq's `num`).
    #[arg(long)]
    pub max_active: Option<u32>,
}

impl ZmqArgs {
    /// The server's settings, or what is wrong with the flags.
    pub fn config(&self, endpoint: &str) -> anyhow::Result<ServerConfig> {
        let curve = match &self.curve_secret_key {
            None => {
                if !self.allow_client.is_empty() {
                    anyhow::bail!("--allow-client needs --curve-secret-key (run `backlog keygen` to make one)");
                }
                None
            }
            Some(secret) => {
                if self.allow_client.is_empty() {
                    anyhow::bail!(
                        "--curve-secret-key admits only --allow-client keys, and none was given"
                    );
                }
                let allowed = self
                    .allow_client
                    .iter()
                    .map(|key| decode_key(key, "an --allow-client key"))
                    .collect::<Result<Vec<_>, _>>()?;
                Some(CurveConfig {
                    server_secret: decode_key(secret, "--curve-secret-key")?,
                    allowed_clients: allowed,
                })
            }
        };
        if self.heartbeat_ms == 0 {
            anyhow::bail!("--heartbeat-ms must be at least 1");
        }
        let heartbeat = Duration::from_millis(self.heartbeat_ms);
        let lease = Duration::from_millis(self.lease_ms);
        // Leases last at least three heartbeat intervals (docs/protocol.md).
        if lease < heartbeat.saturating_mul(3) {
            anyhow::bail!(
                "--lease-ms {} is shorter than three heartbeat intervals ({} ms): leases would run out between renewals; raise --lease-ms or lower --heartbeat-ms",
                self.lease_ms,
                self.heartbeat_ms.saturating_mul(3)
            );
        }
        if self.max_active == Some(0) {
            anyhow::bail!("--max-active must be at least 1 (leave it out for no limit)");
        }
        Ok(ServerConfig {
            endpoint: endpoint.to_owned(),
            heartbeat,
            lease,
            max_active: self.max_active,
            curve,
            ..ServerConfig::default()
        })
    }
}

/// Starts the ZeroMQ server on `client`'s storage; prints the bound endpoint.
pub fn start(client: Client, config: ServerConfig) -> anyhow::Result<Server> {
    let server = Server::start(client, config, Default::default())
        .context("could not start the ZeroMQ server")?;
    println!("backlog: ZeroMQ server listening on {}", server.endpoint());
    Ok(server)
}

/// The dashboard's quiet / terminate buttons, sent through `control`.
pub fn worker_control(control: backlog_server::ServerControl) -> backlog_web::WorkerControl {
    std::sync::Arc::new(move |id, command| {
        let control = control.clone();
        Box::pin(async move {
            let command = match command {
                backlog_web::WorkerCommand::Terminate => backlog_server::Command::Terminate,
                _ => backlog_server::Command::Quiet,
            };
            control.command(Some(&id), command).await
        })
    })
}

/// `backlog keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {}

pub fn keygen(_args: KeygenArgs) -> anyhow::Result<()> {
    let pair = CurveKeyPair::generate()?;
    println!("public-key: {}", encode_key(&pair.public));
    println!("secret-key: {}", encode_key(&pair.secret));
    Ok(())
}
