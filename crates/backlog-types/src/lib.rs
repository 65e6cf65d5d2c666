//! Leaf types shared by every Backlog crate: the job row, its state machine, priorities and
//! the validation rules for queue and kind names.
//!
//! Nothing here talks to a database or spawns a task; the storage seam (`backlog-storage`), the
//! backends and the runtime all build on these types.
//!
//! ```
//! use backlog_types::{JobState, Priority, QueueName};
//!
//! let queue = QueueName::new("thumbnails").unwrap();
//! assert_eq!(queue.as_str(), "thumbnails");
//! assert!(QueueName::new("has space").is_err());
//! assert!(Priority::HIGH > Priority::NORMAL);
//! assert!(JobState::Discarded.is_finalized());
//! ```

mod job;
mod lease;
mod name;
mod priority;
mod state;

pub use job::{AttemptError, JobId, JobRow};
pub use lease::{InvalidLeaseToken, LeaseToken};
pub use name::{validate_kind, InvalidName, QueueName, MAX_KIND_LEN, MAX_QUEUE_LEN};
pub use priority::Priority;
pub use state::{JobState, UnknownState};
