//! Parsers of option values shared by the subcommands, each with an error that says what a
//! valid value looks like.

use std::time::Duration;

use backlog::{Backoff, Priority};
use chrono::{DateTime, Utc};

/// `high`, `normal`, `low` or an integer.
pub(crate) fn priority(s: &str) -> Result<Priority, String> {
    Priority::parse(s).ok_or_else(|| {
        format!("`{s}` is not a priority: use high, normal, low or an integer from -32768 to 32767")
    })
}

/// A positive duration: a number with a unit `ms`, `s`, `m`, `h` or `d` (`500ms`, `30s`, `5m`),
/// or a unit alone for one of it (`s`, as in a rate's `100/s`).
pub(crate) fn period(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = if number.is_empty() {
        1
    } else {
        number.parse().ok()?
    };
    let period = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        "d" => Duration::from_secs(n.checked_mul(86_400)?),
        _ => return None,
    };
    (!period.is_zero()).then_some(period)
}

/// A duration for clap: see [`period`]; a bare number is seconds.
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("`{s}` is not a positive number of seconds"));
    }
    period(s).ok_or_else(|| {
        format!("`{s}` is not a duration: use a number of seconds or 500ms, 30s, 5m, 2h, 1d")
    })
}

/// A time: RFC 3339 (`2026-12-24T18:00:00Z`), `+` and a duration from now (`+10m`), or `now`.
pub(crate) fn time(s: &str) -> Result<DateTime<Utc>, String> {
    if s == "now" {
        return Ok(Utc::now());
    }
    if let Some(after) = s.strip_prefix('+') {
        let after = duration(after)?;
        return chrono::Duration::from_std(after)
            .ok()
            .and_then(|d| Utc::now().checked_add_signed(d))
            .ok_or_else(|| format!("`{s}` is too far away"));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("`{s}` is not a time ({e}): use RFC 3339 such as 2026-12-24T18:00:00Z, +10m from now, or now")
        })
}

/// A backoff: `fixed:DELAY`, `linear:STEP:MAX` or `exponential:BASE:MAX` (jitter 10%).
pub(crate) fn backoff(s: &str) -> Result<Backoff, String> {
    let usage = "use fixed:30s, linear:10s:5m or exponential:1s:1h";
    let parts: Vec<&str> = s.split(':').collect();
    let d = |p: &str| duration(p).map_err(|e| format!("{e} (in backoff `{s}`)"));
    match parts.as_slice() {
        ["fixed", delay] => Ok(Backoff::Fixed(d(delay)?)),
        ["linear", step, max] => Ok(Backoff::Linear {
            step: d(step)?,
            max: d(max)?,
        }),
        ["exponential", base, max] => Ok(Backoff::Exponential {
            base: d(base)?,
            max: d(max)?,
            jitter: 0.1,
        }),
        _ => Err(format!("`{s}` is not a backoff: {usage}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(duration("0").unwrap_err().contains("positive"));
        assert!(duration("5 weeks").unwrap_err().contains("not a duration"));
        assert_eq!(period("s"), Some(Duration::from_secs(1)));
    }

    #[test]
    fn times() {
        let at = time("2026-12-24T18:00:00+01:00").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-24T17:00:00+00:00");
        let soon = time("+10m").unwrap();
        let wait = soon - Utc::now();
        assert!(wait > chrono::Duration::minutes(9) && wait <= chrono::Duration::minutes(10));
        assert!(time("tomorrow").unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn backoffs() {
        assert_eq!(
            backoff("fixed:30s"),
            Ok(Backoff::Fixed(Duration::from_secs(30)))
        );
        assert_eq!(
            backoff("linear:10s:5m"),
            Ok(Backoff::Linear {
                step: Duration::from_secs(10),
                max: Duration::from_secs(300)
            })
        );
        assert!(matches!(
            backoff("exponential:1s:1h"),
            Ok(Backoff::Exponential { .. })
        ));
        assert!(backoff("random").unwrap_err().contains("fixed:30s"));
        assert!(backoff("fixed:x").unwrap_err().contains("in backoff"));
    }
}
