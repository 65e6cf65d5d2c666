//! The suite's child processes, killed (and reaped) when the guard drops, also when a test
//! fails half-way.
//!
//! Each child is reaped by a thread of its own blocked in `wait()`, which sends the exit status
//! on a channel: waiting for an exit is a `recv_timeout` on that channel, woken by the exit
//! itself rather than by polling.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// One spawned `backlog-faults` process.
pub struct Proc {
    /// Receives the exit status from the reaper thread.
    exited: Receiver<ExitStatus>,
    /// The exit status, once received.
    status: Option<ExitStatus>,
    stdin: Option<ChildStdin>,
    /// Its process id.
    pub pid: u32,
    /// Where its standard output goes.
    pub out: PathBuf,
    /// Its ledger (workers only).
    pub ledger: Option<PathBuf>,
}

/// The path of the `backlog-faults` binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_backlog-faults");

/// Every process of a scenario.
#[derive(Default)]
pub struct Procs {
    procs: Vec<Proc>,
    dir: PathBuf,
    spawned: usize,
}

/// Settings of a worker process.
#[derive(Clone, Copy)]
pub struct WorkerOpts {
    pub lease_ms: u64,
    pub leader_ttl_ms: u64,
    pub concurrency: usize,
}

impl Procs {
    /// Processes whose files go to `dir`.
    pub fn new(dir: &Path) -> Procs {
        Procs {
            procs: Vec::new(),
            dir: dir.to_owned(),
            spawned: 0,
        }
    }

    fn spawn(&mut self, db: &str, args: &[String], ledger: Option<PathBuf>) -> u32 {
        self.spawn_with(
            Command::new(env!("CARGO_BIN_EXE_backlog-faults")),
            db,
            args,
            ledger,
        )
    }

    /// Spawns `command` (the `backlog-faults` binary, possibly behind a wrapper such as
    /// `ip netns exec` or an environment, that execs it under the same pid) with the suite's
    /// arguments.
    fn spawn_with(
        &mut self,
        mut command: Command,
        db: &str,
        args: &[String],
        ledger: Option<PathBuf>,
    ) -> u32 {
        self.spawned += 1;
        let out = self.dir.join(format!("proc-{}.out", self.spawned));
        let err = self.dir.join(format!("proc-{}.err", self.spawned));
        let mut child = command
            .arg("--database")
            .arg(db)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(File::create(&out).expect("create the output file"))
            .stderr(File::create(&err).expect("create the error file"))
            .spawn()
            .expect("spawn backlog-faults");
        let pid = child.id();
        let stdin = child.stdin.take();
        let (tx, exited) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = tx.send(status);
            }
        });
        self.procs.push(Proc {
            exited,
            status: None,
            stdin,
            pid,
            out,
            ledger,
        });
        pid
    }

    /// Starts a worker with its own ledger file.
    pub fn worker(&mut self, db: &str, opts: WorkerOpts) -> u32 {
        let (args, ledger) = self.worker_args(opts);
        self.spawn(db, &args, Some(ledger))
    }

    /// Starts a worker with its own ledger file through `wrapper`, a command (such as
    /// [`Netns::command`](crate::netns::Netns::command)) that ends with the binary's path,
    /// with `extra` worker arguments (such as `--poll-ms`).
    pub fn worker_via(
        &mut self,
        wrapper: Command,
        db: &str,
        opts: WorkerOpts,
        extra: &[&str],
    ) -> u32 {
        let (mut args, ledger) = self.worker_args(opts);
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        self.spawn_with(wrapper, db, &args, Some(ledger))
    }

    /// The arguments of a worker process and its (fresh) ledger file.
    fn worker_args(&self, opts: WorkerOpts) -> (Vec<String>, PathBuf) {
        let ledger = self.dir.join(format!("ledger-{}.log", self.spawned + 1));
        let args = vec![
            "worker".to_owned(),
            "--ledger".to_owned(),
            ledger.to_string_lossy().into_owned(),
            "--lease-ms".to_owned(),
            opts.lease_ms.to_string(),
            "--leader-ttl-ms".to_owned(),
            opts.leader_ttl_ms.to_string(),
            "--concurrency".to_owned(),
            opts.concurrency.to_string(),
        ];
        (args, ledger)
    }

    /// Starts a producer of `count` jobs of `job_ms` each, recording acknowledged ids.
    pub fn producer(&mut self, db: &str, count: u64, job_ms: u64) -> u32 {
        self.producer_at(db, count, job_ms, 0)
    }

    /// Like [`Procs::producer`], at most `rate` enqueues per second (0: unpaced).
    pub fn producer_at(&mut self, db: &str, count: u64, job_ms: u64, rate: u32) -> u32 {
        let acked = self.dir.join(format!("acked-{}.log", self.spawned + 1));
        let args = vec![
            "produce".to_owned(),
            "--acked".to_owned(),
            acked.to_string_lossy().into_owned(),
            "--count".to_owned(),
            count.to_string(),
            "--job-ms".to_owned(),
            job_ms.to_string(),
            "--rate".to_owned(),
            rate.to_string(),
        ];
        self.spawn(db, &args, None)
    }

    fn get(&mut self, pid: u32) -> &mut Proc {
        self.procs
            .iter_mut()
            .find(|p| p.pid == pid)
            .unwrap_or_else(|| panic!("no process {pid}"))
    }

    /// The process `pid`.
    pub fn proc(&self, pid: u32) -> &Proc {
        self.procs
            .iter()
            .find(|p| p.pid == pid)
            .unwrap_or_else(|| panic!("no process {pid}"))
    }

    /// SIGKILLs `pid` and waits until its reaper saw it exit.
    pub fn kill(&mut self, pid: u32) {
        self.get(pid).kill();
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to `pid`.
    pub fn signal(&self, pid: u32, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Waits (bounded) for `pid` to exit; true when it exited successfully.
    pub fn wait_exit(&mut self, pid: u32, timeout: Duration) -> bool {
        let status = self.get(pid).wait(timeout);
        status
            .unwrap_or_else(|| panic!("process {pid} still running after {timeout:?}"))
            .success()
    }

    /// Closes `pid`'s standard input (a worker then shuts down gracefully) and waits for it.
    pub fn stop(&mut self, pid: u32, timeout: Duration) -> bool {
        self.get(pid).stdin.take();
        self.wait_exit(pid, timeout)
    }

    /// Pids of the processes still running.
    pub fn running(&mut self) -> Vec<u32> {
        self.procs
            .iter_mut()
            .filter_map(|p| p.wait(Duration::ZERO).is_none().then_some(p.pid))
            .collect()
    }

    /// Every ledger file.
    pub fn ledgers(&self) -> Vec<PathBuf> {
        self.procs.iter().filter_map(|p| p.ledger.clone()).collect()
    }

    /// Every file of acknowledged ids.
    pub fn acked_files(&self) -> Vec<PathBuf> {
        (1..=self.spawned)
            .map(|n| self.dir.join(format!("acked-{n}.log")))
            .filter(|p| p.exists())
            .collect()
    }

    /// The standard error of every process, for failure messages.
    pub fn errors(&self) -> String {
        (1..=self.spawned)
            .filter_map(|n| std::fs::read_to_string(self.dir.join(format!("proc-{n}.err"))).ok())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Proc {
    /// The exit status, waiting up to `timeout` for it (`None`: still running).
    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = match self.exited.recv_timeout(timeout) {
                Ok(status) => Some(status),
                // The reaper only hangs up without sending if `wait()` itself failed.
                Err(RecvTimeoutError::Disconnected) => panic!("lost process {}", self.pid),
                Err(RecvTimeoutError::Timeout) => None,
            };
        }
        self.status
    }

    /// SIGKILLs the process unless it already exited, and waits for its reaper. (Between the
    /// reaper's `wait()` returning and its send the pid is free; that window is the only one in
    /// which the signal could reach a reused pid.)
    fn kill(&mut self) {
        if self.wait(Duration::ZERO).is_some() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.wait(Duration::from_secs(30));
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for proc in &mut self.procs {
            proc.kill();
        }
    }
}
