//! The end of an execution: `Completed` / `Failed`, answered by `Recorded` (which also answers
//! `Extend`, `Progress` and `Release`).

use backlog_types::JobId;
use serde::{Deserialize, Serialize};

use crate::{json, LeaseToken};

/// Longest error kind kept, in bytes.
pub const MAX_ERROR_KIND_BYTES: usize = 128;
/// Longest error message kept, in bytes.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 4096;
/// Most backtrace lines kept.
pub const MAX_BACKTRACE_LINES: usize = 64;
/// Longest backtrace kept, in bytes.
pub const MAX_BACKTRACE_BYTES: usize = 16384;

/// The execution succeeded, client to server. Resent until `Recorded` arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completed {
    /// The job.
    pub job_id: JobId,
    /// The execution's token.
    pub lease: LeaseToken,
    /// How long the attempt ran (microseconds).
    pub duration_us: u64,
    /// A value to store with the job (its result).
    #[serde(
        default,
        serialize_with = "json::serialize_option",
        deserialize_with = "json::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub result: Option<serde_json::Value>,
}

/// The execution ended without success, client to server. Resent until `Recorded` arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failed {
    /// The job.
    pub job_id: JobId,
    /// The execution's token.
    pub lease: LeaseToken,
    /// What should happen to the job.
    pub action: FailAction,
    /// `retry`: the delay before the next attempt, overriding the kind's backoff. `snooze`:
    /// the delay (required). Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// The error (required except for `snooze`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// How long the attempt ran (microseconds).
    pub duration_us: u64,
}

/// What a failed execution asks for. The server still applies the job's limits: a `retry` of
/// the last allowed attempt discards the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailAction {
    /// Run again after a backoff (the default for an error).
    Retry,
    /// Give up on the job for good: `discarded`.
    Discard,
    /// Run again after `delay_ms` without spending an attempt.
    Snooze,
    /// The job was cancelled (it saw its cancellation): `cancelled`.
    Cancel,
}

/// An error as recorded in the job's error list.
///
/// Senders should keep within the limits (the `truncated` method applies them); the server
/// truncates whatever exceeds them instead of refusing the outcome, since an outcome must
/// never be lost over a long backtrace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The error's type (an exception class, a Rust error type name); at most
    /// [`MAX_ERROR_KIND_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The error's message; at most [`MAX_ERROR_MESSAGE_BYTES`].
    pub message: String,
    /// Where it happened; at most [`MAX_BACKTRACE_LINES`] lines and [`MAX_BACKTRACE_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backtrace: Option<String>,
    /// Whether the job's code crashed (a panic, an uncaught exception) rather than returned an
    /// error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub panicked: bool,
}

impl ErrorInfo {
    /// An error with only a message.
    pub fn new(message: impl Into<String>) -> ErrorInfo {
        ErrorInfo {
            kind: None,
            message: message.into(),
            backtrace: None,
            panicked: false,
        }
    }

    /// This error within the limits, cut the way the protocol specifies:
    /// - `kind` and `message` are cut to their byte limits at a UTF-8 character boundary;
    /// - a backtrace of more than 64 lines keeps its first 32 and last 31 lines, with the line
    ///   `... N lines omitted ...` between them, then is cut to 16 KiB at a character boundary.
    pub fn truncated(mut self) -> ErrorInfo {
        self.kind = self.kind.map(|k| cut(k, MAX_ERROR_KIND_BYTES));
        self.message = cut(self.message, MAX_ERROR_MESSAGE_BYTES);
        self.backtrace = self.backtrace.map(|b| {
            let lines: Vec<&str> = b.split('\n').collect();
            let kept = if lines.len() > MAX_BACKTRACE_LINES {
                let head = MAX_BACKTRACE_LINES / 2;
                let tail = MAX_BACKTRACE_LINES - head - 1;
                let omitted = lines.len() - head - tail;
                let mut kept: Vec<String> = lines[..head].iter().map(|l| l.to_string()).collect();
                kept.push(format!("... {omitted} lines omitted ..."));
                kept.extend(lines[lines.len() - tail..].iter().map(|l| l.to_string()));
                kept.join("\n")
            } else {
                b
            };
            cut(kept, MAX_BACKTRACE_BYTES)
        });
        self
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// The server's answer to a fenced write (`Completed`, `Failed`, `Release`, `Progress`,
/// `Extend`), server to client. A worker resends an outcome until it gets this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// The job.
    pub job_id: JobId,
    /// The execution's token, as sent.
    pub lease: LeaseToken,
    /// The type of the message answered.
    pub of: Recordable,
    /// What the write did.
    pub status: RecordStatus,
    /// For `Extend`: the lease granted from now (milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
}

/// The messages `Recorded` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Recordable {
    /// `Completed`.
    Completed,
    /// `Failed`.
    Failed,
    /// `Release`.
    Release,
    /// `Progress`.
    Progress,
    /// `Extend`.
    Extend,
}

/// What a fenced write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordStatus {
    /// Written now.
    Applied,
    /// This execution's outcome was already written (a resend after a lost reply): nothing
    /// changed, and nothing is wrong.
    AlreadyRecorded,
    /// The execution no longer holds the job (its lease expired and the job was rescued, it
    /// was cancelled, or the token is wrong): nothing changed. Stop the job if it still runs.
    Stale,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_cuts_at_character_boundaries_and_keeps_both_ends() {
        let info = ErrorInfo {
            kind: Some("é".repeat(100)),
            message: "x".repeat(5000),
            backtrace: Some(
                (1..=100)
                    .map(|i| format!("frame {i}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            panicked: true,
        }
        .truncated();
        assert_eq!(info.kind.as_deref().map(str::len), Some(128));
        assert_eq!(info.message.len(), MAX_ERROR_MESSAGE_BYTES);
        let backtrace = info.backtrace.unwrap_or_default();
        let lines: Vec<&str> = backtrace.lines().collect();
        assert_eq!(lines.len(), MAX_BACKTRACE_LINES);
        assert_eq!(lines[0], "frame 1");
        assert_eq!(lines[32], "... 37 lines omitted ...");
        assert_eq!(lines[63], "frame 100");
    }

    #[test]
    fn a_long_backtrace_line_is_cut_to_the_byte_limit() {
        let info = ErrorInfo {
            backtrace: Some("ü".repeat(10_000)),
            ..ErrorInfo::new("boom")
        }
        .truncated();
        assert_eq!(info.backtrace.map(|b| b.len()), Some(MAX_BACKTRACE_BYTES));
    }
}
