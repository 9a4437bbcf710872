//! The library's folders followed while the App runs (the desktop app, `almanac serve`): one
//! background thread runs [`crate::Assistant::watch`] (which first syncs, so files left queued by
//! a crash are indexed too, and then follows folders remembered later), and every change it makes
//! is told to the front ends that listen ([`App::library_changes`]) so the library view refreshes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::events::LibraryEvent;
use super::library::to_library_event;
use super::App;
use crate::lock;
use crate::IngestEvent;

/// Changes within this long of each other are handled together.
const DEBOUNCE: Duration = Duration::from_millis(500);
/// How long stopping waits for the thread.
const STOP_WAIT: Duration = Duration::from_secs(5);

#[derive(Default)]
pub(crate) struct Watching {
    running: Mutex<Option<Running>>,
    listeners: Mutex<Vec<Sender<LibraryEvent>>>,
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Watching {
    fn tell(&self, event: &LibraryEvent) {
        lock(&self.listeners).retain(|l| l.send(event.clone()).is_ok());
    }
}

impl App {
    /// Starts following the library's remembered folders in a background thread (nothing happens
    /// when it already runs). Files it indexes, re-indexes or removes are sent to every
    /// [`App::library_changes`] receiver as `indexed`, `failed` and `removed` events.
    pub fn start_watching(self: &Arc<Self>) -> crate::Result<()> {
        let mut running = lock(&self.watching.running);
        if running.is_some() {
            return Ok(());
        }
        let stop = Arc::new(AtomicBool::new(false));
        let app = Arc::clone(self);
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("library-watch".into())
            .spawn(move || {
                let result = app.assistant.watch(DEBOUNCE, &flag, &mut |event| {
                    app.library.track(&event);
                    if matches!(
                        event,
                        IngestEvent::Indexed { .. }
                            | IngestEvent::Failed { .. }
                            | IngestEvent::Removed { .. }
                            | IngestEvent::Following { .. }
                            | IngestEvent::EmbedderChosen { .. }
                    ) {
                        app.watching.tell(&to_library_event(event));
                    }
                });
                if let Err(e) = result {
                    // No caller to return it to: the front ends hear it, and the log keeps it.
                    eprintln!("warning: the library's folders are no longer followed: {e}");
                    app.watching.tell(&LibraryEvent::Error {
                        code: e.code().into(),
                        message: format!("the library's folders are no longer followed: {e}"),
                    });
                }
            })
            .map_err(|e| crate::Error::Io {
                path: "(library-watch thread)".into(),
                source: e,
            })?;
        *running = Some(Running { stop, thread });
        Ok(())
    }

    /// Stops following the folders; every [`App::library_changes`] receiver sees its channel
    /// close. Waits up to [`STOP_WAIT`] for the thread to finish its batch; a longer one (a big
    /// first sync) is left to the process's exit, which the persistent queue resumes from.
    pub fn stop_watching(&self) {
        let running = lock(&self.watching.running).take();
        lock(&self.watching.listeners).clear();
        if let Some(r) = running {
            r.stop.store(true, Ordering::SeqCst);
            let waited = std::time::Instant::now();
            while !r.thread.is_finished() && waited.elapsed() < STOP_WAIT {
                std::thread::sleep(Duration::from_millis(20));
            }
            if r.thread.is_finished() {
                let _ = r.thread.join();
            }
        }
    }

    /// Whether the folders are being followed now.
    pub fn is_watching(&self) -> bool {
        lock(&self.watching.running)
            .as_ref()
            .is_some_and(|r| !r.thread.is_finished())
    }

    /// A receiver of the library's changes made by the watcher (not those of `add_documents`,
    /// whose caller has its own stream). It closes when watching stops, at once when it is not on.
    pub fn library_changes(&self) -> Receiver<LibraryEvent> {
        let (tx, rx) = channel();
        let running = lock(&self.watching.running);
        if running.is_some() {
            lock(&self.watching.listeners).push(tx);
        }
        rx
    }
}
