//! Network namespaces joined to the host by a veth pair, so a worker process can reach the
//! private PostgreSQL cluster over a link that a test cuts (iptables DROP inside the namespace)
//! and heals. Names and addresses are unique per test process and per namespace, so parallel
//! runs do not collide; dropping a [`Netns`] deletes the namespace, which deletes its end of the
//! veth pair (and so the pair) and its iptables rules with it, also when a test fails half-way.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace with a veth link to the host.
pub struct Netns {
    /// The namespace's name (for `ip netns exec`).
    pub name: String,
    host_if: String,
    /// The host side's address: PostgreSQL listens on it, workers inside connect to it.
    pub host_ip: String,
    cut: bool,
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Why namespaces cannot be used here (not root, no `ip` or `iptables`, no permission to
/// create one), or `None` when they can. Scenarios print the reason and skip.
pub fn unavailable() -> Option<String> {
    for (program, package) in [("ip", "iproute2"), ("iptables", "iptables")] {
        if run(program, &["-V"]).is_err() && run(program, &["--version"]).is_err() {
            return Some(format!(
                "`{program}` is missing (Debian: apt-get install {package})"
            ));
        }
    }
    match Netns::try_create() {
        Ok(ns) => run("ip", &["netns", "exec", &ns.name, "iptables", "-L", "-n"])
            .err()
            .map(|e| format!("iptables does not work in a namespace: {e}")),
        Err(e) => Some(format!(
            "cannot create a network namespace with a veth pair (root and CAP_NET_ADMIN are needed): {e}"
        )),
    }
}

impl Netns {
    /// Creates a namespace linked to the host; panics with the reason if it cannot.
    pub fn create() -> Netns {
        Netns::try_create().unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_create() -> Result<Netns, String> {
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(n < 64, "at most 64 namespaces per test process");
        // A /30 per namespace inside 10.0.0.0/8, from the pid's low 16 bits and the counter.
        let (a, b, c) = ((pid >> 8) & 0xff, pid & 0xff, n * 4);
        let ns = Netns {
            name: format!("blf-{pid}-{n}"),
            // Interface names are at most 15 bytes.
            host_if: format!("bh{}x{n}", pid % 1_000_000),
            host_ip: format!("10.{a}.{b}.{}", c + 1),
            cut: false,
        };
        let ns_if = format!("bn{}x{n}", pid % 1_000_000);
        let ns_ip = format!("10.{a}.{b}.{}/30", c + 2);
        run("ip", &["netns", "add", &ns.name])?;
        // From here on, dropping `ns` removes what was made.
        run(
            "ip",
            &[
                "link",
                "add",
                &ns.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &ns_if,
            ],
        )?;
        run("ip", &["link", "set", &ns_if, "netns", &ns.name])?;
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/30", ns.host_ip),
                "dev",
                &ns.host_if,
            ],
        )?;
        run("ip", &["link", "set", &ns.host_if, "up"])?;
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &ns.name, "ip"];
            all.extend_from_slice(args);
            run("ip", &all)
        };
        inside(&["addr", "add", &ns_ip, "dev", &ns_if])?;
        inside(&["link", "set", &ns_if, "up"])?;
        inside(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec` execs it, so the
    /// child keeps the pid that `spawn` reports).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// A PostgreSQL URL reaching `port` on the host side from inside the namespace.
    pub fn pg_url(&self, port: u16) -> String {
        format!("postgres://postgres@{}:{port}/postgres", self.host_ip)
    }

    fn rule(&self, op: &str) -> Result<(), String> {
        for (chain, dir) in [("OUTPUT", "-d"), ("INPUT", "-s")] {
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &self.name,
                    "iptables",
                    op,
                    chain,
                    dir,
                    &self.host_ip,
                    "-j",
                    "DROP",
                ],
            )?;
        }
        Ok(())
    }

    /// Cuts the namespace off the host: every packet to or from the host side is dropped
    /// (no reset: open connections hang as on a real partition).
    pub fn partition(&mut self) {
        self.rule("-A").unwrap_or_else(|e| panic!("{e}"));
        self.cut = true;
    }

    /// Removes the partition's rules.
    pub fn heal(&mut self) {
        if self.cut {
            self.rule("-D").unwrap_or_else(|e| panic!("{e}"));
            self.cut = false;
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end (and so the host end) and its rules;
        // the host end is deleted explicitly too in case a process still pins the namespace.
        let _ = run("ip", &["netns", "del", &self.name]);
        let _ = run("ip", &["link", "del", &self.host_if]);
    }
}
