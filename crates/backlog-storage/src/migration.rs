/// One numbered schema change of a backend. Both backends use the same numbers.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The number, starting at 1.
    pub version: u32,
    /// A short name, from the file name.
    pub name: &'static str,
    /// SQL that applies it.
    pub up: &'static str,
    /// SQL that reverts it.
    pub down: &'static str,
}

/// A migration and whether it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// The number.
    pub version: u32,
    /// The name.
    pub name: String,
    /// When it was applied, if it was.
    pub applied_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Which way to migrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationDirection {
    /// Apply pending migrations up to the target (all by default).
    Up,
    /// Revert applied migrations down to, not including, the target (one step by default).
    Down,
}
