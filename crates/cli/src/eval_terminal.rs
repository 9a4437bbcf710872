//! What `eval mcq` and `eval qa` share on the terminal: the progress bar, Ctrl-C as "stop after
//! this question" (the run log keeps what was done, so the same command resumes), the records
//! file and where the report went.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use almanac_core::CancelFlag;
use almanac_eval::report::SavedReport;
use almanac_eval::Progress;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

/// Runs an evaluation under a bar "STAGE [bar] done/total UNIT, … left", the stage column
/// `stage_width` wide and `first_stage` until the run reports its own.
pub fn with_progress<T>(
    unit: &str,
    stage_width: usize,
    first_stage: &str,
    run: impl FnOnce(&CancelFlag, &mut dyn FnMut(&Progress)) -> Result<T>,
) -> Result<T> {
    let cancel = CancelFlag::default();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{msg:{stage_width}}} {{bar:30}} {{pos}}/{{len}} {unit}, {{elapsed}} gone, about {{eta}} left"
        ))
        .expect("valid template"),
    );
    bar.set_message(first_stage.to_owned());
    let result = run(&cancel, &mut |p| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        bar.set_message(p.stage.clone());
        if stop.load(Ordering::SeqCst) {
            cancel.cancel();
        }
    });
    bar.finish_and_clear();
    result
}

/// One JSON object a line.
pub fn write_json_lines<T: serde::Serialize>(path: &Path, items: &[T]) -> Result<()> {
    let mut text = String::new();
    for r in items {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

pub fn print_saved(saved: &SavedReport) {
    println!("report: {}", saved.markdown.display());
    println!("chart:  {}", saved.chart.display());
}
