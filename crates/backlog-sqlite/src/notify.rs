//! In-process wake-ups. SQLite has no `LISTEN/NOTIFY`, so every [`SqliteStorage`] opened on the
//! same file in this process shares one `tokio::sync::broadcast` channel, found through a global
//! registry keyed by the file's canonical path: a client and a worker that opened the file
//! separately still wake each other. Writers in other processes are not seen; the runtime's
//! polling fallback covers them.
//!
//! [`SqliteStorage`]: crate::SqliteStorage

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use backlog_storage::Event;
use tokio::sync::broadcast;

/// Events buffered before a slow subscriber lags (it then gets a `Lagged` error from the
/// channel and should poll every queue once).
const CAPACITY: usize = 1024;

type Channel = broadcast::Sender<Event>;

static REGISTRY: LazyLock<Mutex<HashMap<PathBuf, Weak<Channel>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The wake-up channel of one database file.
#[derive(Clone)]
pub(crate) struct Notifier {
    channel: Arc<Channel>,
}

impl Notifier {
    /// The channel shared by every storage of this process opened on `canonical_path`.
    pub(crate) fn for_path(canonical_path: &Path) -> Notifier {
        let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        registry.retain(|_, channel| channel.strong_count() > 0);
        if let Some(channel) = registry.get(canonical_path).and_then(Weak::upgrade) {
            return Notifier { channel };
        }
        let channel = Arc::new(broadcast::channel(CAPACITY).0);
        registry.insert(canonical_path.to_owned(), Arc::downgrade(&channel));
        Notifier { channel }
    }

    /// A new subscriber.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.channel.subscribe()
    }

    /// Tells subscribers that each of `queues` got available jobs (once per distinct queue).
    pub(crate) fn job_available<'a>(&self, queues: impl IntoIterator<Item = &'a str>) {
        let mut seen: Vec<&str> = Vec::new();
        for queue in queues {
            if !seen.contains(&queue) {
                seen.push(queue);
                // No subscriber is not an error.
                let _ = self.channel.send(Event::JobAvailable {
                    queue: queue.to_owned(),
                });
            }
        }
    }

    /// Tells subscribers that cancellation of these running jobs was requested.
    pub(crate) fn cancel_requested(&self, ids: Vec<backlog_types::JobId>) {
        if !ids.is_empty() {
            // No subscriber is not an error.
            let _ = self.channel.send(Event::CancelRequested { ids });
        }
    }

    /// Tells subscribers that `queue` was resumed.
    pub(crate) fn queue_resumed(&self, queue: &str) {
        // No subscriber is not an error.
        let _ = self.channel.send(Event::QueueResumed {
            queue: queue.to_owned(),
        });
    }

    /// Tells subscribers that the lease `name` was given up.
    pub(crate) fn leader_resigned(&self, name: &str) {
        let _ = self.channel.send(Event::LeaderResigned {
            name: name.to_owned(),
        });
    }

    /// Tells subscribers that a periodic job schedule changed.
    pub(crate) fn cron_changed(&self) {
        let _ = self.channel.send(Event::CronChanged);
    }
}
