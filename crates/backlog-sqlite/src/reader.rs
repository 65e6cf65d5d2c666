//! The read connections: a small pool used from `spawn_blocking`, so reads never wait for the
//! writer thread (WAL lets readers and the writer work at the same time).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use backlog_storage::{Error, ErrorKind};
use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::SqliteConfig;

/// A pool of `config.readers` connections opened lazily on first use.
pub(crate) struct ReadPool {
    path: PathBuf,
    config: SqliteConfig,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf, config: SqliteConfig) -> ReadPool {
        let readers = config.readers.max(1);
        ReadPool {
            path,
            config,
            idle: Mutex::new(Vec::with_capacity(readers)),
            permits: Semaphore::new(readers),
        }
    }

    /// Runs `read` on a pooled connection in a blocking thread.
    pub(crate) async fn run<F, R>(self: &Arc<Self>, read: F) -> Result<R, Error>
    where
        F: FnOnce(&Connection) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        let _permit =
            self.permits.acquire().await.map_err(|_| {
                Error::new(ErrorKind::Unavailable, "the SQLite read pool is closed")
            })?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = pool.checkout()?;
            let result = read(&conn);
            pool.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            result
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Database, "a SQLite read task failed").with_source(e))?
    }

    fn checkout(&self) -> Result<Connection, Error> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            None => crate::connection::open_reader(&self.path, &self.config),
        }
    }

    /// Closes the idle connections and refuses further reads.
    pub(crate) fn close(&self) {
        self.permits.close();
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
