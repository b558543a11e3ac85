//! A fast keyed hasher for producer-id keys.
//!
//! `std`'s SipHash costs more than the rest of a `check` + `record`. Producer ids come from
//! clients (an unknown id is accepted), so the hash is still keyed with per-table random keys
//! taken from `std`'s `RandomState`: one folded 64×64→128-bit multiply of the key-mixed id (the
//! construction of foldhash/ahash's fallback), which an attacker who cannot see the keys cannot
//! aim collisions at.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Multiplies as 128 bits and folds the halves together.
fn folded_multiply(x: u64, y: u64) -> u64 {
    let full = u128::from(x) * u128::from(y);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Builds [`IdHasher`]s with keys drawn once per table.
#[derive(Debug, Clone)]
pub(crate) struct IdHasherBuilder {
    k0: u64,
    k1: u64,
}

impl Default for IdHasherBuilder {
    fn default() -> Self {
        let random = RandomState::new();
        IdHasherBuilder {
            k0: random.hash_one(0x243f_6a88_85a3_08d3_u64),
            // Odd, so the multiply never maps every id to 0.
            k1: random.hash_one(0x1319_8a2e_0370_7344_u64) | 1,
        }
    }
}

impl BuildHasher for IdHasherBuilder {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            k0: self.k0,
            k1: self.k1,
            state: 0,
        }
    }
}

/// The hasher: each written word is mixed in with one folded multiply.
#[derive(Debug, Clone)]
pub(crate) struct IdHasher {
    k0: u64,
    k1: u64,
    state: u64,
}

impl IdHasher {
    fn mix(&mut self, word: u64) {
        self.state = folded_multiply(word ^ self.k0 ^ self.state.rotate_left(23), self.k1);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word.get_mut(..chunk.len())
                .unwrap_or(&mut [])
                .copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        self.mix(bytes.len() as u64);
    }

    fn write_u64(&mut self, value: u64) {
        self.mix(value);
    }

    fn write_i64(&mut self, value: i64) {
        self.mix(value as u64);
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_ids_hash_equal_and_neighbours_differ() {
        let builder = IdHasherBuilder::default();
        assert_eq!(builder.hash_one(42i64), builder.hash_one(42i64));
        let hashes: std::collections::BTreeSet<u64> =
            (0..10_000i64).map(|id| builder.hash_one(id)).collect();
        assert_eq!(hashes.len(), 10_000);
        // Sequential ids spread over the top bits hashbrown uses for its control bytes.
        let top: std::collections::BTreeSet<u64> = (0..10_000i64)
            .map(|id| builder.hash_one(id) >> 57)
            .collect();
        assert_eq!(top.len(), 128);
    }

    #[test]
    fn byte_writes_are_hashed_too() {
        let builder = IdHasherBuilder::default();
        assert_ne!(builder.hash_one("semel"), builder.hash_one("semem"));
        assert_ne!(
            builder.hash_one([0u8; 3].as_slice()),
            builder.hash_one([0u8; 4].as_slice())
        );
    }
}
