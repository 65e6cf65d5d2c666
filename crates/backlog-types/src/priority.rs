use std::fmt;

use serde::{Deserialize, Serialize};

/// How urgent a job is. Higher runs first; within one priority the job scheduled earliest runs
/// first.
///
/// Any `i16` is allowed; the named levels cover the common case.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Priority(pub i16);

impl Priority {
    /// Work a user is waiting for.
    pub const HIGH: Priority = Priority(10);
    /// The default.
    pub const NORMAL: Priority = Priority(0);
    /// Work that can wait behind everything else.
    pub const LOW: Priority = Priority(-10);

    /// Parses `high`, `normal`, `low` or an integer.
    pub fn parse(s: &str) -> Option<Priority> {
        match s.to_ascii_lowercase().as_str() {
            "high" => Some(Priority::HIGH),
            "normal" => Some(Priority::NORMAL),
            "low" => Some(Priority::LOW),
            other => other.parse().ok().map(Priority),
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Priority::HIGH => f.write_str("high"),
            Priority::NORMAL => f.write_str("normal"),
            Priority::LOW => f.write_str("low"),
            Priority(n) => write!(f, "{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_numbers() {
        assert_eq!(Priority::parse("High"), Some(Priority::HIGH));
        assert_eq!(Priority::parse("low"), Some(Priority::LOW));
        assert_eq!(Priority::parse("-3"), Some(Priority(-3)));
        assert_eq!(Priority::parse("urgent"), None);
        assert_eq!(Priority::parse("99999"), None);
    }
}
