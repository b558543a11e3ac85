//! [`RecordSet`]: the value of a `records` field — record batches back to back, held as one or
//! more shared chunks so that a broker can answer a fetch with batches that are not adjacent
//! in memory (each log entry has its own framing) without copying them.

use bytes::{Bytes, BytesMut};

/// Record batches, back to back, as shared chunks. Equality compares the bytes, not the
/// chunking.
#[derive(Debug, Clone, Default)]
pub struct RecordSet {
    chunks: Vec<Bytes>,
    len: usize,
}

impl RecordSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set of these chunks, in order (empty chunks are dropped).
    pub fn from_chunks(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        let mut set = Self::new();
        for chunk in chunks {
            set.push(chunk);
        }
        set
    }

    /// Appends a chunk.
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push(chunk);
        }
    }

    /// Total bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunks, in order.
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// The bytes as one buffer: shared (no copy) when there is at most one chunk, copied
    /// otherwise.
    pub fn to_bytes(&self) -> Bytes {
        match self.chunks.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut out = BytesMut::with_capacity(self.len);
                for chunk in many {
                    out.extend_from_slice(chunk);
                }
                out.freeze()
            }
        }
    }
}

impl From<Bytes> for RecordSet {
    fn from(bytes: Bytes) -> Self {
        Self::from_chunks([bytes])
    }
}

impl PartialEq for RecordSet {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && self
                .chunks
                .iter()
                .flat_map(|c| c.iter())
                .eq(other.chunks.iter().flat_map(|c| c.iter()))
    }
}

impl Eq for RecordSet {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_ignores_chunking_and_single_chunks_are_not_copied() {
        let one = RecordSet::from(Bytes::from_static(b"abcdef"));
        let two = RecordSet::from_chunks([
            Bytes::from_static(b"abc"),
            Bytes::new(),
            Bytes::from_static(b"def"),
        ]);
        assert_eq!(one, two);
        assert_eq!(two.chunks().len(), 2);
        assert_eq!(two.to_bytes(), Bytes::from_static(b"abcdef"));
        let blob = Bytes::from(vec![1u8; 100]);
        assert_eq!(
            RecordSet::from(blob.clone()).to_bytes().as_ptr(),
            blob.as_ptr()
        );
        assert_ne!(one, RecordSet::from(Bytes::from_static(b"abcdeF")));
    }
}
