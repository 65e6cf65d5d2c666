//! Idempotency keys at enqueue: validation and generation (the storage keeps the keys).

use std::time::Duration;

use backlog_storage::{validate_idempotency_key, IdempotencyInsert, IDEMPOTENCY_WINDOW_DEFAULT};

use crate::EnqueueError;

/// A fresh idempotency key: 128 random bits as 32 hex digits. Make it before the first attempt
/// of an enqueue and pass it to every retry with
/// [`InsertOpts::idempotency_key`](crate::InsertOpts::idempotency_key). Random, not secret.
pub fn new_idempotency_key() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// The storage's idempotency of a job from its options.
pub(crate) fn insert(
    key: Option<String>,
    window: Option<Duration>,
    unique: bool,
) -> Result<Option<IdempotencyInsert>, EnqueueError> {
    let Some(key) = key else {
        return Ok(None);
    };
    validate_idempotency_key(&key)
        .map_err(|err| EnqueueError::InvalidOption(err.message().to_owned()))?;
    if unique {
        return Err(EnqueueError::InvalidOption(format!(
            "the job has both an idempotency key ({key:?}) and unique options: use one or the \
             other (a unique job is already deduplicated while it lives)"
        )));
    }
    let window = window.unwrap_or(IDEMPOTENCY_WINDOW_DEFAULT);
    if window.is_zero() || chrono::Duration::from_std(window).is_err() {
        return Err(EnqueueError::InvalidOption(format!(
            "idempotency_window must be longer than zero and at most a few centuries, got \
             {window:?}"
        )));
    }
    Ok(Some(IdempotencyInsert {
        key,
        window,
        now: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_valid_and_differ() {
        let (a, b) = (new_idempotency_key(), new_idempotency_key());
        assert_eq!(a.len(), 32);
        assert!(validate_idempotency_key(&a).is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn rejects_bad_options() {
        let cases = [
            (Some(""), None, false),
            (Some("k"), None, true),
            (Some("k"), Some(Duration::ZERO), false),
        ];
        for (key, window, unique) in cases {
            let result = insert(key.map(str::to_owned), window, unique);
            assert!(matches!(result, Err(EnqueueError::InvalidOption(_))));
        }
        assert!(insert(None, None, true).unwrap().is_none());
    }
}
