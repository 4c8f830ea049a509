//! Call counts, for the status page, the metrics and the benchmark's "Sheets calls per document".
//!
//! Every HTTP request sent is counted, retries included, because that is what Google's quota
//! counts. An attempt that never left (no access token could be had) is not.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of what a [`SheetsClient`](super::SheetsClient) has sent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SheetsStats {
    /// Sheets read requests sent (values.get, spreadsheets.get, developerMetadata:search).
    pub reads: u64,
    /// Sheets write requests sent (values:batchUpdate, spreadsheets:batchUpdate).
    pub writes: u64,
    /// Drive files.get requests sent (Drive quota, not Sheets quota).
    pub drive_reads: u64,
    /// Answers that asked us to slow down (429, 403 rateLimitExceeded).
    pub throttled: u64,
    /// Attempts beyond the first of a call.
    pub retries: u64,
}

/// The live counters behind [`SheetsStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    reads: AtomicU64,
    writes: AtomicU64,
    drive_reads: AtomicU64,
    throttled: AtomicU64,
    retries: AtomicU64,
}

impl Counters {
    pub fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    pub fn write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn drive_read(&self) {
        self.drive_reads.fetch_add(1, Ordering::Relaxed);
    }

    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> SheetsStats {
        SheetsStats {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            drive_reads: self.drive_reads.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }
}
