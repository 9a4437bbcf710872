//! Evaluations started from a front end (`almanac serve`, the desktop window): one at a time, on a
//! thread of its own, with its progress, its outcome and the reports to read. The run loads its own
//! copy of the chat model (and, for `qa`, its own assistant over the set's library), so the app
//! keeps answering meanwhile.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use almanac_core::{CancelFlag, Paths, Settings};
use almanac_engine::{ChatModel, LoadOptions};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mcq::{self, Format, McqOptions};
use crate::qa::{self, Builtin, QaOptions, QaSet};
use crate::report::{self, Report, ReportSummary};
use crate::{EvalDir, Progress};

/// What to evaluate, as a front end asks for it (`{"kind": "mcq", ...}` or `{"kind": "qa", ...}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum EvalRequest {
    Mcq {
        /// The benchmark's folder (absolute), holding dev/ and test/.
        data: String,
        #[serde(default = "mmlu")]
        format: Format,
        #[serde(default = "five")]
        shots: usize,
        #[serde(default)]
        subjects: Vec<String>,
        #[serde(default)]
        limit: Option<usize>,
    },
    Qa {
        /// A question set file (absolute); none: the built-in "after the cutoff" set.
        #[serde(default)]
        set: Option<String>,
        #[serde(default)]
        limit: Option<usize>,
        #[serde(default)]
        max_tokens: Option<usize>,
    },
}

fn mmlu() -> Format {
    Format::Mmlu
}

fn five() -> usize {
    5
}

/// The most examples a prompt may ask for, and the most tokens a `qa` answer may have.
const MOST_SHOTS: usize = 25;
const MOST_ANSWER_TOKENS: usize = 2048;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Idle,
    Running,
    Finished,
    /// Stopped on request: the same request resumes it.
    Stopped,
    Failed,
}

/// Where the evaluation stands; what `status` returns and the UI polls.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EvalStatus {
    pub state: State,
    /// "mcq" or "qa" once one has been started.
    pub kind: Option<String>,
    /// One line saying what runs (or ran).
    pub title: Option<String>,
    pub progress: Option<Progress>,
    /// The finished run's report name.
    pub report: Option<String>,
    /// `{code, message}` when it failed.
    pub error: Option<serde_json::Value>,
}

impl EvalStatus {
    fn idle() -> EvalStatus {
        EvalStatus {
            state: State::Idle,
            kind: None,
            title: None,
            progress: None,
            report: None,
            error: None,
        }
    }
}

/// A report with its page and chart, for a front end to show.
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    pub name: String,
    pub report: Report,
    pub markdown: String,
    pub svg: String,
}

pub struct Evaluations {
    paths: Paths,
    status: Arc<Mutex<EvalStatus>>,
    cancel: Mutex<CancelFlag>,
}

impl Evaluations {
    pub fn new(paths: Paths) -> Evaluations {
        Evaluations {
            paths,
            status: Arc::new(Mutex::new(EvalStatus::idle())),
            cancel: Mutex::new(CancelFlag::default()),
        }
    }

    fn eval_dir(&self) -> EvalDir {
        EvalDir::in_data_dir(&self.paths.data_dir)
    }

    pub fn status(&self) -> EvalStatus {
        lock(&self.status).clone()
    }

    /// Starts `request` on a thread of its own; refused while another runs or when an argument
    /// is out of bounds.
    pub fn start(&self, request: EvalRequest) -> Result<EvalStatus> {
        let job = Job::check(request)?;
        let mut status = lock(&self.status);
        if status.state == State::Running {
            return Err(Error::Busy(format!(
                "an evaluation is running ({}); stop it or wait for it to finish",
                status.title.clone().unwrap_or_default()
            )));
        }
        let cancel = CancelFlag::default();
        *lock(&self.cancel) = cancel.clone();
        *status = EvalStatus {
            state: State::Running,
            kind: Some(job.kind().into()),
            title: Some(job.title()),
            progress: None,
            report: None,
            error: None,
        };
        let started = status.clone();
        drop(status);
        let shared = self.status.clone();
        let paths = self.paths.clone();
        std::thread::Builder::new()
            .name("evaluation".into())
            .spawn(move || {
                let progress_to = shared.clone();
                let outcome = job.run(&paths, &cancel, &mut |p| {
                    lock(&progress_to).progress = Some(p.clone());
                });
                let mut status = lock(&shared);
                match outcome {
                    Ok(Some(name)) => {
                        status.state = State::Finished;
                        status.report = Some(name);
                    }
                    Ok(None) => status.state = State::Stopped,
                    Err(e) => {
                        status.state = State::Failed;
                        status.error = Some(e.to_json());
                    }
                }
            })
            .map_err(|e| Error::Busy(format!("cannot start the evaluation thread: {e}")))?;
        Ok(started)
    }

    /// Asks the running evaluation to stop after the question in hand (it can be resumed).
    pub fn stop(&self) -> EvalStatus {
        lock(&self.cancel).cancel();
        self.status()
    }

    pub fn reports(&self) -> Result<Vec<ReportSummary>> {
        report::list(&self.eval_dir().reports())
    }

    pub fn report(&self, name: &str) -> Result<ReportView> {
        let dir = self.eval_dir().reports();
        Ok(ReportView {
            name: name.to_string(),
            report: report::load(&dir, name)?,
            markdown: report::read_file(&dir, name, "md")?,
            svg: report::read_file(&dir, name, "svg")?,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A checked request.
enum Job {
    Mcq(McqOptions),
    Qa {
        set: Option<PathBuf>,
        options: QaOptions,
    },
}

impl Job {
    fn check(request: EvalRequest) -> Result<Job> {
        let positive = |field: &str, n: Option<usize>| match n {
            Some(0) => Err(Error::argument(field, "must be at least 1")),
            _ => Ok(()),
        };
        match request {
            EvalRequest::Mcq {
                data,
                format,
                shots,
                subjects,
                limit,
            } => {
                let data = absolute(&data, "data")?;
                if !data.is_dir() {
                    return Err(Error::argument(
                        "data",
                        format!("{} is not a folder", data.display()),
                    ));
                }
                if shots > MOST_SHOTS {
                    return Err(Error::argument(
                        "shots",
                        format!("{shots} is over {MOST_SHOTS}"),
                    ));
                }
                positive("limit", limit)?;
                Ok(Job::Mcq(McqOptions {
                    data,
                    format,
                    shots,
                    subjects,
                    limit,
                }))
            }
            EvalRequest::Qa {
                set,
                limit,
                max_tokens,
            } => {
                let set = set.map(|s| absolute(&s, "set")).transpose()?;
                if let Some(file) = &set {
                    if !file.is_file() {
                        return Err(Error::argument(
                            "set",
                            format!("{} is not a file", file.display()),
                        ));
                    }
                }
                positive("limit", limit)?;
                positive("max_tokens", max_tokens)?;
                let max_tokens = max_tokens.unwrap_or(QaOptions::default().max_tokens);
                if max_tokens > MOST_ANSWER_TOKENS {
                    return Err(Error::argument(
                        "max_tokens",
                        format!("{max_tokens} is over {MOST_ANSWER_TOKENS}"),
                    ));
                }
                Ok(Job::Qa {
                    set,
                    options: QaOptions { max_tokens, limit },
                })
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Job::Mcq(_) => "mcq",
            Job::Qa { .. } => "qa",
        }
    }

    fn title(&self) -> String {
        match self {
            Job::Mcq(o) => format!("{} {}-shot", o.format.name(), o.shots),
            Job::Qa { set, .. } => format!(
                "question answering with and without retrieval: {}",
                set.as_ref()
                    .map_or_else(|| Builtin::NAME.to_string(), |s| s.display().to_string())
            ),
        }
    }

    /// Runs to the end (the report's name) or to a stop (`None`).
    fn run(
        self,
        paths: &Paths,
        cancel: &CancelFlag,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<Option<String>> {
        let eval_dir = EvalDir::in_data_dir(&paths.data_dir);
        let report = match self {
            Job::Mcq(options) => {
                let settings = Settings::load(&paths.settings_file())?;
                let path = paths.resolve_model(&settings.chat_model);
                let mut model = ChatModel::load(
                    &path,
                    &LoadOptions {
                        context_length: Some(settings.context_length),
                        ..Default::default()
                    },
                )?;
                let log = mcq::log_path(&eval_dir.runs(), &options, &model);
                match mcq::run(&mut model, &options, &log, cancel, on_progress)? {
                    mcq::Outcome::Finished { report, .. } => Report::Mcq(*report),
                    mcq::Outcome::Stopped { .. } => return Ok(None),
                }
            }
            Job::Qa { set, options } => {
                let file = match set {
                    Some(file) => file,
                    None => Builtin::write_to(&eval_dir.builtin_sets().join(Builtin::NAME))?,
                };
                let set = QaSet::load(&file)?;
                let assistant = qa::open_for_set(paths, &set)?;
                let log = qa::log_path(&eval_dir.runs(), &set, &options, &assistant);
                match qa::run(&assistant, &set, &options, &log, cancel, on_progress)? {
                    qa::Outcome::Finished { report, .. } => Report::Qa(*report),
                    qa::Outcome::Stopped { .. } => return Ok(None),
                }
            }
        };
        Ok(Some(report::save(&eval_dir.reports(), &report)?.name))
    }
}

fn absolute(path: &str, field: &str) -> Result<PathBuf> {
    let p = Path::new(path);
    if path.len() > 4096 || !p.is_absolute() {
        return Err(Error::argument(
            field,
            format!("{path:?} is not an absolute path"),
        ));
    }
    Ok(p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_requests_before_starting() {
        let dir = tempfile::tempdir().unwrap();
        let evals = Evaluations::new(Paths {
            data_dir: dir.path().to_path_buf(),
            models_dir: dir.path().to_path_buf(),
        });
        let refused = |json: serde_json::Value| {
            let request: EvalRequest = serde_json::from_value(json).unwrap();
            evals.start(request).unwrap_err()
        };
        let e = refused(serde_json::json!({"kind": "mcq", "data": "relative/dir"}));
        assert_eq!((e.code(), e.field()), ("invalid_argument", Some("data")));
        let data = dir.path().to_str().unwrap();
        let e = refused(serde_json::json!({"kind": "mcq", "data": data, "shots": 99}));
        assert_eq!(e.field(), Some("shots"));
        let e = refused(serde_json::json!({"kind": "qa", "max_tokens": 0}));
        assert_eq!(e.field(), Some("max_tokens"));
        assert!(serde_json::from_value::<EvalRequest>(
            serde_json::json!({"kind": "qa", "extra": 1})
        )
        .is_err());
        assert_eq!(evals.status(), EvalStatus::idle(), "nothing started");
        assert!(evals.reports().unwrap().is_empty());
        assert_eq!(evals.report("../x").unwrap_err().field(), Some("name"));
    }

    #[test]
    fn runs_one_at_a_time_and_reports_progress_and_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let models = PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".local/share/almanac/models");
        let models = std::env::var_os("ALMANAC_MODELS_DIR")
            .map(PathBuf::from)
            .unwrap_or(models);
        let evals = Evaluations::new(Paths {
            data_dir: dir.path().to_path_buf(),
            models_dir: models,
        });
        let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mmlu");
        let request = EvalRequest::Mcq {
            data: data.to_string_lossy().into_owned(),
            format: Format::Mmlu,
            shots: 2,
            subjects: vec![],
            limit: None,
        };
        let started = evals.start(request.clone()).unwrap();
        assert_eq!(started.state, State::Running);
        assert_eq!(evals.start(request).unwrap_err().code(), "busy");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while evals.status().state == State::Running {
            assert!(
                std::time::Instant::now() < deadline,
                "still running: {:?}",
                evals.status()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let status = evals.status();
        assert_eq!(status.state, State::Finished, "{status:?}");
        assert_eq!(
            status.progress.as_ref().map(|p| (p.done, p.total)),
            Some((3, 3))
        );
        let name = status.report.unwrap();
        assert_eq!(evals.reports().unwrap()[0].name, name);
        let view = evals.report(&name).unwrap();
        assert!(view.svg.starts_with("<svg") && view.markdown.starts_with("# MMLU 2-shot"));
        assert!(matches!(view.report, Report::Mcq(ref r) if r.questions == 3));
    }
}
