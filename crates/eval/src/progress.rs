//! How far a long evaluation is and how long it still needs, from the pace of this session (work
//! resumed from an earlier one took no time now and is left out of the pace).

use std::time::Instant;

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Progress {
    /// Items (questions) done, counting those resumed from an earlier run.
    pub done: usize,
    pub total: usize,
    /// What is being evaluated now: a subject, a question set.
    pub stage: String,
    pub elapsed_s: f64,
    /// `None` until this session has finished an item to measure the pace by.
    pub seconds_left: Option<f64>,
}

pub(crate) struct Pace {
    started: Instant,
    resumed: usize,
}

impl Pace {
    pub(crate) fn start(resumed: usize) -> Pace {
        Pace {
            started: Instant::now(),
            resumed,
        }
    }

    pub(crate) fn progress(&self, done: usize, total: usize, stage: &str) -> Progress {
        let elapsed_s = self.started.elapsed().as_secs_f64();
        let done_now = done.saturating_sub(self.resumed);
        let seconds_left =
            (done_now > 0).then(|| elapsed_s / done_now as f64 * total.saturating_sub(done) as f64);
        Progress {
            done,
            total,
            stage: stage.to_string(),
            elapsed_s,
            seconds_left,
        }
    }
}
