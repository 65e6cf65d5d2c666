//! A private PostgreSQL cluster under a temporary directory, on its own port, that a scenario
//! may crash and restart (never the system cluster).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A running private cluster; dropping it stops it (immediately) and deletes its files.
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// `listen_addresses`.
    listen: String,
    /// Extra `-c name=value` server settings.
    settings: String,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL binary, as user `postgres` when we are root (the server refuses root).
fn pg_command(bin: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

fn run_pg(bin: &Path, args: &[&str]) {
    let out = pg_command(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}{}",
        bin.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pg_bin() -> PathBuf {
    let preferred = PathBuf::from("/usr/lib/postgresql/15/bin");
    if preferred.join("initdb").exists() {
        return preferred;
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server binaries are needed under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("no initdb under /usr/lib/postgresql/*/bin")
}

/// A free loopback port outside the kernel's ephemeral range: the cluster is stopped and
/// started again on it. A port from that range, once its listener is gone, may be
/// handed to any outgoing connection as its source port (or to a client's own reconnect
/// attempt, which then connects to itself), and the second bind fails with "address in use".
fn free_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let span = u32::from(low / 2).max(1);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    (0..span)
        .map(|i| (low / 2) + ((seed.wrapping_add(i.wrapping_mul(7919))) % span) as u16)
        .find(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port below the ephemeral range")
}

impl PgCluster {
    /// Creates and starts a cluster (trust auth, user postgres).
    pub fn start() -> PgCluster {
        PgCluster::start_full(&[], &[])
    }

    /// Creates and starts a cluster that also listens on `extra` addresses (host ends of
    /// network namespaces' links) and trusts connections from 10.0.0.0/8.
    pub fn start_listening(extra: &[&str]) -> PgCluster {
        PgCluster::start_full(extra, &[])
    }

    /// Creates and starts a cluster with extra server settings (`"max_connections=20"`).
    pub fn start_with(settings: &[&str]) -> PgCluster {
        PgCluster::start_full(&[], settings)
    }

    fn start_full(extra: &[&str], settings: &[&str]) -> PgCluster {
        let dir = std::env::temp_dir().join(format!(
            "backlog-faults-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster's directory");
        if is_root() {
            let status = Command::new("chown")
                .arg("postgres")
                .arg(&dir)
                .status()
                .expect("run chown");
            assert!(status.success(), "chown postgres {}", dir.display());
        }
        let cluster = PgCluster {
            bin: pg_bin(),
            port: free_port(),
            listen: std::iter::once("127.0.0.1")
                .chain(extra.iter().copied())
                .collect::<Vec<_>>()
                .join(","),
            dir,
            settings: settings.iter().map(|s| format!(" -c {s}")).collect(),
        };
        let data = cluster.dir.to_string_lossy().into_owned();
        run_pg(
            &cluster.bin.join("initdb"),
            &[
                "-D",
                &data,
                "--auth=trust",
                "--username=postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        if !extra.is_empty() {
            let hba = cluster.dir.join("pg_hba.conf");
            let mut text = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
            text.push_str("host all all 10.0.0.0/8 trust\n");
            std::fs::write(&hba, text).expect("write pg_hba.conf");
        }
        cluster.start_server();
        cluster
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        self.url_as("postgres", "postgres")
    }

    /// The URL of database `db` as role `user`.
    pub fn url_as(&self, user: &str, db: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_server(&self) {
        let data = self.dir.to_string_lossy().into_owned();
        let log = self.dir.join("server.log").to_string_lossy().into_owned();
        let options = format!(
            "-p {} -k {data} -c listen_addresses={} -c fsync=on{}",
            self.port, self.listen, self.settings
        );
        run_pg(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-l", &log, "-w", "-o", &options, "start"],
        );
    }

    /// Stops the server the way a crash would (`pg_ctl stop -m immediate`: no checkpoint,
    /// clients cut off; recovery replays the WAL at the next start).
    pub fn crash(&self) {
        let data = self.dir.to_string_lossy().into_owned();
        run_pg(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "-w", "stop"],
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.to_string_lossy().into_owned();
        let _ = pg_command(&self.bin.join("pg_ctl"))
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
