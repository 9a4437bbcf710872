//! The rate of an ingestion run and the time it has left, for [`IngestEvent::Progress`].
//!
//! The rate is chunks embedded per second since the run's work began. The time left is the chunks
//! still to embed over that rate: chunks already cut but not yet embedded, plus, for the files not
//! yet parsed, their bytes times the chunks per byte of the files parsed so far.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::IngestEvent;

/// Progress events come at most this often (the last one always comes).
const EVERY: Duration = Duration::from_millis(250);

pub(crate) struct Progress {
    started: Instant,
    last_sent: Option<Instant>,
    /// Bytes of each queued file not yet out of parsing.
    unparsed: HashMap<String, u64>,
    unparsed_bytes: u64,
    /// Bytes and chunks of the files parsed and chunked so far.
    chunked_bytes: u64,
    chunked: usize,
    embedded: usize,
}

impl Progress {
    /// Starts the clock for `work` (queued files; each is looked at once for its size).
    pub(crate) fn new(work: &[String]) -> Progress {
        let unparsed: HashMap<String, u64> = work
            .iter()
            .map(|key| (key.clone(), std::fs::metadata(key).map_or(0, |m| m.len())))
            .collect();
        Progress {
            started: Instant::now(),
            last_sent: None,
            unparsed_bytes: unparsed.values().sum(),
            unparsed,
            chunked_bytes: 0,
            chunked: 0,
            embedded: 0,
        }
    }

    /// A file came out of parsing: cut into `chunks` chunks, or none when unchanged or failed.
    pub(crate) fn parsed(&mut self, key: &str, chunks: usize) {
        let bytes = self.unparsed.remove(key).unwrap_or(0);
        self.unparsed_bytes -= bytes;
        if chunks > 0 {
            self.chunked_bytes += bytes;
            self.chunked += chunks;
        }
    }

    pub(crate) fn embedded(&mut self, chunks: usize) {
        self.embedded += chunks;
    }

    /// The event now, if one is due (`last`: the run's final one, always sent).
    pub(crate) fn event(&mut self, last: bool) -> Option<IngestEvent> {
        let now = Instant::now();
        if !last && self.last_sent.is_some_and(|t| now - t < EVERY) {
            return None;
        }
        self.last_sent = Some(now);
        Some(self.at(now - self.started))
    }

    fn at(&self, elapsed: Duration) -> IngestEvent {
        let seconds = elapsed.as_secs_f64();
        let rate = if seconds > 0.0 {
            self.embedded as f64 / seconds
        } else {
            0.0
        };
        let unparsed_chunks = match (self.unparsed_bytes, self.chunked_bytes) {
            (0, _) => Some(0.0),
            (_, 0) => None,
            (bytes, per) => Some(bytes as f64 * self.chunked as f64 / per as f64),
        };
        let left = unparsed_chunks.map(|c| c + (self.chunked - self.embedded) as f64);
        let seconds_left = match left {
            Some(chunks) if chunks <= 0.0 => Some(0.0),
            Some(chunks) if rate > 0.0 => Some(chunks / rate),
            _ => None,
        };
        IngestEvent::Progress {
            chunks: self.embedded,
            chunks_per_second: rate,
            seconds_left,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(files: &[(&str, u64)]) -> Progress {
        let mut p = Progress::new(&[]);
        for (key, bytes) in files {
            p.unparsed.insert((*key).into(), *bytes);
            p.unparsed_bytes += bytes;
        }
        p
    }

    fn figures(event: IngestEvent) -> (usize, f64, Option<f64>) {
        match event {
            IngestEvent::Progress {
                chunks,
                chunks_per_second,
                seconds_left,
            } => (chunks, chunks_per_second, seconds_left),
            other => panic!("not progress: {other:?}"),
        }
    }

    #[test]
    fn time_left_counts_cut_chunks_and_estimates_unparsed_files_by_their_bytes() {
        let mut p = progress(&[("a", 1000), ("b", 3000), ("c", 10)]);
        // Nothing parsed yet: no rate, no estimate.
        assert_eq!(
            figures(p.at(Duration::from_secs(1))),
            (0, 0.0, None),
            "nothing known yet"
        );
        p.parsed("a", 10); // 100 bytes a chunk
        p.parsed("c", 0); // unchanged or failed: no chunks, and its bytes are no longer to do
        p.embedded(4);
        // 2 chunks/s; 6 of a's chunks and about 30 of b's are left: 18 s.
        let (chunks, rate, left) = figures(p.at(Duration::from_secs(2)));
        assert_eq!((chunks, rate), (4, 2.0));
        assert!((left.unwrap() - 18.0).abs() < 1e-9, "{left:?}");
        p.parsed("b", 20);
        p.embedded(26);
        assert_eq!(figures(p.at(Duration::from_secs(10))), (30, 3.0, Some(0.0)));
    }

    #[test]
    fn events_are_spaced_but_the_last_always_comes() {
        let mut p = progress(&[]);
        assert!(p.event(false).is_some());
        assert!(p.event(false).is_none(), "a second event at once");
        assert!(p.event(true).is_some(), "the last one");
    }
}
