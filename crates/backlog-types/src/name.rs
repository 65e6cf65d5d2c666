use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest queue name accepted.
pub const MAX_QUEUE_LEN: usize = 128;
/// Longest job kind accepted.
pub const MAX_KIND_LEN: usize = 255;

/// A queue or kind name that breaks the naming rules; the message says which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{name}`: {reason}")]
pub struct InvalidName {
    /// `"queue name"` or `"job kind"`.
    pub what: &'static str,
    /// The rejected name (truncated to 80 characters).
    pub name: String,
    /// The rule it breaks, phrased as what to do instead.
    pub reason: &'static str,
}

/// A validated queue name: 1 to 128 characters of `a-z`, `0-9`, `_`, `-` and `.`, starting with a
/// letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct QueueName(String);

impl QueueName {
    /// The queue used when none is given.
    pub const DEFAULT: &'static str = "default";

    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<QueueName, InvalidName> {
        let name = name.into();
        let invalid = |reason| InvalidName {
            what: "queue name",
            name: name.chars().take(80).collect(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid(
                "it is empty; use a name such as `default` or `emails`",
            ));
        }
        if name.len() > MAX_QUEUE_LEN {
            return Err(invalid("it is longer than 128 characters"));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return Err(invalid("it must start with a lowercase letter or a digit"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
        {
            return Err(invalid(
                "only lowercase letters, digits, `_`, `-` and `.` are allowed",
            ));
        }
        Ok(QueueName(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for QueueName {
    fn default() -> Self {
        QueueName(QueueName::DEFAULT.to_owned())
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for QueueName {
    type Error = InvalidName;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        QueueName::new(value)
    }
}

impl From<QueueName> for String {
    fn from(value: QueueName) -> Self {
        value.0
    }
}

impl AsRef<str> for QueueName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Checks a job kind: 1 to 255 characters, no whitespace or control characters.
pub fn validate_kind(kind: &str) -> Result<(), InvalidName> {
    let invalid = |reason| InvalidName {
        what: "job kind",
        name: kind.chars().take(80).collect(),
        reason,
    };
    if kind.is_empty() {
        return Err(invalid(
            "it is empty; give the job a kind such as `send_email`",
        ));
    }
    if kind.len() > MAX_KIND_LEN {
        return Err(invalid("it is longer than 255 characters"));
    }
    if kind.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("whitespace and control characters are not allowed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names() {
        for ok in ["default", "emails", "a", "q-1.high_prio", "0day"] {
            assert!(QueueName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Emails", "-x", "has space", "ünïcode", &"x".repeat(129)] {
            let err = QueueName::new(bad).unwrap_err();
            assert_eq!(err.what, "queue name");
        }
        let err = QueueName::new("Bad Name").unwrap_err().to_string();
        assert!(err.contains("lowercase"), "{err}");
    }

    #[test]
    fn queue_name_deserialize_validates() {
        assert!(serde_json::from_str::<QueueName>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<QueueName>("\"NOT OK\"").is_err());
    }

    #[test]
    fn kinds() {
        assert!(validate_kind("send_email").is_ok());
        assert!(validate_kind("Media::Thumbnail").is_ok());
        assert!(validate_kind("").is_err());
        assert!(validate_kind("two words").is_err());
        assert!(validate_kind(&"k".repeat(256)).is_err());
    }
}
