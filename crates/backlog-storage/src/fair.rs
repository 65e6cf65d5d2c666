//! Fair queues: how one claim shares its jobs among the partition keys that have available
//! jobs. SQLite runs these functions between its statements; PostgreSQL applies the same rules
//! inside one statement (`crates/backlog-postgres/sql/fair_claim.sql`, one round trip), so a
//! change here must be made there too (the conformance tests of `fair` check both).
//!
//! A claim of `max` jobs on a fair queue:
//! 1. lists up to `max` keys with available jobs, in key order starting after the queue's
//!    cursor (the last key a claim served) and wrapping around, then the unkeyed jobs as one
//!    more group;
//! 2. gives each key an equal share, `ceil(max / keys)`, capped by its room under the
//!    per-key limit, and reads that many of each key's next jobs in run order;
//! 3. if that leaves the claim short (some keys had fewer jobs than their share), tops it up
//!    from the keys that filled their share, in key order, and from the jobs without a key.
//!    Those are read only then: finding them means walking the queue's whole run order past
//!    the keyed jobs, which a claim filled by keys does not pay (give every job of a fair
//!    queue a key);
//! 4. takes the jobs turn by turn (each group's first job, then each group's second...) up to
//!    `max`, and moves the cursor to the last key served.
//!
//! So one key's 100,000-job backlog takes one share per claim, and a key with one job is served
//! within `keys / max` claims.

use backlog_types::JobId;

/// One group of a fair claim: a partition key, or the unkeyed jobs (`key: None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FairGroup {
    /// The partition key (`None`: jobs without one).
    pub key: Option<String>,
    /// Most jobs this claim may take from the group (its room under the per-key limit).
    pub room: u32,
}

/// A job read for a fair claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FairCandidate {
    /// The job.
    pub id: JobId,
    /// Its group's position in the claim's group list.
    pub group: usize,
    /// Its place in its group's run order (0: the group's next job).
    pub turn: u32,
}

/// Each group's share in the first read: `ceil(max / keys)` for each key, capped by its room;
/// nothing for the jobs without a key (read in the top-up only).
pub fn first_shares(max: u32, groups: &[FairGroup]) -> Vec<u32> {
    let keys = groups.iter().filter(|g| g.key.is_some()).count().max(1) as u32;
    let share = max.div_ceil(keys).max(1);
    groups
        .iter()
        .map(|g| match g.key {
            Some(_) => g.room.min(share),
            None => 0,
        })
        .collect()
}

/// How many more jobs each group may give in the top-up read, given what the first read
/// returned per group (`got`): keys that filled their share may give up to their remaining
/// room, the jobs without a key up to theirs, and none more than the claim is short.
pub fn top_up(max: u32, groups: &[FairGroup], shares: &[u32], got: &[u32]) -> Vec<u32> {
    let total: u32 = got.iter().sum();
    let short = max.saturating_sub(total);
    groups
        .iter()
        .zip(shares.iter().zip(got))
        .map(|(g, (share, got))| match g.key {
            _ if short == 0 => 0,
            None => g.room.min(short),
            Some(_) if *share > 0 && got == share => g.room.saturating_sub(*share).min(short),
            Some(_) => 0,
        })
        .collect()
}

/// The jobs to claim, at most `max`: the first read's turn by turn (within a turn in group
/// order), then the top-up's in group order. Also the position of the last keyed group served
/// (the queue's next cursor), if any.
pub fn choose(
    max: u32,
    groups: &[FairGroup],
    mut first: Vec<FairCandidate>,
    mut more: Vec<FairCandidate>,
) -> (Vec<JobId>, Option<usize>) {
    first.sort_by_key(|c| (c.turn, c.group));
    more.sort_by_key(|c| (c.group, c.turn));
    let chosen: Vec<FairCandidate> = first.into_iter().chain(more).take(max as usize).collect();
    let cursor = chosen
        .iter()
        .filter(|c| groups.get(c.group).is_some_and(|g| g.key.is_some()))
        .map(|c| c.group)
        .max();
    (chosen.iter().map(|c| c.id).collect(), cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(key: &str, room: u32) -> FairGroup {
        FairGroup {
            key: Some(key.into()),
            room,
        }
    }

    fn candidates(group: usize, ids: std::ops::Range<i64>) -> Vec<FairCandidate> {
        ids.enumerate()
            .map(|(turn, id)| FairCandidate {
                id,
                group,
                turn: turn as u32,
            })
            .collect()
    }

    #[test]
    fn a_big_key_takes_one_share_beside_small_ones() {
        let groups = vec![group("big", 32), group("a", 32), group("b", 32)];
        let shares = first_shares(32, &groups);
        assert_eq!(shares, vec![11, 11, 11]);
        let first = [
            candidates(0, 100..111),
            candidates(1, 200..201),
            candidates(2, 300..301),
        ]
        .concat();
        let more = top_up(32, &groups, &shares, &[11, 1, 1]);
        assert_eq!(more, vec![19, 0, 0], "the big key fills the rest");
        let (ids, cursor) = choose(32, &groups, first, candidates(0, 111..130));
        assert_eq!(ids.len(), 32);
        assert_eq!(&ids[..3], &[100, 200, 300], "turn by turn");
        assert_eq!(cursor, Some(2));
    }

    #[test]
    fn many_keys_get_one_each_and_the_cursor_moves_on() {
        let groups: Vec<FairGroup> = (0..51).map(|i| group(&format!("k{i:02}"), 5)).collect();
        let shares = first_shares(32, &groups);
        assert!(shares.iter().all(|s| *s == 1));
        let first: Vec<FairCandidate> = (0..51)
            .flat_map(|g| candidates(g, g as i64 * 10..g as i64 * 10 + 1))
            .collect();
        let (ids, cursor) = choose(32, &groups, first, Vec::new());
        assert_eq!(ids.len(), 32);
        assert_eq!(cursor, Some(31), "the next claim starts at the 33rd key");
    }

    #[test]
    fn room_caps_a_key_and_unkeyed_jobs_are_a_group() {
        let groups = vec![
            group("limited", 2),
            FairGroup {
                key: None,
                room: 100,
            },
        ];
        let shares = first_shares(10, &groups);
        assert_eq!(shares, vec![2, 0], "unkeyed jobs wait for the top-up");
        let more = top_up(10, &groups, &shares, &[2, 0]);
        assert_eq!(more, vec![0, 8], "the limited key has no room left");
        let (_, cursor) = choose(10, &groups, Vec::new(), candidates(1, 0..5));
        assert_eq!(cursor, None, "only unkeyed jobs served: the cursor stays");
    }
}
