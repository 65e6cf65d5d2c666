//! SQLite on a nearly full filesystem: the database lives on a small tmpfs that a filler file
//! fills up while producers and workers run. Enqueues are refused saying the disk is full,
//! the file stays intact (`PRAGMA integrity_check`), and once space is freed the same processes
//! finish the work with no acknowledged job lost.
//!
//! The space comes back in two steps, as an operator may free it, with a long read transaction
//! (a report, a backup) open across the first. The read keeps the WAL from starting over, so
//! once the filler is removed the WAL grows into the freed space and fills the disk again.
//! The read ends; then a small reserve file (512 KiB, far less than the WAL holds) is removed
//! too. That must be enough: the processes checkpoint the WAL into the database file and
//! truncate it, and its space comes back. (Before they did, no checkpoint was due again until
//! the WAL grew by another 1,000 pages, which it could not: enqueues were refused until the
//! processes restarted. A short read at the wrong moment was enough for that, without a
//! reserve: CI saw it once.)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use backlog::JobState;
use backlog_faults::check::{check, Faults};
use backlog_faults::ledger::now_us;

use crate::procs::{Procs, WorkerOpts};
use crate::{acked, entries, long, open, poll, refusals, rows, Scratch, SERIAL};

/// A tmpfs mounted for the scenario, unmounted on drop (also when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("create the mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mount -t tmpfs failed: the full-disk scenario needs root"
        );
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes `path` until the filesystem is full; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).expect("create the filler file");
    let chunk = vec![0xa5u8; 16 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) => {
                assert_eq!(
                    e.raw_os_error(),
                    Some(28),
                    "the filler stopped with {e}, not ENOSPC"
                );
                break;
            }
        }
    }
    let _ = file.sync_all();
    written
}

/// The size of `db`'s WAL file.
fn wal_bytes(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).expect("open the database file");
    conn.query_row("pragma integrity_check", [], |row| row.get(0))
        .expect("run integrity_check")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "process-level fault suite: run scripts/faults"]
async fn sqlite_on_a_full_filesystem() {
    let _serial = SERIAL.lock().await;
    let (jobs, hold) = if long() {
        (1500, Duration::from_secs(15))
    } else {
        (400, Duration::from_secs(3))
    };
    let scratch = Scratch::new("diskfull");
    let disk = Tmpfs::mount(&scratch.0.join("disk"), "8m");
    let db = disk.0.join("jobs.sqlite3");
    let url = format!("sqlite://{}", db.display());
    let client = open(&url).await;
    let opts = WorkerOpts {
        lease_ms: 10_000,
        leader_ttl_ms: 2000,
        concurrency: 4,
    };
    let mut procs = Procs::new(&scratch.0);
    // Paced, so it is still enqueueing when the disk fills (unpaced, it could finish the lot
    // between the poll below and the filler, and nothing would be refused).
    let producer = procs.producer_at(&url, jobs, 20, 100);
    procs.worker(&url, opts);
    procs.worker(&url, opts);
    poll(
        "enqueues before the disk fills",
        Duration::from_secs(60),
        || async { (acked(&procs.acked_files()).len() >= jobs as usize / 4).then_some(()) },
    )
    .await;
    let from = now_us();
    let reader = rusqlite::Connection::open(&db).expect("open a reader");
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM backlog_job;")
        .expect("begin a long read");
    let reserve = disk.0.join("reserve");
    std::fs::write(&reserve, vec![0x5au8; 512 * 1024]).expect("write the reserve file");
    let filler = disk.0.join("filler");
    let filled = fill(&filler);
    let refusal_count = |out: &Path| refusals(out).len();
    let out = procs.proc(producer).out.clone();
    poll("a refused enqueue", Duration::from_secs(30), || async {
        (refusal_count(&out) > 0).then_some(())
    })
    .await;
    // The fault lasts `hold`, then the space comes back, but the long read keeps the WAL from
    // starting over: it grows into the freed space until the disk is full again.
    tokio::time::sleep(hold).await;
    let check_full = integrity(&db);
    let acked_full = acked(&procs.acked_files()).len();
    std::fs::remove_file(&filler).expect("free the space");
    poll(
        "an enqueue acknowledged once the filler is gone",
        Duration::from_secs(30),
        || async { (acked(&procs.acked_files()).len() > acked_full).then_some(()) },
    )
    .await;
    let before = refusal_count(&out);
    poll(
        "a refused enqueue once the WAL filled the freed space",
        Duration::from_secs(60),
        || async { (refusal_count(&out) > before).then_some(()) },
    )
    .await;
    let wal_full = wal_bytes(&db);
    reader.execute_batch("COMMIT").expect("end the long read");
    drop(reader);
    std::fs::remove_file(&reserve).expect("free the reserve");
    let to = now_us();
    assert!(
        procs.wait_exit(producer, Duration::from_secs(180)),
        "the producer failed instead of recovering: {}",
        procs.errors()
    );
    let done = poll("every job completed", Duration::from_secs(180), || async {
        let all = rows(&client, &[]).await;
        (all.len() == jobs as usize && all.iter().all(|r| r.state == JobState::Completed))
            .then_some(all)
    })
    .await;
    let refused = refusals(&procs.proc(producer).out);
    let disk_full = refused.iter().find(|m| m.contains("full"));
    assert!(
        disk_full.is_some(),
        "no refusal says the disk is full: {refused:#?}"
    );
    assert_eq!(check_full, "ok", "integrity_check while the disk was full");
    let check_after = integrity(&db);
    assert_eq!(check_after, "ok", "integrity_check after recovery");
    let recovery = done
        .iter()
        .filter_map(|r| r.finalized_at.map(|t| t.timestamp_micros() - to))
        .filter(|&d| d >= 0)
        .min()
        .unwrap_or(-1);
    let mut faults = Faults::default();
    faults.outages.push((from, to));
    let report = check(
        &done,
        &acked(&procs.acked_files()),
        &entries(&procs.ledgers()),
        &faults,
    );
    println!(
        "faults: scenario=sqlite_disk_full filler={}KiB wal_full={}KiB wal_after={}KiB held={:.1}s refused={} disk_full_refusal={:?} integrity=ok recovery={:.1}s {report}",
        filled / 1024,
        wal_full / 1024,
        wal_bytes(&db) / 1024,
        (to - from) as f64 / 1e6,
        refused.len(),
        disk_full.map(String::as_str).unwrap_or(""),
        recovery as f64 / 1e6
    );
    assert!(report.is_ok(), "{:#?}\n{}", report.problems, procs.errors());
}
