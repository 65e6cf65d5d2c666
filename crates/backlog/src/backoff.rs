//! How long a failed job waits before its next attempt.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A retry backoff strategy. Attempt numbers start at 1 (the attempt that just failed).
///
/// ```
/// use std::time::Duration;
/// use backlog::Backoff;
///
/// let linear = Backoff::Linear { step: Duration::from_secs(10), max: Duration::from_secs(60) };
/// assert_eq!(linear.delay(2), Duration::from_secs(20));
/// assert_eq!(linear.delay(9), Duration::from_secs(60));
///
/// let custom = Backoff::custom(|attempt| Duration::from_millis(100 * attempt as u64));
/// assert_eq!(custom.delay(3), Duration::from_millis(300));
/// ```
#[derive(Clone)]
pub enum Backoff {
    /// `base * 2^(attempt-1)`, capped at `max`, then spread by ±`jitter` (a fraction, e.g. 0.1)
    /// so that many failing jobs do not retry in lockstep. The default: 1 s base, 6 h cap, 10 %.
    Exponential {
        /// The first delay.
        base: Duration,
        /// The longest delay.
        max: Duration,
        /// Random spread as a fraction of the delay, 0.0 to 1.0.
        jitter: f64,
    },
    /// `step * attempt`, capped at `max`.
    Linear {
        /// Added per attempt.
        step: Duration,
        /// The longest delay.
        max: Duration,
    },
    /// Always the same delay.
    Fixed(Duration),
    /// A function of the attempt number.
    Custom(Arc<dyn Fn(i32) -> Duration + Send + Sync>),
    /// The next level's backoff. A job's backoff comes from the first level that names one:
    /// the job's own ([`InsertOpts::backoff`](crate::InsertOpts::backoff)), its worker's
    /// ([`Worker::backoff`](crate::Worker::backoff), which returns `Inherit` unless
    /// overridden), its queue's ([`QueueConfig::backoff`](crate::QueueConfig::backoff)), then
    /// the runner's ([`RunnerBuilder::backoff`](crate::RunnerBuilder::backoff), by default
    /// [`Backoff::default`]). As a delay on its own it is the default's.
    Inherit,
}

impl Backoff {
    /// A backoff computed by `f(attempt)`.
    pub fn custom(f: impl Fn(i32) -> Duration + Send + Sync + 'static) -> Backoff {
        Backoff::Custom(Arc::new(f))
    }

    /// The delay after failed attempt number `attempt`.
    pub fn delay(&self, attempt: i32) -> Duration {
        let attempt = attempt.max(1);
        match self {
            Backoff::Exponential { base, max, jitter } => {
                let exp = (attempt - 1).min(40) as u32;
                let raw = base.saturating_mul(2u32.saturating_pow(exp)).min(*max);
                let jitter = jitter.clamp(0.0, 1.0);
                let factor = 1.0 + jitter * (fastrand::f64() * 2.0 - 1.0);
                raw.mul_f64(factor)
            }
            Backoff::Linear { step, max } => step.saturating_mul(attempt as u32).min(*max),
            Backoff::Fixed(delay) => *delay,
            Backoff::Custom(f) => f(attempt),
            Backoff::Inherit => Backoff::default().delay(attempt),
        }
    }

    /// `self`, or `next` when `self` is [`Backoff::Inherit`].
    pub fn or(self, next: Backoff) -> Backoff {
        match self {
            Backoff::Inherit => next,
            own => own,
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::Exponential {
            base: Duration::from_secs(1),
            max: Duration::from_secs(6 * 3600),
            jitter: 0.1,
        }
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backoff::Exponential { base, max, jitter } => f
                .debug_struct("Exponential")
                .field("base", base)
                .field("max", max)
                .field("jitter", jitter)
                .finish(),
            Backoff::Linear { step, max } => f
                .debug_struct("Linear")
                .field("step", step)
                .field("max", max)
                .finish(),
            Backoff::Fixed(d) => f.debug_tuple("Fixed").field(d).finish(),
            Backoff::Custom(_) => f.write_str("Custom(..)"),
            Backoff::Inherit => f.write_str("Inherit"),
        }
    }
}

impl PartialEq for Backoff {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Backoff::Custom(a), Backoff::Custom(b)) => Arc::ptr_eq(a, b),
            (a, b) => StoredBackoff::from_backoff(a) == StoredBackoff::from_backoff(b),
        }
    }
}

/// The form a per-job backoff takes in the job's `backoff` column, so that whichever process
/// runs the job applies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum StoredBackoff {
    Exponential {
        base_ms: u64,
        max_ms: u64,
        jitter: f64,
    },
    Linear {
        step_ms: u64,
        max_ms: u64,
    },
    Fixed {
        delay_ms: u64,
    },
}

impl StoredBackoff {
    pub(crate) fn from_backoff(b: &Backoff) -> Option<StoredBackoff> {
        let ms = |d: &Duration| d.as_millis().min(u64::MAX as u128) as u64;
        Some(match b {
            Backoff::Exponential { base, max, jitter } => StoredBackoff::Exponential {
                base_ms: ms(base),
                max_ms: ms(max),
                jitter: *jitter,
            },
            Backoff::Linear { step, max } => StoredBackoff::Linear {
                step_ms: ms(step),
                max_ms: ms(max),
            },
            Backoff::Fixed(d) => StoredBackoff::Fixed { delay_ms: ms(d) },
            Backoff::Custom(_) | Backoff::Inherit => return None,
        })
    }

    pub(crate) fn into_backoff(self) -> Backoff {
        let d = Duration::from_millis;
        match self {
            StoredBackoff::Exponential {
                base_ms,
                max_ms,
                jitter,
            } => Backoff::Exponential {
                base: d(base_ms),
                max: d(max_ms),
                jitter,
            },
            StoredBackoff::Linear { step_ms, max_ms } => Backoff::Linear {
                step: d(step_ms),
                max: d(max_ms),
            },
            StoredBackoff::Fixed { delay_ms } => Backoff::Fixed(d(delay_ms)),
        }
    }

    /// The job's own backoff (its `backoff` column), if it has one.
    pub(crate) fn of(row: &backlog_types::JobRow) -> Option<Backoff> {
        let value = row.backoff.as_ref()?;
        serde_json::from_value::<StoredBackoff>(value.clone())
            .ok()
            .map(StoredBackoff::into_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_caps_and_jitters() {
        let b = Backoff::Exponential {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
            jitter: 0.0,
        };
        assert_eq!(b.delay(1), Duration::from_secs(1));
        assert_eq!(b.delay(4), Duration::from_secs(8));
        assert_eq!(b.delay(30), Duration::from_secs(60));
        let jittered = Backoff::default();
        for _ in 0..100 {
            let d = jittered.delay(3);
            assert!(
                d >= Duration::from_millis(3600) && d <= Duration::from_millis(4400),
                "{d:?}"
            );
        }
    }

    #[test]
    fn fixed_and_linear() {
        assert_eq!(
            Backoff::Fixed(Duration::from_secs(5)).delay(7),
            Duration::from_secs(5)
        );
        let l = Backoff::Linear {
            step: Duration::from_secs(2),
            max: Duration::from_secs(5),
        };
        assert_eq!(l.delay(1), Duration::from_secs(2));
        assert_eq!(l.delay(3), Duration::from_secs(5));
    }

    #[test]
    fn stored_round_trip() {
        let b = Backoff::Linear {
            step: Duration::from_millis(1500),
            max: Duration::from_secs(9),
        };
        let stored = StoredBackoff::from_backoff(&b).unwrap();
        let mut row = crate::remote::RemoteOrder::new(1, "k", serde_json::json!({})).row();
        assert_eq!(StoredBackoff::of(&row), None);
        row.backoff = Some(serde_json::to_value(stored).unwrap());
        assert_eq!(StoredBackoff::of(&row), Some(b));
        assert!(StoredBackoff::from_backoff(&Backoff::custom(|_| Duration::ZERO)).is_none());
    }
}
