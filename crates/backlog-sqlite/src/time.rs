//! Timestamp encoding: TEXT `YYYY-MM-DDTHH:MM:SS.ffffffZ`, always UTC with six fractional digits,
//! so that comparing the strings compares the times and plain SQL can read them. The text is
//! RFC 3339, which is also what the JSON `errors` entries hold.

use std::time::Duration;

use backlog_storage::Error;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// The latest time stored; later times are clamped to it so the text keeps four year digits.
const LATEST: &str = "9999-12-31T23:59:59.999999Z";

/// The current time of this host, at the stored precision (microseconds).
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The stored text of `time`.
pub(crate) fn encode(time: DateTime<Utc>) -> String {
    let text = time.format(FORMAT).to_string();
    if text.len() == LATEST.len() {
        text
    } else {
        // Years beyond 9999 (or before year 0) would break the string order.
        LATEST.to_owned()
    }
}

/// Parses a stored time.
pub(crate) fn decode(column: &str, text: &str) -> Result<DateTime<Utc>, Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| crate::error::decode(column, e))
}

/// `time + delay`, saturating at the latest storable time.
pub(crate) fn add(time: DateTime<Utc>, delay: Duration) -> String {
    TimeDelta::from_std(delay)
        .ok()
        .and_then(|delta| time.checked_add_signed(delta))
        .map_or_else(|| LATEST.to_owned(), encode)
}

/// A duration in whole microseconds, saturating.
pub(crate) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders() {
        let t = DateTime::parse_from_rfc3339("2024-05-06T07:08:09.123456789Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap();
        let text = encode(t);
        assert_eq!(text, "2024-05-06T07:08:09.123456Z");
        assert_eq!(decode("x", &text).unwrap(), t.trunc_subsecs(6));
        let whole = encode(t.trunc_subsecs(0));
        assert_eq!(whole, "2024-05-06T07:08:09.000000Z");
        assert!(whole < text);
    }

    #[test]
    fn adds_and_saturates() {
        let t = decode("x", "2024-01-01T00:00:00.000000Z").unwrap();
        assert_eq!(
            add(t, Duration::from_millis(1500)),
            "2024-01-01T00:00:01.500000Z"
        );
        assert_eq!(add(t, Duration::MAX), LATEST);
        assert_eq!(micros(Duration::from_millis(2)), 2000);
    }
}
