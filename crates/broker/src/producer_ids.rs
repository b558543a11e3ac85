//! Producer ids: handed out by semel-sequencer's allocator in blocks whose high-water mark is
//! persisted (and flushed) in the internal log `<data-dir>/__producer_ids` before any id of the
//! block is used, so no id is ever handed out twice, across any crash.

use parking_lot::Mutex;
use semel_log::{Log, LogConfig};
use semel_sequencer::{Allocation, ProducerIdAllocator, ProducerIdBlock};
use std::path::Path;

/// Ids reserved per persisted block.
const BLOCK_SIZE: i64 = 1000;

/// Why an id could not be handed out.
#[derive(Debug, thiserror::Error)]
pub enum ProducerIdError {
    /// The internal log failed.
    #[error(transparent)]
    Log(#[from] semel_log::Error),
    /// The allocator refused (ids exhausted) or a stored block is damaged.
    #[error(transparent)]
    Sequencer(#[from] semel_sequencer::SequencerError),
}

/// The broker's producer-id source.
#[derive(Debug)]
pub struct ProducerIds {
    inner: Mutex<(ProducerIdAllocator, Log)>,
}

impl ProducerIds {
    /// Opens the internal log and replays the persisted blocks.
    ///
    /// # Errors
    /// The log cannot be opened or holds a damaged block record.
    pub fn open(data_dir: &Path) -> Result<Self, ProducerIdError> {
        let log = Log::open(
            data_dir.join("__producer_ids"),
            LogConfig {
                segment_bytes: 1024 * 1024,
                ..LogConfig::default()
            },
        )?;
        let mut allocator = ProducerIdAllocator::new(BLOCK_SIZE)?;
        let reader = log.reader();
        reader.replay(reader.log_start_offset(), |entry| {
            allocator.replay(&ProducerIdBlock::decode(&entry.payload)?);
            Ok::<(), ProducerIdError>(())
        })?;
        Ok(Self {
            inner: Mutex::new((allocator, log)),
        })
    }

    /// A producer id never handed out before.
    ///
    /// # Errors
    /// Persisting a new block failed, or ids are exhausted.
    pub fn next(&self) -> Result<i64, ProducerIdError> {
        let mut guard = self.inner.lock();
        let (allocator, log) = &mut *guard;
        loop {
            match allocator.allocate()? {
                Allocation::ProducerId(id) => return Ok(id),
                Allocation::PersistBlock(block) => {
                    log.append(&block.encode(), 1, 0)?;
                    log.sync()?;
                    allocator.block_persisted(&block)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_reused_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..3 {
            let ids = ProducerIds::open(dir.path()).unwrap();
            for _ in 0..1500 {
                assert!(
                    seen.insert(ids.next().unwrap()),
                    "an id was handed out twice"
                );
            }
        }
    }
}
