//! Running answers (run id → cancel flag) and the one-at-a-time rule for answers and ingestions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::lock;
use crate::{CancelFlag, Error, Result};

#[derive(Default)]
pub(crate) struct Runs {
    cancels: Mutex<HashMap<String, CancelFlag>>,
    answering: AtomicBool,
    ingesting: AtomicBool,
    next: AtomicU64,
}

/// Holds the answer slot; dropping it ends the run (cancel no longer finds it).
pub(crate) struct AnswerSlot<'a> {
    runs: &'a Runs,
    pub run_id: String,
    pub cancel: CancelFlag,
}

/// Holds the ingestion slot.
pub(crate) struct IngestSlot<'a> {
    runs: &'a Runs,
}

impl Runs {
    /// Takes the answer slot, or refuses with `busy` while another answer is being generated.
    pub(crate) fn begin_answer(&self) -> Result<AnswerSlot<'_>> {
        if self.answering.swap(true, Ordering::SeqCst) {
            return Err(Error::Busy(
                "another answer is being generated; wait for it or stop it first".into(),
            ));
        }
        let run_id = format!("r{}", self.next.fetch_add(1, Ordering::SeqCst) + 1);
        let cancel = CancelFlag::default();
        lock(&self.cancels).insert(run_id.clone(), cancel.clone());
        Ok(AnswerSlot {
            runs: self,
            run_id,
            cancel,
        })
    }

    pub(crate) fn begin_ingest(&self) -> Result<IngestSlot<'_>> {
        if self.ingesting.swap(true, Ordering::SeqCst) {
            return Err(Error::Busy(
                "documents are being added already; wait until that finishes".into(),
            ));
        }
        Ok(IngestSlot { runs: self })
    }

    /// Raises the run's cancel flag; `not_found` when no such run is in progress.
    pub(crate) fn cancel(&self, run_id: &str) -> Result<()> {
        match lock(&self.cancels).get(run_id) {
            Some(flag) => {
                flag.cancel();
                Ok(())
            }
            None => Err(Error::not_found(format!(
                "no run {} is in progress",
                super::validate::clip(run_id)
            ))),
        }
    }

    /// Raises every running answer's cancel flag (shutting down).
    pub(crate) fn cancel_all(&self) {
        for flag in lock(&self.cancels).values() {
            flag.cancel();
        }
    }

    pub(crate) fn answering(&self) -> bool {
        self.answering.load(Ordering::SeqCst)
    }
}

impl Drop for AnswerSlot<'_> {
    fn drop(&mut self) {
        lock(&self.runs.cancels).remove(&self.run_id);
        self.runs.answering.store(false, Ordering::SeqCst);
    }
}

impl Drop for IngestSlot<'_> {
    fn drop(&mut self) {
        self.runs.ingesting.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_answer_at_a_time_and_cancel_by_id() {
        let runs = Runs::default();
        let slot = runs.begin_answer().unwrap();
        assert_eq!(runs.begin_answer().err().unwrap().code(), "busy");
        runs.cancel(&slot.run_id).unwrap();
        assert!(slot.cancel.is_cancelled());
        assert_eq!(runs.cancel("r999").unwrap_err().code(), "not_found");
        let id = slot.run_id.clone();
        drop(slot);
        assert_eq!(runs.cancel(&id).unwrap_err().code(), "not_found");
        let next = runs.begin_answer().unwrap();
        assert_ne!(next.run_id, id);
    }
}
