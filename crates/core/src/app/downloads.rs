//! Model downloads as runs: each pull has an id a front end can cancel, reports progress as
//! events, and ends with exactly one `done` or `error`. One pull per file at a time.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

use super::models::ModelFile;
use super::{App, ErrorBody};
use crate::downloads::{self, CatalogueModel, ModelSource};
use crate::speed::{self, SpeedMeasurement};
use crate::{lock, Error, Result};

/// A pull's events: `started`, `progress` (at most four a second, and one at the end), then one of
/// `done` or `error`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PullEvent {
    Started {
        pull_id: String,
        repo: String,
        file: String,
    },
    Progress {
        pull_id: String,
        downloaded: u64,
        total: u64,
        resumed_from: u64,
        bytes_per_second: f64,
        seconds_left: Option<f64>,
    },
    Done {
        pull_id: String,
        model: ModelFile,
        already_present: bool,
        resumed_from: u64,
    },
    Error {
        pull_id: String,
        #[serde(flatten)]
        error: ErrorBody,
    },
}

/// The catalogue as the models view shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Catalogue {
    pub models: Vec<CatalogueModel>,
    /// `MemAvailable` now; `None` where the system does not say.
    pub available_memory_bytes: Option<u64>,
    /// The context the memory figures are for (the `context_length` setting).
    pub context_length: usize,
    /// The measurement the speeds are scaled from; `None` when the chat model cannot be loaded.
    pub measured: Option<SpeedMeasurement>,
}

#[derive(Default)]
pub(crate) struct Pulls {
    /// pull id → (file name, cancel flag)
    running: Mutex<HashMap<String, (String, Arc<AtomicBool>)>>,
    next: AtomicU64,
    speed: Mutex<Option<SpeedMeasurement>>,
}

impl App {
    /// The catalogue with, per model, whether it is downloaded, the memory it needs at the
    /// configured context beside the memory free now, and the speed to expect (scaled from one
    /// measurement of the engine on the local chat model; `speed` is null when that model cannot
    /// be loaded).
    pub fn model_catalogue(&self) -> Result<Catalogue> {
        let measured = self.speed_measurement();
        let context_length = self.assistant.settings().context_length;
        let available = downloads::available_memory();
        Ok(Catalogue {
            models: downloads::catalogue(
                self.paths(),
                context_length,
                available,
                measured.as_ref(),
            ),
            available_memory_bytes: available,
            context_length,
            measured,
        })
    }

    /// The engine's measured speed on the local chat model, measured once and kept.
    fn speed_measurement(&self) -> Option<SpeedMeasurement> {
        let mut kept = lock(&self.pulls.speed);
        let model = self.assistant.chat_model_path();
        let file = self.paths().data_dir.join("speed.json");
        if let Some(m) = kept.as_ref().filter(|m| m.is_for(&model)) {
            return Some(m.clone());
        }
        if let Some(m) = speed::load(&file, &model) {
            *kept = Some(m.clone());
            return Some(m);
        }
        // The app's own loaded model, so nothing is loaded twice.
        let mut guard = self.assistant.chat_model().ok()?;
        let m = speed::measure(&mut guard).ok()?;
        let _ = speed::save(&file, &m);
        *kept = Some(m.clone());
        Some(m)
    }

    /// Downloads a model (`{"name"}` of the catalogue, or `{"repo", "file", "revision"?}`) into the
    /// models folder, reporting through `on_event`. Refused before any event when the request is
    /// invalid or the same file is being pulled already.
    pub fn pull_model(&self, request: &Value, on_event: &mut dyn FnMut(PullEvent)) -> Result<()> {
        let source = ModelSource::from_json(request)?.resolve()?;
        let name = source.local_name().to_owned();
        let cancel = Arc::new(AtomicBool::new(false));
        let pull_id = {
            let mut running = lock(&self.pulls.running);
            if running.values().any(|(file, _)| *file == name) {
                return Err(Error::Busy(format!("{name} is being downloaded already")));
            }
            let id = format!("p{}", self.pulls.next.fetch_add(1, Ordering::SeqCst) + 1);
            running.insert(id.clone(), (name.clone(), cancel.clone()));
            id
        };
        on_event(PullEvent::Started {
            pull_id: pull_id.clone(),
            repo: source.repo.clone(),
            file: source.file.clone(),
        });
        let result = downloads::pull(self.paths(), &source, &cancel, &mut |p| {
            on_event(PullEvent::Progress {
                pull_id: pull_id.clone(),
                downloaded: p.downloaded,
                total: p.total,
                resumed_from: p.resumed_from,
                bytes_per_second: p.bytes_per_second,
                seconds_left: p.seconds_left,
            })
        });
        lock(&self.pulls.running).remove(&pull_id);
        on_event(match result {
            Ok(pulled) => PullEvent::Done {
                pull_id,
                model: super::models::model_file(&pulled.path, "chat", false),
                already_present: pulled.already_present,
                resumed_from: pulled.resumed_from,
            },
            Err(e) => PullEvent::Error {
                pull_id,
                error: ErrorBody::from(&e),
            },
        });
        Ok(())
    }

    /// Stops a pull and removes what it had downloaded; `not_found` when no such pull runs.
    pub fn cancel_pull(&self, pull_id: &str) -> Result<()> {
        match lock(&self.pulls.running).get(pull_id) {
            Some((_, flag)) => {
                flag.store(true, Ordering::SeqCst);
                Ok(())
            }
            None => Err(Error::NotFound {
                what: format!("no download {pull_id:.64} is in progress"),
            }),
        }
    }

    /// Deletes a downloaded model (a catalogue name or a `.gguf` file name in the models folder)
    /// and any unfinished download of it; the chat model in use is refused.
    pub fn remove_model(&self, name: &str) -> Result<()> {
        if name.len() > 255 {
            return Err(Error::invalid("name", "is longer than 255 bytes"));
        }
        // A catalogue name stands for its file.
        let file = almanac_models::find(name).map_or(name, |e| e.file.as_str());
        if lock(&self.pulls.running)
            .values()
            .any(|(pulling, _)| Path::new(pulling) == Path::new(file))
        {
            return Err(Error::Busy(format!(
                "{name} is being downloaded; cancel it first"
            )));
        }
        downloads::remove(self.paths(), name, &self.assistant.chat_model_path())?;
        Ok(())
    }
}
