//! Test support for the message tests: a small deterministic RNG for the generated random-value
//! builders, and the round-trip check every message goes through.

use bytes::Bytes;
use semel_wire::messages::Codec;
use semel_wire::{Decoder, Encoder, UnknownTags, Uuid};
use std::fmt::Debug;

/// xorshift64*: deterministic, seedable, good enough to pick test values.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Mostly small values and edge cases, sometimes anything.
    fn int(&mut self) -> u64 {
        match self.below(6) {
            0 => 0,
            1 => u64::MAX,
            2 => self.below(4),
            3 => 1 << self.below(64),
            _ => self.next(),
        }
    }

    pub(crate) fn bool(&mut self) -> bool {
        self.below(2) == 1
    }
    pub(crate) fn i8(&mut self) -> i8 {
        self.int() as i8
    }
    pub(crate) fn i16(&mut self) -> i16 {
        self.int() as i16
    }
    pub(crate) fn i32(&mut self) -> i32 {
        self.int() as i32
    }
    pub(crate) fn i64(&mut self) -> i64 {
        self.int() as i64
    }
    #[allow(dead_code)] // only for schema types no current schema uses
    pub(crate) fn u16(&mut self) -> u16 {
        self.int() as u16
    }
    #[allow(dead_code)] // only for schema types no current schema uses
    pub(crate) fn u32(&mut self) -> u32 {
        self.int() as u32
    }
    #[allow(dead_code)] // only for schema types no current schema uses
    pub(crate) fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / 1024.0
    }
    pub(crate) fn uuid(&mut self) -> Uuid {
        if self.below(4) == 0 {
            return Uuid::ZERO;
        }
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&self.next().to_be_bytes());
        raw[8..].copy_from_slice(&self.next().to_be_bytes());
        Uuid(raw)
    }

    pub(crate) fn string(&mut self) -> String {
        const PIECES: &[&str] = &["a", "topic", "-", "0", "ü", "日本", "🦀", "_x.y", " "];
        let n = self.below(6);
        (0..n)
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    pub(crate) fn bytes(&mut self) -> Bytes {
        // Now and then a blob large enough to be passed through as its own chunk.
        let n = if self.below(16) == 0 {
            1024 + self.below(512)
        } else {
            self.below(12)
        };
        let fill = self.next() as u8;
        Bytes::from(
            (0..n)
                .map(|i| fill.wrapping_add(i as u8))
                .collect::<Vec<u8>>(),
        )
    }

    /// Whether to make a nullable value null (only where null is allowed).
    pub(crate) fn null(&mut self, allowed: bool) -> bool {
        allowed && self.below(4) == 0
    }

    pub(crate) fn vec<T>(&mut self, depth: u32, mut f: impl FnMut(&mut Rng) -> T) -> Vec<T> {
        let n = if depth >= 3 { 0 } else { self.below(4) };
        (0..n).map(|_| f(self)).collect()
    }

    /// Sometimes a tag or two no schema here defines (tags from 64 up), kept as raw bytes.
    pub(crate) fn unknown_tags(&mut self) -> UnknownTags {
        let mut tags = UnknownTags::new();
        if self.below(4) == 0 {
            for _ in 0..=self.below(2) {
                let tag = 64 + self.below(200) as u32;
                let len = self.below(5) as usize;
                tags.insert(tag, Bytes::from(vec![tag as u8; len]));
            }
        }
        tags
    }
}

/// Encodes `value` at `version`, checks the predicted length, decodes it back, compares, and
/// checks that re-encoding the decoded value gives identical bytes.
pub(crate) fn check_round_trip<T: Codec + Debug + PartialEq>(
    value: &T,
    version: i16,
) -> Result<(), String> {
    let predicted = value.encoded_len(version);
    let mut e = Encoder::new();
    value
        .encode(&mut e, version)
        .map_err(|err| format!("encode failed: {err} for {value:?}"))?;
    if e.len() != predicted {
        return Err(format!(
            "encoded_len predicted {predicted}, wrote {} for {value:?}",
            e.len()
        ));
    }
    let bytes = e.into_bytes();
    let mut d = Decoder::new(bytes.clone());
    let back = T::decode(&mut d, version).map_err(|err| format!("decode failed: {err}"))?;
    d.finish()
        .map_err(|err| format!("decode left bytes: {err}"))?;
    if &back != value {
        return Err(format!("decoded {back:?}\n  differs from {value:?}"));
    }
    let mut again = Encoder::new();
    back.encode(&mut again, version)
        .map_err(|err| format!("re-encode failed: {err}"))?;
    if again.into_bytes() != bytes {
        return Err("re-encoding the decoded value gave different bytes".to_owned());
    }
    Ok(())
}
