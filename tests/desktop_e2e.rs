//! The desktop window end to end: the real app (embedded ui/dist, the real models and indexes) under
//! a virtual X display, driven by tauri-driver and WebKitWebDriver over plain WebDriver HTTP.
//!
//! It ingests tests/fixtures/facts into a fresh data directory with the `almanac` binary, opens the
//! window, types a question and presses Enter, waits for the streamed answer to finish, checks the
//! answer, its quoted evidence and its first source, and saves screenshots to target/desktop-e2e/
//! (answer.png, evidence.png with the evidence and Almanac's sentence check, sources.png).
//!
//! Ignored in a plain `cargo test`: it needs a display (or Xvfb), tauri-driver and WebKitWebDriver.
//! `scripts/desktop-e2e.sh` installs what is missing, builds, and runs it under Xvfb.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// Tries what a script injected into the page might: read a file outside the library, write one
/// outside a Markdown file, open a file:// URL or a path, emit events, call a command that does not
/// exist, fetch from the web, eval. Reports each outcome as {ok} or {err}.
const HOSTILE_PAGE_SCRIPT: &str = r#"
const done = arguments[arguments.length - 1];
const invoke = window.__TAURI_INTERNALS__.invoke;
const out = {};
const attempt = async (name, f) => {
  try { out[name] = { ok: await f() }; }
  catch (e) { out[name] = { err: (e && typeof e === 'object' && e.code) ? e : String(e) }; }
};
(async () => {
  let violation = null;
  document.addEventListener('securitypolicyviolation', (e) => { violation = violation || e.violatedDirective; });
  await attempt('get_document', () => invoke('get_document', { path: '/etc/passwd', lineStart: 1, lineEnd: 1 }));
  await attempt('export', () => invoke('export_conversation', { id: '1', path: '/etc/cron.d/almanac' }));
  await attempt('open_url_file', () => invoke('plugin:opener|open_url', { url: 'file:///etc/passwd' }));
  await attempt('open_path', () => invoke('plugin:opener|open_path', { path: '/etc/passwd' }));
  await attempt('emit', () => invoke('plugin:event|emit', { event: 'x', payload: null }));
  await attempt('unknown_command', () => invoke('read_file', { path: '/etc/passwd' }));
  await attempt('fetch', () => fetch('https://example.com/').then((r) => r.status));
  await attempt('eval', () => eval('1 + 1'));
  await new Promise((r) => setTimeout(r, 300));
  out.violation = violation;
  done(out);
})();
"#;

const QUESTION: &str = "Who designed the Zorvath Bridge?";
/// Loading the model and answering on 2 slow cores, with room to spare.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A child stopped with everything it started when the test ends, however it ends. It leads a
/// process group of its own, which gets SIGTERM (tauri-driver then stops WebKitWebDriver, which
/// closes the window) and, after 5 s, SIGKILL for whatever is left. Killing tauri-driver alone
/// with SIGKILL left WebKitWebDriver running, orphaned under init.
struct Reaped(Child, &'static str);

impl Reaped {
    fn spawn(mut command: Command, name: &'static str) -> Reaped {
        use std::os::unix::process::CommandExt;
        let child = command
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Reaped(child, name)
    }

    /// `kill SIGNAL -- -GROUP`: true if a member of the group was there to get it.
    fn signal_group(&self, signal: &str) -> bool {
        Command::new("kill")
            .args([signal, "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        self.signal_group("-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let _ = self.0.try_wait(); // reaps the leader, so only live members answer
            if !self.signal_group("-0") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.signal_group("-KILL");
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn find_tool(name: &str) -> PathBuf {
    let home_bin = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin").join(name));
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .chain(home_bin)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found on PATH or in ~/.cargo/bin; scripts/desktop-e2e.sh installs it"
            )
        })
}

/// A minimal WebDriver client: JSON over HTTP to tauri-driver.
struct WebDriver {
    agent: ureq::Agent,
    base: String,
    session: String,
}

impl WebDriver {
    fn request(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Value {
        let response = match (method, body) {
            ("GET", _) => agent.get(url).call(),
            ("DELETE", _) => agent.delete(url).call(),
            (_, body) => agent.post(url).send_json(body.unwrap_or_else(|| json!({}))),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status();
        let value: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        if !status.is_success() {
            return json!({"error": value["value"]["error"].clone(), "message": value["value"]["message"].clone(), "status": status.as_u16()});
        }
        value["value"].clone()
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        Self::request(&self.agent, method, &url, body)
    }

    fn find(&self, css: &str) -> Option<String> {
        let v = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT].as_str().map(str::to_owned)
    }

    fn wait_for(&self, css: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(id) = self.find(css) {
                return id;
            }
            if start.elapsed() > timeout {
                self.screenshot("timeout.png");
                panic!(
                    "{css} did not appear within {timeout:?}; page text: {}",
                    self.page_text()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Runs `script` in the page (WebDriver Execute Async Script) and returns what it passed to its callback.
    fn execute_async(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn text(&self, element: &str) -> String {
        self.call("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The DOM text, whether or not the element is shown (e.g. inside a closed <details>).
    fn text_content(&self, element: &str) -> String {
        self.call(
            "GET",
            &format!("/element/{element}/property/textContent"),
            None,
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    fn page_text(&self) -> String {
        match self.find("body") {
            Some(body) => self.text(&body),
            None => String::new(),
        }
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let v = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("a base64 screenshot"))
            .expect("base64");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        let dir = root().join("target/desktop-e2e");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        eprintln!("desktop-e2e: screenshot {}", path.display());
        path
    }
}

fn wait_for_port(port: u16, timeout: Duration, child: &mut Reaped) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.0.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("{} exited with {status} before listening: {err}", child.1);
        }
        assert!(
            start.elapsed() < timeout,
            "{} did not listen on {port} within {timeout:?}",
            child.1
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ingest(almanac: &Path, data_dir: &Path) {
    let out = Command::new(almanac)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("ingest")
        .arg(root().join("tests/fixtures/facts"))
        .output()
        .expect("run almanac ingest");
    assert!(
        out.status.success(),
        "almanac ingest failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Resident memory (kB) of the app and its WebKit processes: (app, webkit total).
fn memory_kb(app: &Path) -> (u64, u64) {
    let app = std::fs::canonicalize(app).unwrap_or_else(|_| app.to_path_buf());
    let mut app_pids = Vec::new();
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let (ppid, rss) = (field("PPid:") as u32, field("VmRSS:"));
        if exe == app {
            app_pids.push((pid, rss));
        } else if exe.to_string_lossy().contains("webkit2gtk-4.1/WebKit") {
            procs.push((ppid, rss));
        }
    }
    let app_rss: u64 = app_pids.iter().map(|p| p.1).sum();
    let webkit: u64 = procs
        .iter()
        .filter(|(ppid, _)| app_pids.iter().any(|a| a.0 == *ppid))
        .map(|p| p.1)
        .sum();
    (app_rss, webkit)
}

#[test]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run scripts/desktop-e2e.sh"]
fn the_window_answers_a_question_with_its_sources() {
    let app = PathBuf::from(env!("CARGO_BIN_EXE_almanac-desktop"));
    let almanac = app.with_file_name("almanac");
    assert!(
        almanac.is_file(),
        "{} is missing: cargo build -p almanac-cli",
        almanac.display()
    );
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "no DISPLAY: run under Xvfb (scripts/desktop-e2e.sh does)"
    );
    let tauri_driver = find_tool("tauri-driver");
    let webkit_driver = find_tool("WebKitWebDriver");

    if std::env::var_os("ALMANAC_E2E_OFFLINE").is_some() {
        // scripts/desktop-e2e.sh runs this in a network namespace of its own: loopback only.
        let dev = std::fs::read_to_string("/proc/self/net/dev").unwrap();
        let interfaces: Vec<&str> = dev
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(str::trim)
            .collect();
        assert_eq!(
            interfaces,
            ["lo"],
            "ALMANAC_E2E_OFFLINE is set but the network is not cut"
        );
        eprintln!("desktop-e2e: offline (network interfaces: {interfaces:?})");
    }
    let data = tempfile::tempdir().unwrap();
    ingest(&almanac, data.path());

    let port = free_port();
    let native_port = free_port();
    let mut command = Command::new(&tauri_driver);
    command
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .arg("--native-driver")
        .arg(&webkit_driver)
        .env("ALMANAC_DATA_DIR", data.path())
        .env("ALMANAC_TODAY", "2026-12-05") // as tests/support's TEST_TODAY: one answer any day
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut driver_process = Reaped::spawn(command, "tauri-driver");
    wait_for_port(port, Duration::from_secs(30), &mut driver_process);

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let created = WebDriver::request(
        &agent,
        "POST",
        &format!("{base}/session"),
        Some(json!({"capabilities": {"alwaysMatch": {"tauri:options": {"application": app}}}})),
    );
    let session = created["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no session: {created}"))
        .to_owned();
    let driver = WebDriver {
        agent,
        base,
        session,
    };

    let question = driver.wait_for("[data-testid=\"question\"]", Duration::from_secs(60));
    eprintln!("desktop-e2e: window ready in {:?}", started.elapsed());
    driver.call(
        "POST",
        &format!("/element/{question}/value"),
        Some(json!({"text": format!("{QUESTION}\u{E007}")})),
    );

    let ready_ms = started.elapsed().as_millis();
    let idle = memory_kb(&app);
    let asked = Instant::now();
    // Sample memory while the answer is generated.
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (sampling, app) = (sampling.clone(), app.clone());
        std::thread::spawn(move || {
            let mut peak = (0, 0);
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                let (a, w) = memory_kb(&app);
                peak = (peak.0.max(a), peak.1.max(w));
                std::thread::sleep(Duration::from_millis(200));
            }
            peak
        })
    };
    // Finished: the answer is no longer pending and shows its timings (and a stop reason when it
    // was cut off), or an error.
    let end = driver.wait_for(
        "[data-testid=\"answer\"]:not([data-pending]) [data-testid=\"timings\"], [data-testid=\"stop-reason\"], [data-testid=\"answer-error\"]",
        ANSWER_TIMEOUT,
    );
    let answer_ms = asked.elapsed().as_millis();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    let metrics = json!({
        "window_ready_ms": ready_ms,
        "answer_ms": answer_ms,
        "idle_rss_kb": {"app": idle.0, "webkit": idle.1},
        "peak_rss_while_answering_kb": {"app": peak.0, "webkit": peak.1},
    });
    eprintln!("desktop-e2e: metrics {metrics}");
    let _ = std::fs::create_dir_all(root().join("target/desktop-e2e"));
    std::fs::write(
        root().join("target/desktop-e2e/metrics.json"),
        serde_json::to_string_pretty(&metrics).unwrap(),
    )
    .unwrap();
    if let Some(error) = driver.find("[data-testid=\"answer-error\"]") {
        driver.screenshot("answer.png");
        panic!("the answer failed: {}", driver.text(&error));
    }
    eprintln!(
        "desktop-e2e: answered in {:?} ({})",
        asked.elapsed(),
        driver.text(&end)
    );
    let answer = driver.wait_for("[data-testid=\"answer-text\"]", Duration::from_secs(5));
    let answer_text = driver.text(&answer);
    eprintln!("desktop-e2e: answer: {answer_text}");

    let shot = driver.screenshot("answer.png");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "the screenshot looks empty"
    );
    // Quoted evidence above the sources: the designer's sentence from source [1].
    let quote = driver.wait_for(
        "[data-testid=\"evidence\"] [data-testid=\"evidence-quote\"][data-n=\"1\"]",
        Duration::from_secs(5),
    );
    let quote_text = driver.text_content(&quote);
    // Almanac's check of the answer's sentences, opened for the screenshot.
    if let Some(summary) = driver.find("[data-testid=\"attribution\"] summary") {
        driver.call("POST", &format!("/element/{summary}/click"), None);
        std::thread::sleep(Duration::from_millis(300));
    }
    driver.screenshot("evidence.png");
    // Open the sources panel and show it too.
    if let Some(summary) = driver.find("[data-testid=\"retrieval-summary\"]") {
        driver.call("POST", &format!("/element/{summary}/click"), None);
    }
    let first = driver.wait_for(
        "[data-testid=\"sources-panel\"] [data-testid=\"source\"][data-n=\"1\"]",
        Duration::from_secs(5),
    );
    let first_text = driver.text_content(&first);
    std::thread::sleep(Duration::from_millis(300));
    driver.screenshot("sources.png");

    let error_css =
        "[data-testid=\"error\"], [data-testid=\"notice\"], [data-testid=\"answer-error\"]";
    let errors: Vec<String> = driver
        .find(error_css)
        .map(|e| driver.text_content(&e))
        .into_iter()
        .collect();
    assert!(
        answer_text.contains("Quorne"),
        "the answer names the designer: {answer_text:?}"
    );
    assert!(
        first_text.contains("zorvath-bridge.md"),
        "the first source is zorvath-bridge.md: {first_text:?}"
    );
    assert!(
        quote_text.contains("designed by the engineer Ilsabet Quorne"),
        "the top evidence quotes the designer: {quote_text:?}"
    );
    assert!(errors.is_empty(), "the window showed errors: {errors:?}");

    // What hostile code in the page could try, from inside the real window: every attempt is
    // refused by a command's validation, the capability (ACL), the opener's URL scope or the CSP.
    let hostile = driver.execute_async(HOSTILE_PAGE_SCRIPT);
    eprintln!("desktop-e2e: hostile page script: {hostile}");
    for name in [
        "get_document",
        "export",
        "open_url_file",
        "open_path",
        "emit",
        "unknown_command",
        "fetch",
    ] {
        assert!(
            hostile[name]["err"].is_string() || hostile[name]["err"].is_object(),
            "{name} was not refused: {}",
            hostile[name]
        );
    }
    assert!(
        !hostile.to_string().contains("root:"),
        "a file outside the library was read: {hostile}"
    );
    assert_eq!(
        hostile["get_document"]["err"]["code"], "not_found",
        "get_document reads library documents only"
    );
    assert_eq!(hostile["export"]["err"]["code"], "invalid_argument");
    assert_eq!(
        hostile["violation"], "connect-src",
        "the CSP blocked the web request"
    );
    assert!(
        hostile["eval"]["err"]
            .as_str()
            .is_some_and(|e| e.contains("EvalError")),
        "the CSP refuses eval: {}",
        hostile["eval"]
    );

    // With the web option on, the window says plainly that the web is not available, at once.
    let toggle = driver.wait_for("[data-testid=\"web-toggle\"]", Duration::from_secs(5));
    driver.call("POST", &format!("/element/{toggle}/click"), None);
    let question = driver.wait_for("[data-testid=\"question\"]", Duration::from_secs(5));
    driver.call(
        "POST",
        &format!("/element/{question}/value"),
        Some(json!({"text": "What is new about the bridge today?\u{E007}"})),
    );
    let web_error = driver.wait_for(error_css, Duration::from_secs(20));
    let web_text = driver.text_content(&web_error);
    std::thread::sleep(Duration::from_millis(500));
    driver.screenshot("web-unavailable.png");
    driver.call("DELETE", "", None);
    assert!(
        web_text.to_lowercase().contains("web"),
        "the web error names the web: {web_text:?}"
    );
    eprintln!("desktop-e2e: with the web option: {web_text}");
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
    })
}

/// What left WebKitWebDriver running: a child that started a process of its own (as tauri-driver
/// starts WebKitWebDriver) is stopped together with it.
#[test]
fn a_reaped_child_takes_the_processes_it_started_with_it() {
    use std::io::BufRead;
    let mut command = Command::new("sh");
    command
        .args(["-c", "sleep 300 & echo $!; wait"])
        .stdout(Stdio::piped());
    let mut reaped = Reaped::spawn(command, "sh");
    let mut line = String::new();
    std::io::BufReader::new(reaped.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let grandchild: u32 = line.trim().parse().unwrap();
    assert!(alive(grandchild));
    drop(reaped);
    assert!(
        !alive(grandchild),
        "sleep {grandchild} outlived its parent's clean-up"
    );
}

/// scripts/test.sh's last check (scripts/leftover-processes.sh): a process the run left running
/// fails it, is named and is stopped; another run's process is left alone; nothing left passes.
#[test]
fn the_leftover_check_fails_on_a_process_left_running_and_stops_it() {
    let script = root().join("scripts/leftover-processes.sh");
    let tag = format!("leftover-check-{}", std::process::id());
    let sleep = |run: &str| {
        // Detached in a session of its own, as an orphan of a test would be.
        Command::new("setsid")
            .args(["sleep", "300"])
            .env("ALMANAC_CHECK_RUN", run)
            .spawn()
            .expect("setsid sleep")
    };
    let check = || {
        Command::new(&script)
            .args(["--check", "ALMANAC_CHECK_RUN"])
            .env("ALMANAC_CHECK_RUN", &tag)
            .env("ALMANAC_LEFTOVER_GRACE_SECS", "1")
            .output()
            .expect("run scripts/leftover-processes.sh")
    };
    let mut left = sleep(&tag);
    let mut other_run = sleep("another-run");
    let out = check();
    let message = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(
        message.contains("FAILED") && message.contains(&format!("pid {}: sleep 300", left.id())),
        "{message}"
    );
    assert!(
        !message.contains(&format!("pid {}", other_run.id())),
        "{message}"
    );
    assert!(
        left.try_wait().unwrap().is_some(),
        "the leftover was not stopped"
    );
    assert!(alive(other_run.id()), "another run's process was stopped");
    let _ = other_run.kill();
    let _ = other_run.wait();

    let out = check();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
