//! What a model needs in memory, and what the machine has free.

use std::path::Path;

use crate::error::{Error, Result};

/// Bytes of an f32 key/value cache: keys and values for every layer, key/value head and position.
pub fn kv_cache_bytes(layers: usize, kv_heads: usize, head_dim: usize, context: usize) -> u64 {
    2 * layers as u64 * kv_heads as u64 * head_dim as u64 * context as u64 * 4
}

/// `MemAvailable` of /proc/meminfo (the kernel's estimate of memory a new program can use
/// without swapping), in bytes; `None` where there is no such file.
pub fn available_memory() -> Option<u64> {
    available_memory_from(Path::new("/proc/meminfo")).ok()
}

fn available_memory_from(path: &Path) -> Result<u64> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    parse_mem_available(&text)
        .ok_or_else(|| Error::invalid("MemAvailable", "missing from /proc/meminfo"))
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Whether a model needing `needed` bytes fits in `available`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Fits,
    /// Fits, with less than a quarter of the free memory left for everything else.
    Tight,
    TooLarge,
    /// No free-memory figure on this system.
    Unknown,
}

pub fn verdict(needed: u64, available: Option<u64>) -> Verdict {
    match available {
        None => Verdict::Unknown,
        Some(free) if needed > free => Verdict::TooLarge,
        Some(free) if needed > free / 4 * 3 => Verdict::Tight,
        Some(_) => Verdict::Fits,
    }
}

/// Bytes for people: "1.9 GiB", "512 MiB".
pub fn human_bytes(bytes: u64) -> String {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    let b = bytes as f64;
    if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.0} MiB", b / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_available() {
        let text = "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(parse_mem_available(text), Some(8_192_000_000));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert!(available_memory().is_some_and(|b| b > 0));
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(10, Some(100)), Verdict::Fits);
        assert_eq!(verdict(80, Some(100)), Verdict::Tight);
        assert_eq!(verdict(101, Some(100)), Verdict::TooLarge);
        assert_eq!(verdict(1, None), Verdict::Unknown);
        assert_eq!(human_bytes(2 * 1024 * 1024 * 1024), "2.0 GiB");
    }
}
