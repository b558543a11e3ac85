//! One partition: its log, the high watermark readers may see, and the flush that moves it.

use bytes::Bytes;
use parking_lot::Mutex;
use semel_log::{Entry, Log, LogConfig, LogReader};
use std::path::Path;
use tokio::sync::watch;

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The log refused the write.
    #[error(transparent)]
    Log(#[from] semel_log::Error),
    /// The batch is not one whole magic-2 batch.
    #[error("malformed batch: {0}")]
    Batch(#[from] semel_wire::DecodeError),
}

/// Where a batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of its first record.
    pub base_offset: i64,
    /// Offset after its last record.
    pub next_offset: u64,
}

/// A partition of a topic. Appends are serialised by the log's lock; reads never take it.
#[derive(Debug)]
pub struct Partition {
    log: Mutex<Log>,
    reader: LogReader,
    /// The high watermark: offsets below it may be read and are acknowledged. With
    /// `--flush always` it is the durable offset, else the log end.
    high_watermark: watch::Sender<u64>,
    hw_is_durable: bool,
}

impl Partition {
    /// Opens (recovering) or creates the partition's log in `dir`.
    ///
    /// # Errors
    /// The log cannot be opened (corruption in a sealed segment, I/O, lock held).
    pub fn open(
        dir: &Path,
        config: LogConfig,
        hw_is_durable: bool,
    ) -> Result<Self, semel_log::Error> {
        let log = Log::open(dir, config)?;
        let reader = log.reader();
        // After recovery everything left in the log is whole; it was flushed by recovery or is
        // about to be: flush now so the high watermark starts at the log end.
        reader.sync()?;
        let (high_watermark, _) = watch::channel(reader.next_offset());
        Ok(Self {
            log: Mutex::new(log),
            reader,
            high_watermark,
            hw_is_durable,
        })
    }

    /// Appends one record batch (Kafka bytes), patching its base offset in place in the mapped
    /// segment (one copy: request buffer → mapping).
    ///
    /// # Errors
    /// The log refuses the write (I/O error, full disk, poisoned log), or `batch` is not one
    /// whole magic-2 batch (nothing is written then).
    pub fn append_batch(
        &self,
        batch: &[u8],
        record_count: u32,
        max_timestamp: i64,
    ) -> Result<Appended, AppendError> {
        let mut log = self.log.lock();
        let mut slot = log.reserve(batch.len())?;
        let base = slot.base_offset();
        let base_offset = i64::try_from(base).unwrap_or(i64::MAX);
        let bytes = slot.bytes_mut();
        bytes.copy_from_slice(batch);
        // Offsets and the leader epoch sit outside the CRC: no recomputation. On error the
        // reservation is dropped uncommitted, which abandons it.
        semel_wire::patch_base_offset(bytes, base_offset)?;
        semel_wire::patch_partition_leader_epoch(bytes, 0)?;
        let appended = slot.commit(record_count, max_timestamp)?;
        drop(log);
        if !self.hw_is_durable {
            self.publish(appended.next_offset);
        }
        Ok(Appended {
            base_offset,
            next_offset: appended.next_offset,
        })
    }

    /// Flushes everything appended so far and advances the high watermark to it.
    ///
    /// # Errors
    /// The flush failed (the log then refuses further writes until reopened).
    pub fn sync(&self) -> Result<(), semel_log::Error> {
        self.reader.sync()?;
        self.publish(self.reader.durable_offset());
        Ok(())
    }

    fn publish(&self, offset: u64) {
        self.high_watermark.send_if_modified(|hw| {
            if offset > *hw {
                *hw = offset;
                true
            } else {
                false
            }
        });
    }

    /// The high watermark.
    pub fn high_watermark(&self) -> u64 {
        *self.high_watermark.borrow()
    }

    /// A receiver that changes whenever the high watermark advances.
    pub fn watch_high_watermark(&self) -> watch::Receiver<u64> {
        self.high_watermark.subscribe()
    }

    /// The first offset still stored.
    pub fn log_start_offset(&self) -> u64 {
        self.reader.log_start_offset()
    }

    /// The offset the next append gets.
    pub fn log_end_offset(&self) -> u64 {
        self.reader.next_offset()
    }

    /// Reads whole entries (Kafka batches) from the one containing `offset`, up to about
    /// `max_bytes` (the first entry is returned whole even if larger), never past the high
    /// watermark.
    ///
    /// # Errors
    /// The log could not be read.
    pub fn read(&self, offset: u64, max_bytes: usize) -> Result<Vec<Bytes>, semel_log::Error> {
        let hw = self.high_watermark();
        if offset >= hw {
            return Ok(Vec::new());
        }
        let entries = self.reader.read(offset, max_bytes)?;
        Ok(entries
            .into_iter()
            .take_while(|e: &Entry| e.next_offset() <= hw)
            .map(|e| e.payload)
            .collect())
    }

    /// The first offset whose entry's max timestamp is at least `timestamp`, if below the high
    /// watermark.
    ///
    /// # Errors
    /// The log could not be read.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<u64>, semel_log::Error> {
        Ok(self
            .reader
            .offset_for_timestamp(timestamp)?
            .filter(|&o| o < self.high_watermark()))
    }

    /// Deletes whole old segments past the retention limits.
    ///
    /// # Errors
    /// A segment file could not be deleted.
    pub fn retain(&self, now_ms: i64) -> Result<(), semel_log::Error> {
        self.log.lock().retain(now_ms).map(|_| ())
    }
}
