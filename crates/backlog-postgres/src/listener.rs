//! The listener: one background task per [`PgStorage`] with a dedicated connection that
//! `LISTEN`s on the storage's channel and forwards notifications to a broadcast channel.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backlog_storage::{Error, ErrorKind, Event};
use futures_util::stream::{self, StreamExt};
use tokio::sync::{broadcast, watch};
use tokio_postgres::{AsyncMessage, NoTls};

use crate::leader_cron::{CRON_CHANGED, LEADER_RESIGNED_PREFIX};
use crate::{error, PgStorage};

/// Events buffered per subscriber before a slow one starts lagging.
const CAPACITY: usize = 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// A connection that has run `LISTEN`, as a stream of its asynchronous messages. The client is
/// kept: dropping it would close the connection.
struct Listening {
    _client: tokio_postgres::Client,
    messages: stream::BoxStream<'static, Result<AsyncMessage, tokio_postgres::Error>>,
}

impl PgStorage {
    /// Starts the listener on first use, then subscribes to it.
    pub(crate) async fn subscribe(&self) -> Result<broadcast::Receiver<Event>, Error> {
        if let Some(sender) = self.inner.events.get() {
            return Ok(sender.subscribe());
        }
        let _starting = self.inner.subscribing.lock().await;
        if let Some(sender) = self.inner.events.get() {
            return Ok(sender.subscribe()); // started while this call waited
        }
        // Listen before returning, so that the caller sees every notification sent after.
        let listening = listen(&self.inner.pg_config, &self.inner.channel).await?;
        let (sender, receiver) = broadcast::channel(CAPACITY);
        tokio::spawn(run(
            listening,
            self.inner.pg_config.clone(),
            self.inner.channel.clone(),
            sender.clone(),
            self.inner.shutdown_rx.clone(),
            self.inner.wakeup_pid.clone(),
        ));
        // Set once: only the holder of `subscribing` gets here, and only while it is unset.
        let _ = self.inner.events.set(sender);
        Ok(receiver)
    }
}

/// Opens a dedicated connection and runs `LISTEN "<channel>"` on it.
async fn listen(config: &tokio_postgres::Config, channel: &str) -> Result<Listening, Error> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(error::pg)?;
    let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx)).boxed();
    // The channel is derived from the validated schema name; LISTEN takes no parameters.
    let sql = format!("LISTEN \"{channel}\"");
    {
        let listen = client.batch_execute(&sql);
        tokio::pin!(listen);
        // The connection only makes progress while polled, so drive it until LISTEN completes.
        loop {
            tokio::select! {
                result = &mut listen => {
                    result.map_err(error::pg)?;
                    break;
                }
                message = messages.next() => match message {
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return Err(error::pg(err)),
                    None => {
                        return Err(Error::new(
                            ErrorKind::Unavailable,
                            "the listener connection closed before LISTEN completed",
                        ))
                    }
                },
            }
        }
    }
    Ok(Listening {
        _client: client,
        messages,
    })
}

/// Forwards notifications until the storage is dropped, reconnecting with backoff.
async fn run(
    mut listening: Listening,
    config: tokio_postgres::Config,
    channel: String,
    sender: broadcast::Sender<Event>,
    mut shutdown: watch::Receiver<()>,
    own_pid: Arc<AtomicI32>,
) {
    loop {
        tokio::select! {
            // Nothing is ever sent: this completes when the storage's sender is dropped.
            _ = shutdown.changed() => return,
            message = listening.messages.next() => match message {
                Some(Ok(AsyncMessage::Notification(notification))) => {
                    // Sent by this storage's own wake-up task: its subscribers were woken
                    // directly already (see wakeup.rs).
                    if notification.process_id() == own_pid.load(Ordering::Relaxed) {
                        continue;
                    }
                    // No subscriber is not an error: nobody is waiting right now.
                    let _ = sender.send(event_of(notification.payload()));
                }
                Some(Ok(_)) => {}
                lost => {
                    match lost {
                        Some(Err(err)) => tracing::warn!(error = %err, "backlog listener connection failed"),
                        _ => tracing::warn!("backlog listener connection closed"),
                    }
                    match reconnect(&config, &channel, &mut shutdown).await {
                        Some(next) => listening = next,
                        None => return,
                    }
                    // Notifications sent while disconnected are lost: ask subscribers to poll.
                    let _ = sender.send(Event::Resync);
                }
            },
        }
    }
}

/// Decodes a notification payload: a queue name (insert wake-ups), `cancel:<id>,<id>...`
/// (cancellation requests), `resumed:<queue>` (a resumed queue), or one of the `!`-prefixed
/// control payloads. Queue names contain neither `:` nor `!`, so the forms cannot collide.
fn event_of(payload: &str) -> Event {
    if let Some(name) = payload.strip_prefix(LEADER_RESIGNED_PREFIX) {
        Event::LeaderResigned {
            name: name.to_owned(),
        }
    } else if payload == CRON_CHANGED {
        Event::CronChanged
    } else if let Some(ids) = payload.strip_prefix("cancel:") {
        Event::CancelRequested {
            ids: ids.split(',').filter_map(|id| id.parse().ok()).collect(),
        }
    } else if let Some(queue) = payload.strip_prefix("resumed:") {
        Event::QueueResumed {
            queue: queue.to_owned(),
        }
    } else {
        Event::JobAvailable {
            queue: payload.to_owned(),
        }
    }
}

/// Retries [`listen`] with exponential backoff; `None` when shut down meanwhile.
async fn reconnect(
    config: &tokio_postgres::Config,
    channel: &str,
    shutdown: &mut watch::Receiver<()>,
) -> Option<Listening> {
    let mut delay = BACKOFF_MIN;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        tokio::select! {
            _ = shutdown.changed() => return None,
            result = listen(config, channel) => match result {
                Ok(listening) => {
                    tracing::info!("backlog listener reconnected");
                    return Some(listening);
                }
                Err(err) => tracing::warn!(error = %err, ?delay, "backlog listener reconnect failed"),
            },
        }
        delay = (delay * 2).min(BACKOFF_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        assert_eq!(
            event_of("emails"),
            Event::JobAvailable {
                queue: "emails".into()
            }
        );
        assert_eq!(
            event_of("cancel:4,7"),
            Event::CancelRequested { ids: vec![4, 7] }
        );
        assert_eq!(
            event_of("resumed:emails"),
            Event::QueueResumed {
                queue: "emails".into()
            }
        );
        assert_eq!(
            event_of(&format!("{LEADER_RESIGNED_PREFIX}maintenance")),
            Event::LeaderResigned {
                name: "maintenance".into()
            }
        );
        assert_eq!(event_of(CRON_CHANGED), Event::CronChanged);
    }
}
