//! Idempotency keys: a producer's own name for one enqueue, remembered for a window so that
//! retrying the enqueue (after a timeout or an outcome-unknown error) cannot insert the job twice.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{Error, ErrorKind, JobInsert};

/// The longest idempotency key accepted, in bytes.
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 255;

/// How long a key is remembered when the caller does not say: 24 hours.
pub const IDEMPOTENCY_WINDOW_DEFAULT: Duration = Duration::from_secs(24 * 60 * 60);

/// The idempotency of one job to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyInsert {
    /// The key (validated with [`validate_idempotency_key`]).
    pub key: String,
    /// How long the key is remembered after the insert, even if the job itself is deleted
    /// sooner. Within the window a second insert with the key inserts nothing and reports the
    /// first job's id as a duplicate; after it the key may be used again.
    pub window: Duration,
    /// Overrides the database clock for the window (tests).
    pub now: Option<DateTime<Utc>>,
}

impl IdempotencyInsert {
    /// A key remembered for [`IDEMPOTENCY_WINDOW_DEFAULT`].
    pub fn new(key: impl Into<String>) -> IdempotencyInsert {
        IdempotencyInsert {
            key: key.into(),
            window: IDEMPOTENCY_WINDOW_DEFAULT,
            now: None,
        }
    }
}

/// Checks an idempotency key: 1 to [`IDEMPOTENCY_KEY_MAX_LEN`] bytes of printable ASCII.
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`], saying what is wrong with the key.
pub fn validate_idempotency_key(key: &str) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "the idempotency key is empty: use a non-empty key, e.g. a request id",
        ));
    }
    if key.len() > IDEMPOTENCY_KEY_MAX_LEN {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "the idempotency key is {} bytes long: use at most {IDEMPOTENCY_KEY_MAX_LEN} \
                 (hash a longer one)",
                key.len()
            ),
        ));
    }
    if let Some(c) = key.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "the idempotency key {key:?} contains {c:?}: use printable ASCII without spaces"
            ),
        ));
    }
    Ok(())
}

/// Checks the idempotency of every job of a batch (backends call it before inserting): valid
/// keys, and no job that is both unique and keyed (the two kinds of deduplication would disagree
/// about which job a duplicate is).
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] naming the problem.
pub fn check_idempotency(jobs: &[JobInsert]) -> Result<(), Error> {
    for job in jobs {
        if let Some(idempotency) = &job.idempotency {
            validate_idempotency_key(&idempotency.key)?;
            if job.unique.is_some() {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "the job with idempotency key {:?} is also unique: use one or the other \
                         (a unique job is already deduplicated while it lives)",
                        idempotency.key
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Parameters of [`Storage::idempotency_prune`](crate::Storage::idempotency_prune).
#[derive(Debug, Clone)]
pub struct IdempotencyPruneParams {
    /// Delete at most this many expired keys.
    pub limit: u32,
    /// Overrides the database clock (tests).
    pub now: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_keys() {
        assert!(validate_idempotency_key("order-42/charge").is_ok());
        for bad in [
            "",
            "has space",
            "é",
            &"k".repeat(IDEMPOTENCY_KEY_MAX_LEN + 1),
        ] {
            let err = validate_idempotency_key(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
        }
    }
}
