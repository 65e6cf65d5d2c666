//! Opening a backend from a URL.

use std::sync::Arc;

use anyhow::{bail, Context};
use backlog::postgres::{PgConfig, PgStorage};
use backlog::sqlite::{SqliteConfig, SqliteStorage};
use backlog::Storage;

/// An opened backend.
pub struct Database {
    pub storage: Arc<dyn Storage>,
    /// A human description for messages (never includes a password).
    pub describe: String,
    /// The same storage by its concrete type, for what the seam does not offer (the bench's raw
    /// SQL).
    pub backend: Backend,
}

/// The concrete storage behind [`Database::storage`].
#[derive(Clone)]
pub enum Backend {
    Sqlite(SqliteStorage),
    Postgres(PgStorage),
}

/// Every storage this process opened, for [`flush_opened`].
static OPENED: std::sync::Mutex<Vec<Arc<dyn Storage>>> = std::sync::Mutex::new(Vec::new());

/// Waits until the wake-ups of every storage opened so far have been sent (see
/// `Storage::flush_wakeups`); called once, when the command is done.
pub async fn flush_opened() {
    let opened = OPENED
        .lock()
        .map(|mut o| std::mem::take(&mut *o))
        .unwrap_or_default();
    for storage in opened {
        storage.flush_wakeups().await;
    }
}

/// What a `--database` URL names.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Sqlite(String),
    Postgres(String),
}

pub fn parse(url: &str) -> anyhow::Result<Target> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if path.is_empty() {
            bail!("`{url}` names no file: use sqlite://PATH, e.g. sqlite://backlog.sqlite3");
        }
        return Ok(Target::Sqlite(path.to_owned()));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres(url.to_owned()));
    }
    bail!("unsupported database URL `{url}`: use sqlite://PATH or postgres://USER@HOST:PORT/DB")
}

impl Database {
    /// Empties every Backlog table (the demo and the bench start from nothing). Not on the
    /// storage seam: only the concrete backends offer it.
    pub async fn truncate_all(&self) -> Result<(), backlog::storage::Error> {
        match &self.backend {
            Backend::Sqlite(storage) => storage.truncate_all().await,
            Backend::Postgres(storage) => storage.truncate_all().await,
        }
    }

    pub async fn open(url: &str, schema: &str) -> anyhow::Result<Database> {
        Database::open_with(url, schema, None).await
    }

    /// As [`Database::open`], with at most `max_connections` pooled PostgreSQL connections
    /// (`None`: the library's default).
    pub async fn open_with(
        url: &str,
        schema: &str,
        max_connections: Option<usize>,
    ) -> anyhow::Result<Database> {
        let database = Database::connect(url, schema, max_connections).await?;
        if let Ok(mut opened) = OPENED.lock() {
            opened.push(database.storage.clone());
        }
        Ok(database)
    }

    async fn connect(
        url: &str,
        schema: &str,
        max_connections: Option<usize>,
    ) -> anyhow::Result<Database> {
        match parse(url)? {
            Target::Sqlite(path) => {
                let storage = SqliteStorage::open(&path, SqliteConfig::default())
                    .await
                    .with_context(|| format!("could not open SQLite database {path}"))?;
                Ok(Database {
                    storage: Arc::new(storage.clone()),
                    describe: format!("SQLite file {path}"),
                    backend: Backend::Sqlite(storage),
                })
            }
            Target::Postgres(url) => {
                let mut config = PgConfig {
                    schema: schema.to_owned(),
                    ..PgConfig::default()
                };
                if let Some(n) = max_connections {
                    config.max_connections = n;
                }
                let storage = PgStorage::connect(&url, config).await.with_context(|| {
                    "could not connect to PostgreSQL (is it running? check --database)".to_string()
                })?;
                storage.now().await.context("PostgreSQL did not answer")?;
                Ok(Database {
                    storage: Arc::new(storage.clone()),
                    describe: format!("PostgreSQL {} (schema {schema})", redact(&url)),
                    backend: Backend::Postgres(storage),
                })
            }
        }
    }
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            parse("sqlite://a/b.db").unwrap(),
            Target::Sqlite("a/b.db".into())
        );
        assert_eq!(parse("sqlite:x.db").unwrap(), Target::Sqlite("x.db".into()));
        assert!(matches!(
            parse("postgres://u@h/db").unwrap(),
            Target::Postgres(_)
        ));
        assert!(parse("mysql://x")
            .unwrap_err()
            .to_string()
            .contains("unsupported"));
        assert!(parse("sqlite://").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
