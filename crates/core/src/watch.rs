//! Following the library's folders while the program runs (`almanac watch`, the desktop app):
//! file-system events (notify, debounced by notify-debouncer-full) become re-indexing of changed
//! and new files, removal of deleted ones, and renames that keep the file's history.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use almanac_documents::Format;
use notify_debouncer_full::notify::event::{ModifyKind, RenameMode};
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult};

use crate::ingest::Discovered;
use crate::{Assistant, Error, IngestEvent, Result};

/// How often a running watch looks for newly remembered folders.
const FOLDER_CHECK: Duration = Duration::from_secs(2);

impl Assistant {
    /// Syncs the followed folders ([`Assistant::sync`]), then follows them until `stop` is set:
    /// changes are handled `debounce` after the last one in a burst. Folders remembered while it
    /// runs (`library add` through the App) are followed from then on, within a few seconds; they
    /// are not synced again, since whoever added them has just indexed them.
    pub fn watch(
        &self,
        debounce: Duration,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(IngestEvent),
    ) -> Result<()> {
        let (tx, rx) = std::sync::mpsc::channel::<DebounceEventResult>();
        let mut debouncer = new_debouncer(debounce, None, tx).map_err(|e| Error::Io {
            path: PathBuf::from("(watcher)"),
            source: std::io::Error::other(e.to_string()),
        })?;
        let mut followed = BTreeSet::new();
        let mut follow_new = |followed: &mut BTreeSet<PathBuf>,
                              on_event: &mut dyn FnMut(IngestEvent)|
         -> Result<()> {
            for folder in self.queue().folders()? {
                if folder.is_dir() && !followed.contains(&folder) {
                    debouncer
                        .watch(&folder, RecursiveMode::Recursive)
                        .map_err(|e| Error::Io {
                            path: folder.clone(),
                            source: std::io::Error::other(e.to_string()),
                        })?;
                    on_event(IngestEvent::Following {
                        path: folder.clone(),
                    });
                    followed.insert(folder);
                }
            }
            Ok(())
        };
        let mut following = Vec::new();
        follow_new(&mut followed, &mut |event| following.push(event))?;
        // Changes made while nothing was watching.
        self.sync(on_event)?;
        // Said only now: a change made from here on is seen, one made before has been synced.
        following.into_iter().for_each(&mut *on_event);
        let mut checked = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            if checked.elapsed() >= FOLDER_CHECK {
                follow_new(&mut followed, on_event)?;
                checked = Instant::now();
            }
            let events = match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(events)) => events,
                Ok(Err(_)) => continue, // watcher errors (e.g. a folder removed): the next sync tidies up
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut touched = BTreeSet::new();
            let mut renames = Vec::new();
            for event in events {
                match event.kind {
                    EventKind::Modify(ModifyKind::Name(RenameMode::Both))
                        if event.paths.len() == 2 =>
                    {
                        renames.push((event.paths[0].clone(), event.paths[1].clone()));
                    }
                    EventKind::Access(_) => {}
                    _ => touched.extend(event.paths.iter().cloned()),
                }
            }
            self.apply_changes(renames, touched, on_event)?;
        }
        Ok(())
    }

    fn apply_changes(
        &self,
        renames: Vec<(PathBuf, PathBuf)>,
        touched: BTreeSet<PathBuf>,
        on_event: &mut dyn FnMut(IngestEvent),
    ) -> Result<()> {
        let mut files = Vec::new();
        let mut removed = 0;
        for (from, to) in renames {
            let from_key = from.to_string_lossy().into_owned();
            if self.queue().status(&from_key)?.is_some() {
                // The queue row moves (keeping when the file was added); the document is indexed
                // again under its new path.
                self.queue().rename(&from_key, &to.to_string_lossy())?;
                self.index_mut().remove_document(&from_key)?;
                on_event(IngestEvent::Removed { path: from });
                removed += 1;
            }
            if is_followed_file(&to) {
                files.push(to);
            }
        }
        for path in touched {
            if path.exists() {
                if is_followed_file(&path) {
                    files.push(path);
                }
            } else {
                removed += self.remove_under(&path, on_event)?;
            }
        }
        if removed > 0 {
            self.index_mut().commit()?;
        }
        if !files.is_empty() {
            files.sort();
            files.dedup();
            self.ingest_found(
                Discovered {
                    files,
                    ..Discovered::default()
                },
                false,
                on_event,
            )?;
        }
        Ok(())
    }

    /// Removes the document at `path`, or every document under it when it was a folder.
    fn remove_under(&self, path: &Path, on_event: &mut dyn FnMut(IngestEvent)) -> Result<usize> {
        let key = path.to_string_lossy().into_owned();
        let prefix = format!("{key}/");
        let mut n = 0;
        for p in self
            .known_paths()?
            .into_iter()
            .filter(|p| *p == key || p.starts_with(&prefix))
        {
            if self.remove_path(&p)? {
                on_event(IngestEvent::Removed { path: p.into() });
                n += 1;
            }
        }
        Ok(n)
    }
}

/// A supported, not hidden, regular file.
fn is_followed_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'));
    !hidden && path.is_file() && Format::for_path(path).is_some()
}
