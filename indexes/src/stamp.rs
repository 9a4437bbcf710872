//! Generation stamps: each derived index records the catalog instance and generation it holds, so
//! that opening can trust it (same generation), repair it by a chunk-id diff (older generation) or
//! rebuild it (another catalog, or a generation the catalog never reached).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// What a derived index says it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    pub instance_id: String,
    /// `None` for an index written before generations existed.
    pub generation: Option<u64>,
}

/// How a stamp compares with the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Same catalog, same generation: trusted as stored.
    Current,
    /// Same catalog, an older (or unknown) generation: diff against the catalog and re-stamp.
    Behind,
    /// Rebuild: a generation the catalog has not reached (the catalog lost changes, e.g. it was
    /// restored from a copy), or another catalog's index.
    Rebuild,
}

impl Stamp {
    /// Parses a tantivy commit payload: JSON, or (before generations) the bare instance id.
    pub(crate) fn from_payload(payload: &str) -> Stamp {
        serde_json::from_str(payload).unwrap_or_else(|_| Stamp {
            instance_id: payload.to_owned(),
            generation: None,
        })
    }

    pub(crate) fn to_payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The verdict against a catalog with this instance id and generation, and why when it is not
    /// `Current`.
    pub(crate) fn judge(&self, instance_id: &str, generation: u64) -> (Verdict, String) {
        if self.instance_id != instance_id {
            return (Verdict::Rebuild, "built for another catalog".into());
        }
        match self.generation {
            Some(g) if g == generation => (Verdict::Current, String::new()),
            Some(g) if g > generation => (
                Verdict::Rebuild,
                format!("ahead of the catalog (generation {g}, catalog {generation})"),
            ),
            Some(g) => (
                Verdict::Behind,
                format!("behind the catalog (generation {g}, catalog {generation})"),
            ),
            None => (Verdict::Behind, "no generation stamp".into()),
        }
    }
}

/// Makes the entries of `dir` (files created, renamed or deleted in it) durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_old_and_new() {
        let s = Stamp {
            instance_id: "abc".into(),
            generation: Some(7),
        };
        assert_eq!(Stamp::from_payload(&s.to_payload()), s);
        assert_eq!(
            Stamp::from_payload("abc"),
            Stamp {
                instance_id: "abc".into(),
                generation: None
            }
        );
        assert_eq!(s.judge("abc", 7).0, Verdict::Current);
        assert_eq!(s.judge("abc", 9).0, Verdict::Behind);
        assert_eq!(s.judge("abc", 6).0, Verdict::Rebuild);
        assert_eq!(s.judge("xyz", 7).0, Verdict::Rebuild);
        assert_eq!(
            Stamp::from_payload("abc").judge("abc", 0).0,
            Verdict::Behind
        );
    }
}
