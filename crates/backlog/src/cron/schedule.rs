//! [`Schedule`]: when the ticks of a periodic job are, and the tick arithmetic the
//! [`CronEnqueuer`](crate::maintenance::CronEnqueuer) relies on.
//!
//! Cron expressions are evaluated by `croner` in the schedule's time zone (`chrono-tz`), which
//! follows the Open Cron Pattern Specification for daylight saving time:
//!
//! - **Spring forward (a gap):** a fixed-time job whose wall-clock time does not exist that day
//!   (02:30 in Paris on the last Sunday of March) runs once at the first instant after the gap
//!   (03:00 CEST). It is neither skipped nor run twice.
//! - **Fall back (an overlap):** a fixed-time job whose wall-clock time happens twice (02:30 in
//!   Paris on the last Sunday of October) runs once, at the first of the two instants. Jobs with
//!   a wildcard or stepped hour field (`0 */15 * * * *`) run in both passes, since each pass is a
//!   real quarter of an hour.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

use super::ScheduleError;

/// When a periodic job's ticks are: a cron expression (5 fields, or 6 with seconds first), or
/// a fixed interval.
///
/// ```
/// use backlog::cron::Schedule;
///
/// let every_five_minutes: Schedule = "0 */5 * * * *".parse()?;
/// let every_thirty_seconds = Schedule::every(std::time::Duration::from_secs(30))?;
/// assert_eq!(every_thirty_seconds.to_string(), "@every 30s");
/// assert_eq!("@every 30s".parse::<Schedule>()?, every_thirty_seconds);
/// # let _ = every_five_minutes;
/// # Ok::<(), backlog::cron::ScheduleError>(())
/// ```
#[derive(Clone)]
pub struct Schedule(Kind);

#[derive(Clone)]
enum Kind {
    Cron { expression: String, cron: Box<Cron> },
    Every(Duration),
}

impl Schedule {
    /// A cron expression: `sec min hour day-of-month month day-of-week`, seconds optional.
    pub fn cron(expression: &str) -> Result<Schedule, ScheduleError> {
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build();
        let cron = parser
            .parse(expression)
            .map_err(|e| ScheduleError::InvalidCron {
                expression: expression.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Schedule(Kind::Cron {
            expression: expression.trim().to_owned(),
            cron: Box::new(cron),
        }))
    }

    /// A fixed interval, at least one second. The first tick is one interval after the schedule
    /// is created (or its timing changed); later ticks keep that phase.
    pub fn every(interval: Duration) -> Result<Schedule, ScheduleError> {
        if interval < Duration::from_secs(1) || TimeDelta::from_std(interval).is_err() {
            return Err(ScheduleError::InvalidInterval(format!(
                "{interval:?}: use at least 1 second"
            )));
        }
        Ok(Schedule(Kind::Every(interval)))
    }

    /// The first tick strictly after `after`. `anchor` is a tick of the schedule (its current
    /// `next_run_at`), which fixes the phase of an interval schedule; cron ignores it.
    pub fn next_after(
        &self,
        after: DateTime<Utc>,
        anchor: DateTime<Utc>,
        tz: Tz,
    ) -> Result<DateTime<Utc>, ScheduleError> {
        match &self.0 {
            Kind::Cron { expression, cron } => cron
                .find_next_occurrence(&after.with_timezone(&tz), false)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| no_tick(expression, e)),
            Kind::Every(interval) => {
                let step = delta(*interval);
                if after < anchor {
                    return Ok(anchor);
                }
                let steps = (after - anchor).num_microseconds().unwrap_or(i64::MAX)
                    / step.num_microseconds().unwrap_or(i64::MAX).max(1);
                Ok(anchor + step * i32::try_from(steps + 1).unwrap_or(i32::MAX))
            }
        }
    }

    /// The last tick at or before `at`, or `None` if there is none since `anchor`.
    pub fn last_at_or_before(
        &self,
        at: DateTime<Utc>,
        anchor: DateTime<Utc>,
        tz: Tz,
    ) -> Result<Option<DateTime<Utc>>, ScheduleError> {
        if at < anchor {
            return Ok(None);
        }
        match &self.0 {
            Kind::Cron { expression, cron } => {
                let last = cron
                    .find_previous_occurrence(&at.with_timezone(&tz), true)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| no_tick(expression, e))?;
                Ok((last >= anchor).then_some(last))
            }
            Kind::Every(interval) => {
                let step = delta(*interval);
                let steps = (at - anchor).num_microseconds().unwrap_or(i64::MAX)
                    / step.num_microseconds().unwrap_or(i64::MAX).max(1);
                Ok(Some(
                    anchor + step * i32::try_from(steps).unwrap_or(i32::MAX),
                ))
            }
        }
    }

    /// The last tick strictly before `before`, for walking back over missed ticks.
    pub(crate) fn previous(
        &self,
        before: DateTime<Utc>,
        anchor: DateTime<Utc>,
        tz: Tz,
    ) -> Result<Option<DateTime<Utc>>, ScheduleError> {
        self.last_at_or_before(before - TimeDelta::microseconds(1), anchor, tz)
    }
}

fn delta(interval: Duration) -> TimeDelta {
    // Checked in `Schedule::every`.
    TimeDelta::from_std(interval).unwrap_or(TimeDelta::MAX)
}

fn no_tick(expression: &str, error: croner::errors::CronError) -> ScheduleError {
    ScheduleError::InvalidCron {
        expression: expression.to_owned(),
        reason: format!("no matching time: {error}"),
    }
}

impl fmt::Display for Schedule {
    /// The stored text: the cron expression, or `@every <duration>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Cron { expression, .. } => f.write_str(expression),
            Kind::Every(interval) => write!(f, "@every {}", format_duration(*interval)),
        }
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({self})")
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Schedule {}

impl FromStr for Schedule {
    type Err = ScheduleError;

    /// Parses the stored text (see [`Schedule`'s `Display`](#impl-Display-for-Schedule)).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().strip_prefix("@every") {
            Some(rest) => Schedule::every(parse_duration(rest.trim())?),
            None => Schedule::cron(s),
        }
    }
}

/// Parses `90s`, `5m`, `1h30m`, `2d`, `500ms`: numbers each followed by a unit.
pub fn parse_duration(text: &str) -> Result<Duration, ScheduleError> {
    let invalid = || {
        ScheduleError::InvalidInterval(format!(
            "`{text}`: write numbers with units, like 30s, 5m, 1h30m or 1d"
        ))
    };
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            _ => return Err(invalid()),
        };
        let n = u32::try_from(number).map_err(|_| invalid())?;
        total = unit
            .checked_mul(n)
            .and_then(|d| total.checked_add(d))
            .ok_or_else(invalid)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// The inverse of [`parse_duration`], largest units first.
fn format_duration(duration: Duration) -> String {
    let mut out = String::new();
    let mut secs = duration.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    let millis = duration.subsec_millis();
    if millis > 0 || out.is_empty() {
        out.push_str(&format!("{millis}ms"));
    }
    out
}
