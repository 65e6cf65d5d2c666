//! Leader election: `leader_attempt_elect`, `leader_attempt_reelect`, `leader_resign`,
//! `leader_get`, with explicit times.

use std::time::Duration;

use backlog_storage::{Event, LeaderElectParams, LeaderResignParams};
use chrono::{DateTime, Utc};

use crate::support::Db;

const TTL: Duration = Duration::from_secs(10);

fn params(who: &str, now: DateTime<Utc>) -> LeaderElectParams {
    LeaderElectParams {
        name: "maintenance".into(),
        leader_id: who.into(),
        ttl: TTL,
        now: Some(now),
    }
}

fn resign(who: &str) -> LeaderResignParams {
    LeaderResignParams {
        name: "maintenance".into(),
        leader_id: who.into(),
    }
}

/// The first candidate wins; others lose until the lease expires; the holder may elect again.
pub async fn elect_once_until_expiry(db: Db) {
    let t0 = Utc::now();
    assert!(db.leader_get("maintenance").await.unwrap().is_none());
    assert!(db.leader_attempt_elect(params("a", t0)).await.unwrap());
    assert!(!db.leader_attempt_elect(params("b", t0)).await.unwrap());
    let held = db.leader_get("maintenance").await.unwrap().expect("held");
    assert_eq!(held.leader_id, "a");
    assert_eq!(
        held.expires_at - held.elected_at,
        chrono::Duration::seconds(10)
    );

    // Still held one second before expiry, even for a re-election by the holder itself.
    let later = t0 + chrono::Duration::seconds(9);
    assert!(!db.leader_attempt_elect(params("b", later)).await.unwrap());
    assert!(db.leader_attempt_elect(params("a", later)).await.unwrap());
    let held = db.leader_get("maintenance").await.unwrap().expect("held");
    assert_eq!(held.elected_at, t0.trunc_to_micros(), "elected_at kept");

    // Expired: another candidate takes it.
    let expired = later + chrono::Duration::seconds(11);
    assert!(db.leader_attempt_elect(params("b", expired)).await.unwrap());
    let held = db.leader_get("maintenance").await.unwrap().expect("held");
    assert_eq!(held.leader_id, "b");
    // Other lease names are independent.
    let mut other = params("a", expired);
    other.name = "other".into();
    assert!(db.leader_attempt_elect(other).await.unwrap());
}

/// Re-election extends the holder's lease only.
pub async fn reelect_extends_only_the_holder(db: Db) {
    let t0 = Utc::now();
    assert!(!db.leader_attempt_reelect(params("a", t0)).await.unwrap());
    assert!(db.leader_attempt_elect(params("a", t0)).await.unwrap());
    let t1 = t0 + chrono::Duration::seconds(5);
    assert!(db.leader_attempt_reelect(params("a", t1)).await.unwrap());
    let held = db.leader_get("maintenance").await.unwrap().expect("held");
    assert_eq!(
        held.expires_at,
        (t1 + chrono::Duration::seconds(10)).trunc_to_micros()
    );
    assert!(!db.leader_attempt_reelect(params("b", t1)).await.unwrap());
    // After someone else took the expired lease, the old holder cannot re-elect.
    let t2 = t1 + chrono::Duration::seconds(30);
    assert!(db.leader_attempt_elect(params("b", t2)).await.unwrap());
    assert!(!db.leader_attempt_reelect(params("a", t2)).await.unwrap());
}

/// Resigning frees the lease at once and tells subscribers; only the holder can resign.
pub async fn resign_frees_and_signals(db: Db) {
    let t0 = Utc::now();
    assert!(db.leader_attempt_elect(params("a", t0)).await.unwrap());
    let mut rx = db.event_subscribe().await.unwrap();
    assert!(!db.leader_resign(resign("b")).await.unwrap());
    assert!(db.leader_resign(resign("a")).await.unwrap());
    assert!(db.leader_get("maintenance").await.unwrap().is_none());
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(Event::LeaderResigned { name }) => return name,
                Ok(_) => continue,
                Err(e) => panic!("subscription failed: {e}"),
            }
        }
    };
    let name = tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("a resignation signal within 10 s");
    assert_eq!(name, "maintenance");
    assert!(db.leader_attempt_elect(params("b", t0)).await.unwrap());
}

trait TruncToMicros {
    fn trunc_to_micros(self) -> Self;
}

impl TruncToMicros for DateTime<Utc> {
    fn trunc_to_micros(self) -> Self {
        chrono::SubsecRound::trunc_subsecs(self, 6)
    }
}
