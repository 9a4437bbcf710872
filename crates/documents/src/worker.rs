//! Parsing in a separate process, so that a parser that panics, overflows its stack (an abort no
//! `catch_unwind` can stop), loops or eats memory takes down only that process, and becomes that
//! file's error.
//!
//! The worker is any program that calls [`run_child`] when started with the arguments in
//! [`WorkerCommand::args`] (the `almanac` binary does it for its hidden `parse-worker` subcommand).
//! The request goes to its standard input as one JSON object, the answer comes back on its standard
//! output as one JSON object. The child limits its own address space (RLIMIT_AS) and CPU time
//! (RLIMIT_CPU) before it reads anything; the parent kills it at the wall-clock time limit.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::{parse_file, Document, Error, Limits, Result};

/// How to start a worker and what it may use.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Address-space limit of the worker, bytes (0: none).
    pub memory_limit: u64,
    /// Wall-clock limit per file.
    pub timeout: Duration,
}

#[derive(Serialize, Deserialize)]
struct Request {
    path: PathBuf,
    limits: Limits,
    memory_limit: u64,
    cpu_seconds: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Response {
    Ok(Document),
    Error { code: String, message: String },
}

/// The worker's side: reads one request from standard input, parses, writes the answer to
/// standard output. Returns the process exit code.
pub fn run_child() -> i32 {
    let mut input = String::new();
    if std::io::stdin().read_to_string(&mut input).is_err() {
        return 2;
    }
    let Ok(request) = serde_json::from_str::<Request>(&input) else {
        return 2;
    };
    if request.memory_limit > 0 {
        let _ = rlimit::setrlimit(
            rlimit::Resource::AS,
            request.memory_limit,
            request.memory_limit,
        );
    }
    if request.cpu_seconds > 0 {
        let _ = rlimit::setrlimit(
            rlimit::Resource::CPU,
            request.cpu_seconds,
            request.cpu_seconds + 1,
        );
    }
    // A panic is reported as the file's error; the default hook's message on stderr is not needed.
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| parse_file(&request.path, &request.limits));
    let response = match result {
        Ok(Ok(doc)) => Response::Ok(doc),
        Ok(Err(e)) => Response::Error {
            code: e.code().into(),
            message: e.to_string(),
        },
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Response::Error {
                code: "parser_failed".into(),
                message: format!(
                    "{}: parser failed: {}",
                    request.path.display(),
                    what.replace('\n', " ")
                ),
            }
        }
    };
    let mut out = std::io::stdout().lock();
    if serde_json::to_writer(&mut out, &response).is_err() || out.flush().is_err() {
        return 3;
    }
    0
}

/// Parses `path` in a new worker process; the worker's death, time-out or garbled answer is an
/// [`Error::Worker`] naming the file.
pub fn parse_in_worker(worker: &WorkerCommand, path: &Path, limits: &Limits) -> Result<Document> {
    let fail = |message: String| Error::Worker {
        path: path.into(),
        message,
    };
    let request = Request {
        path: path.into(),
        limits: *limits,
        memory_limit: worker.memory_limit,
        cpu_seconds: worker.timeout.as_secs() + 1,
    };
    let mut child = Command::new(&worker.program)
        .args(&worker.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "cannot start the parser process {}: {e}",
                worker.program.display()
            ))
        })?;
    let mut stdin = child.stdin.take().expect("piped");
    let body = serde_json::to_vec(&request).expect("a request serialises");
    // The worker reads all of its input before it starts: the request is small, this cannot block.
    let _ = stdin.write_all(&body);
    drop(stdin);
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= worker.timeout => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = reader.join();
                return Err(fail(format!(
                    "took longer than the {} s time limit (parse_timeout_secs) and was stopped",
                    worker.timeout.as_secs_f64()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(fail(format!("lost the parser process: {e}"))),
        }
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(fail(death(status, worker.memory_limit)));
    }
    match serde_json::from_slice::<Response>(&out) {
        Ok(Response::Ok(doc)) => Ok(doc),
        Ok(Response::Error { code, message }) => Err(Error::Reported { code, message }),
        Err(e) => Err(fail(format!("garbled answer from the parser process: {e}"))),
    }
}

fn death(status: std::process::ExitStatus, memory_limit: u64) -> String {
    use std::os::unix::process::ExitStatusExt;
    let mib = memory_limit >> 20;
    match status.signal() {
        Some(6) => format!("the parser process aborted (SIGABRT: a stack overflow, or out of its {mib} MiB memory limit)"),
        Some(9) => "the parser process was killed (SIGKILL)".into(),
        Some(11) => "the parser process crashed (SIGSEGV: e.g. a stack overflow)".into(),
        Some(24) => "the parser process ran out of its CPU time limit (SIGXCPU)".into(),
        Some(n) => format!("the parser process died of signal {n}"),
        None => format!("the parser process exited with status {}", status.code().unwrap_or(-1)),
    }
}
