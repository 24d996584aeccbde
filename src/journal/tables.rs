//! The journal's tables: what `store` writes and `salvage` reads back.

use redb::TableDefinition;

/// Pending jobs: key → `(sentinel, package, the job's record)`.
pub(super) const PENDING: TableDefinition<u64, (&str, &str, &[u8])> =
    TableDefinition::new("pending");
/// Pending jobs as journals before 2026-12-03 kept them, `(sentinel, package, key)` →
/// record: moved into [`PENDING`] when such a journal opens.
pub(super) const JOBS_BY_PACKAGE: TableDefinition<(&str, &str, u64), &[u8]> =
    TableDefinition::new("jobs");
/// Retained messages: topic → `(payload, QoS, properties as JSON or empty)`.
pub(super) const RETAINED: TableDefinition<&str, (&[u8], u8, &[u8])> =
    TableDefinition::new("retained");
