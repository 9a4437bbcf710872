//! A small checksum for the vector dump (detects truncation and flipped bytes; not cryptographic),
//! and a random-enough identifier for an index instance.

use std::io::Read;
use std::path::Path;

const PRIME: u64 = 0x0000_0100_0000_01b3;
const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over little-endian 8-byte words (the tail zero-padded), then the length. Each step is a
/// bijection of the state, so any single changed word always changes the result.
#[derive(Debug, Clone)]
pub(crate) struct Hasher {
    state: u64,
    len: u64,
    pending: Vec<u8>,
}

impl Hasher {
    pub(crate) fn new() -> Hasher {
        Hasher {
            state: OFFSET,
            len: 0,
            pending: Vec::with_capacity(8),
        }
    }

    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if !self.pending.is_empty() {
            let take = (8 - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == 8 {
                let word = u64::from_le_bytes(self.pending[..].try_into().unwrap_or([0; 8]));
                self.mix(word);
                self.pending.clear();
            }
        }
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.mix(u64::from_le_bytes(w.try_into().unwrap_or([0; 8])));
        }
        self.pending.extend_from_slice(words.remainder());
    }

    fn mix(&mut self, word: u64) {
        self.state = (self.state ^ word).wrapping_mul(PRIME);
    }

    pub(crate) fn finish(mut self) -> u64 {
        if !self.pending.is_empty() {
            let mut buf = [0u8; 8];
            buf[..self.pending.len()].copy_from_slice(&self.pending);
            self.mix(u64::from_le_bytes(buf));
        }
        let len = self.len;
        self.mix(len);
        // final avalanche (splitmix64)
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Checksum and length of a file.
pub(crate) fn file_checksum(path: &Path) -> std::io::Result<(u64, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let len = hasher.len;
    Ok((hasher.finish(), len))
}

/// A 128-bit identifier from the clock, a counter, the process id and an address, as 32 hex digits.
pub(crate) fn new_instance_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let local = 0u8;
    let mut a = Hasher::new();
    a.update(&count.to_le_bytes());
    a.update(&nanos.to_le_bytes());
    a.update(&std::process::id().to_le_bytes());
    a.update(&(&local as *const u8 as usize).to_le_bytes());
    let mut b = a.clone();
    b.update(b"second half");
    format!("{:016x}{:016x}", a.finish(), b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(bytes: &[u8]) -> u64 {
        let mut h = Hasher::new();
        h.update(bytes);
        h.finish()
    }

    #[test]
    fn any_flipped_byte_or_truncation_changes_the_hash() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        let base = hash(&data);
        for i in 0..data.len() {
            let mut d = data.clone();
            d[i] ^= 0x40;
            assert_ne!(hash(&d), base, "flip at {i}");
        }
        assert_ne!(hash(&data[..999]), base);
        let mut padded = data.clone();
        padded.push(0);
        assert_ne!(hash(&padded), base);
    }

    #[test]
    fn split_updates_match_one_update() {
        let data: Vec<u8> = (0..100u8).collect();
        let mut h = Hasher::new();
        h.update(&data[..3]);
        h.update(&data[3..50]);
        h.update(&data[50..]);
        assert_eq!(h.finish(), hash(&data));
    }

    #[test]
    fn instance_ids_differ() {
        assert_ne!(new_instance_id(), new_instance_id());
        assert_eq!(new_instance_id().len(), 32);
    }
}
