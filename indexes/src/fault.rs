//! Fault injection for tests (cargo feature `fault-injection`, which only this crate's
//! dev-dependency on itself turns on): stop the process at a named step of the commit protocol, as
//! a crash there would. Without the feature [`reached`] is an empty inline function.

/// The steps of the commit protocol, in the order they happen (see the crate's README, Durability).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// An upsert or remove committed its catalog transaction (generation advanced); the derived
    /// indexes have not seen the change.
    CatalogAdvanced,
    /// `commit()` committed tantivy (stamped) and fsynced its directory; vectors not yet written.
    TextCommitted,
    /// The new vector dump files are written and fsynced; `manifest.json` still names the old ones.
    VectorFilesWritten,
    /// The new manifest is written and fsynced under its temporary name, not yet renamed.
    ManifestWritten,
    /// `manifest.json` was switched (renamed, directory fsynced); older dumps not yet deleted.
    ManifestSwitched,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::CatalogAdvanced,
        Step::TextCommitted,
        Step::VectorFilesWritten,
        Step::ManifestWritten,
        Step::ManifestSwitched,
    ];
}

#[cfg(feature = "fault-injection")]
mod armed {
    use super::Step;
    use std::sync::Mutex;

    /// (step, times it may still be passed before the process stops)
    static ARMED: Mutex<Option<(Step, usize)>> = Mutex::new(None);

    /// The exit status of a process stopped by [`arm`].
    pub const EXIT_CODE: i32 = 86;

    /// Stops this process (`exit(EXIT_CODE)`: no destructors, no flushing of the indexes) the
    /// `nth` time (1 = first) it reaches `step`.
    pub fn arm(step: Step, nth: usize) {
        *ARMED.lock().unwrap_or_else(|p| p.into_inner()) = Some((step, nth.max(1)));
    }

    pub(crate) fn reached(step: Step) {
        let mut armed = ARMED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((s, left)) = armed.as_mut() {
            if *s == step {
                *left -= 1;
                if *left == 0 {
                    std::process::exit(EXIT_CODE);
                }
            }
        }
    }
}

#[cfg(feature = "fault-injection")]
pub(crate) use armed::reached;
#[cfg(feature = "fault-injection")]
pub use armed::{arm, EXIT_CODE};

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn reached(_: Step) {}
