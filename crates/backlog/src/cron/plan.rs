//! Which jobs one pass of the enqueuer inserts for a due schedule, by missed-tick policy.

use std::time::Duration;

use backlog_storage::MissedPolicy;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Schedule, ScheduleError};

/// Most jobs [`MissedPolicy::CatchUp`] enqueues for the ticks missed during one downtime: the
/// most recent ones. A per-second schedule down for a day would otherwise flood its queue with
/// 86,400 jobs; older missed ticks beyond the cap are skipped (and logged).
pub const CATCH_UP_MAX: usize = 100;

/// What to do for a schedule whose tick `expected` is due at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// One job per entry, scheduled at that tick (oldest first).
    pub(crate) ticks: Vec<DateTime<Utc>>,
    /// The last due tick, stored as `last_run_at`.
    pub(crate) last: DateTime<Utc>,
    /// The first tick after `now`, stored as `next_run_at`.
    pub(crate) next: DateTime<Utc>,
    /// Due ticks that get no job.
    pub(crate) skipped: u64,
}

/// Plans the handling of a due schedule; `None` if `expected` is not due yet.
///
/// The last due tick counts as on time if it is at most `grace` old (the enqueuer is woken a
/// little late, or a leader change took a moment); older due ticks are *missed* and handled by
/// `policy`:
///
/// - `Skip`: a job for the on-time tick only, if any.
/// - `RunOnce`: one job, at the last due tick, whatever was missed.
/// - `CatchUp`: one job per due tick, the most recent [`CATCH_UP_MAX`].
pub(crate) fn plan(
    schedule: &Schedule,
    tz: Tz,
    policy: MissedPolicy,
    expected: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<Option<Plan>, ScheduleError> {
    if expected > now {
        return Ok(None);
    }
    let last = schedule
        .last_at_or_before(now, expected, tz)?
        .unwrap_or(expected)
        .max(expected);
    let next = schedule.next_after(now, expected, tz)?;
    let on_time = (now - last).to_std().unwrap_or(Duration::ZERO) <= grace;
    let ticks = match policy {
        MissedPolicy::Skip if on_time => vec![last],
        MissedPolicy::Skip => Vec::new(),
        MissedPolicy::RunOnce => vec![last],
        MissedPolicy::CatchUp => {
            let mut ticks = vec![last];
            let mut cursor = last;
            while ticks.len() < CATCH_UP_MAX {
                match schedule.previous(cursor, expected, tz)? {
                    Some(previous) if previous >= expected => {
                        ticks.push(previous);
                        cursor = previous;
                    }
                    _ => break,
                }
            }
            ticks.reverse();
            ticks
        }
    };
    let due = count_due(schedule, tz, expected, last, ticks.len())?;
    Ok(Some(Plan {
        skipped: due.saturating_sub(ticks.len() as u64),
        ticks,
        last,
        next,
    }))
}

/// How many ticks fall in `[expected, last]`, counted up to `known + 1000` (for logs only).
fn count_due(
    schedule: &Schedule,
    tz: Tz,
    expected: DateTime<Utc>,
    last: DateTime<Utc>,
    known: usize,
) -> Result<u64, ScheduleError> {
    let mut count = 1u64;
    let mut cursor = expected;
    while cursor < last && count < known as u64 + 1000 {
        cursor = schedule.next_after(cursor, expected, tz)?;
        if cursor <= last {
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    const GRACE: Duration = Duration::from_secs(60);

    fn paris_0230() -> (Schedule, Tz) {
        ("0 30 2 * * *".parse().unwrap(), chrono_tz::Europe::Paris)
    }

    #[test]
    fn daily_0230_paris_across_spring_forward() {
        let (s, tz) = paris_0230();
        // Saturday 29 March 2025, 02:30 CET = 01:30 UTC.
        let sat = at("2025-03-29T01:30:00Z");
        let sun = s.next_after(sat, sat, tz).unwrap();
        // Sunday 30 March: 02:30 does not exist (02:00 CET -> 03:00 CEST); the job runs once,
        // at the end of the gap: 03:00 CEST = 01:00 UTC.
        assert_eq!(sun, at("2025-03-30T01:00:00Z"));
        let mon = s.next_after(sun, sun, tz).unwrap();
        // Monday: 02:30 CEST = 00:30 UTC.
        assert_eq!(mon, at("2025-03-31T00:30:00Z"));
        // Walking back gives the same ticks.
        assert_eq!(s.previous(mon, sat, tz).unwrap(), Some(sun));
        assert_eq!(s.previous(sun, sat, tz).unwrap(), Some(sat));
    }

    #[test]
    fn daily_0230_paris_across_fall_back() {
        let (s, tz) = paris_0230();
        // Saturday 25 October 2025, 02:30 CEST = 00:30 UTC.
        let sat = at("2025-10-25T00:30:00Z");
        let sun = s.next_after(sat, sat, tz).unwrap();
        // Sunday 26 October: 02:30 happens twice (CEST then CET); the job runs once, at the
        // first: 02:30 CEST = 00:30 UTC.
        assert_eq!(sun, at("2025-10-26T00:30:00Z"));
        let mon = s.next_after(sun, sun, tz).unwrap();
        // Not again at 02:30 CET (01:30 UTC): next is Monday 02:30 CET = 01:30 UTC.
        assert_eq!(mon, at("2025-10-27T01:30:00Z"));
    }

    #[test]
    fn seconds_field_and_intervals() {
        let s: Schedule = "*/10 * * * * *".parse().unwrap();
        let t = at("2030-01-01T00:00:03Z");
        assert_eq!(
            s.next_after(t, t, Tz::UTC).unwrap(),
            at("2030-01-01T00:00:10Z")
        );
        let five_fields: Schedule = "*/5 * * * *".parse().unwrap();
        assert_eq!(
            five_fields.next_after(t, t, Tz::UTC).unwrap(),
            at("2030-01-01T00:05:00Z")
        );
        let every: Schedule = "@every 1m30s".parse().unwrap();
        assert_eq!(every.to_string(), "@every 1m30s");
        let anchor = at("2030-01-01T00:00:00Z");
        assert_eq!(
            every
                .next_after(at("2030-01-01T00:03:00Z"), anchor, Tz::UTC)
                .unwrap(),
            at("2030-01-01T00:04:30Z")
        );
        assert_eq!(
            every
                .last_at_or_before(at("2030-01-01T00:03:00Z"), anchor, Tz::UTC)
                .unwrap(),
            Some(at("2030-01-01T00:03:00Z"))
        );
        assert!("@every 0s".parse::<Schedule>().is_err());
        assert!("@every 5 parsecs".parse::<Schedule>().is_err());
        assert!("61 * * * *".parse::<Schedule>().is_err());
        assert!("not cron".parse::<Schedule>().is_err());
    }

    #[test]
    fn on_time_tick_runs_under_every_policy() {
        let s: Schedule = "0 * * * * *".parse().unwrap();
        let t = at("2030-01-01T00:01:00Z");
        let now = t + chrono::Duration::seconds(2);
        for policy in [
            MissedPolicy::Skip,
            MissedPolicy::RunOnce,
            MissedPolicy::CatchUp,
        ] {
            let p = plan(&s, Tz::UTC, policy, t, now, GRACE).unwrap().unwrap();
            assert_eq!(p.ticks, vec![t], "{policy}");
            assert_eq!(p.next, at("2030-01-01T00:02:00Z"));
            assert_eq!(p.skipped, 0);
        }
        assert_eq!(
            plan(
                &s,
                Tz::UTC,
                MissedPolicy::Skip,
                t,
                t - chrono::Duration::seconds(1),
                GRACE
            )
            .unwrap(),
            None
        );
    }

    #[test]
    fn missed_ticks_by_policy() {
        let s: Schedule = "0 * * * * *".parse().unwrap();
        let expected = at("2030-01-01T00:01:00Z");
        // Down for ten minutes and a half: ticks 00:01 .. 00:11 are due (11 ticks).
        let now = at("2030-01-01T00:11:30Z");
        let skip = plan(&s, Tz::UTC, MissedPolicy::Skip, expected, now, GRACE)
            .unwrap()
            .unwrap();
        // 00:11 is 30 s old: within the grace, so it still runs.
        assert_eq!(skip.ticks, vec![at("2030-01-01T00:11:00Z")]);
        assert_eq!(skip.skipped, 10);
        let late = at("2030-01-01T00:11:59Z");
        let strict = plan(
            &s,
            Tz::UTC,
            MissedPolicy::Skip,
            expected,
            late,
            Duration::from_secs(5),
        )
        .unwrap()
        .unwrap();
        assert!(strict.ticks.is_empty());
        assert_eq!(strict.next, at("2030-01-01T00:12:00Z"));
        let once = plan(&s, Tz::UTC, MissedPolicy::RunOnce, expected, now, GRACE)
            .unwrap()
            .unwrap();
        assert_eq!(once.ticks, vec![at("2030-01-01T00:11:00Z")]);
        let all = plan(&s, Tz::UTC, MissedPolicy::CatchUp, expected, now, GRACE)
            .unwrap()
            .unwrap();
        assert_eq!(all.ticks.len(), 11);
        assert_eq!(all.ticks[0], expected);
        assert_eq!(all.ticks[10], at("2030-01-01T00:11:00Z"));
        assert_eq!(all.last, at("2030-01-01T00:11:00Z"));
        assert_eq!(all.next, at("2030-01-01T00:12:00Z"));
    }

    #[test]
    fn catch_up_is_capped_to_the_most_recent_ticks() {
        let s: Schedule = "* * * * * *".parse().unwrap();
        let expected = at("2030-01-01T00:00:00Z");
        let now = at("2030-01-01T01:00:00Z");
        let p = plan(&s, Tz::UTC, MissedPolicy::CatchUp, expected, now, GRACE)
            .unwrap()
            .unwrap();
        assert_eq!(p.ticks.len(), CATCH_UP_MAX);
        assert_eq!(*p.ticks.last().unwrap(), now);
        assert!(p.skipped > 0);
    }
}
