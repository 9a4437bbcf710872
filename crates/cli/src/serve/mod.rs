//! `almanac serve`: the web UI (ui/dist), the native HTTP API of ui/README.md and the
//! OpenAI-compatible API (`openai`, docs/openai-api.md), on the loopback interface by default.
//!
//! Every App call runs on a blocking thread; answers and ingestion stream as Server-Sent Events
//! through a channel. One answer at a time (`queue`): a second `ask` or `regenerate` while one runs
//! is refused with 409 `busy` (the UI shows it; the desktop window behaves the same); OpenAI
//! requests wait in line for a bounded time instead.
//!
//! Defences: the Host header must name this server (an IP literal or localhost with our port),
//! which defeats DNS rebinding; a request carrying an Origin that is not this server's is refused,
//! and so is a state-changing request marked cross-site; bodies are limited to 1 MiB and must be
//! JSON; the UI is served with the desktop CSP and `nosniff`. Any bind but loopback needs an API
//! key (`access`); CORS is closed unless origins are named for `/v1`.

mod access;
mod api;
mod errors;
mod evaluation;
mod guard;
mod openai;
mod panic_boundary;
mod queue;
mod static_files;
mod stream;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use almanac_core::{App, Paths};
use anyhow::{Context, Result};
use axum::extract::DefaultBodyLimit;
use axum::Router;

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(clap::Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default; anything else exposes your library)
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port (0 picks a free one; the URL is printed either way)
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The built web UI (default: the repository's ui/dist; build it with `npm ci && npm run build` in ui/)
    #[arg(long)]
    ui: Option<PathBuf>,
    /// The key clients must send (Authorization: Bearer KEY) to the OpenAI-compatible API, and
    /// from other machines to everything; required when --host is not a loopback address
    #[arg(long, env = "ALMANAC_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// An origin (e.g. http://localhost:3000) whose web pages may call the OpenAI-compatible API;
    /// repeat it or separate origins with commas (CORS is closed otherwise)
    #[arg(
        long = "cors-origin",
        env = "ALMANAC_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// OpenAI-compatible requests that may wait for the model while it answers another
    #[arg(long, default_value_t = 16)]
    queue_size: usize,
    /// Seconds a request waits for the model before it is refused with 503
    #[arg(long, default_value_t = 120)]
    queue_wait_secs: u64,
    #[command(flatten)]
    backend: crate::backend::BackendArgs,
}

#[derive(Clone)]
pub(crate) struct Server {
    pub app: Arc<App>,
    pub ui: Arc<PathBuf>,
    pub guard: Arc<guard::HostGuard>,
    /// The model's one line of waiting answers.
    pub queue: Arc<queue::GenerationQueue>,
    pub counters: Arc<openai::Counters>,
    /// The one evaluation a front end may start, and the reports.
    pub evals: Arc<almanac_eval::service::Evaluations>,
}

/// How the server is reached and shared, from the command line.
struct Options {
    ui: PathBuf,
    addr: SocketAddr,
    key: access::ApiKey,
    cors_origins: Vec<String>,
    queue: queue::GenerationQueue,
}

pub fn run(paths: Paths, args: ServeArgs, allow: &[String]) -> Result<()> {
    let key = access::ApiKey::new(args.api_key);
    if !args.host.is_loopback() && !key.is_set() {
        anyhow::bail!(
            "listening on {} needs an API key: pass --api-key KEY or set ALMANAC_API_KEY (or keep the default --host 127.0.0.1)",
            args.host
        );
    }
    let ui = args.ui.unwrap_or_else(default_ui_dir);
    if !ui.join("index.html").is_file() {
        eprintln!(
            "warning: {} has no index.html: the API works, the web UI does not (build it: cd ui && npm ci && npm run build)",
            ui.display()
        );
    }
    if !args.host.is_loopback() {
        eprintln!(
            "warning: listening on {}: anyone who can reach this address and has the API key can read your library and conversations",
            args.host
        );
    }
    let app = Arc::new(App::open(paths)?);
    crate::allow_hosts(app.assistant(), allow);
    args.backend.apply(app.assistant())?;
    // The remembered folders are followed while the server runs.
    app.start_watching()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let options = Options {
        ui,
        addr: SocketAddr::new(args.host, args.port),
        key,
        cors_origins: args.cors_origins,
        queue: queue::GenerationQueue::new(
            args.queue_size,
            Duration::from_secs(args.queue_wait_secs),
        ),
    };
    runtime.block_on(serve(app, options))
}

async fn serve(app: Arc<App>, options: Options) -> Result<()> {
    let addr = options.addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let key = Arc::new(options.key);
    let server = server_state(
        app.clone(),
        local,
        options.ui,
        &options.cors_origins,
        options.queue,
    );
    let router = router(server, key);
    let url = match local.ip() {
        IpAddr::V6(ip) => format!("http://[{ip}]:{}", local.port()),
        IpAddr::V4(ip) => format!("http://{ip}:{}", local.port()),
    };
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {url}")?;
        out.flush()?;
    }
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal(app))
    .await
    .context("the server stopped")?;
    Ok(())
}

fn server_state(
    app: Arc<App>,
    local: SocketAddr,
    ui: PathBuf,
    cors_origins: &[String],
    queue: queue::GenerationQueue,
) -> Server {
    Server {
        ui: Arc::new(ui),
        guard: Arc::new(guard::HostGuard::new(local).with_cors_origins(cors_origins)),
        queue: Arc::new(queue),
        counters: Arc::default(),
        evals: Arc::new(almanac_eval::service::Evaluations::new(
            app.assistant().paths().clone(),
        )),
        app,
    }
}

/// The router `almanac serve` runs over `app` when it listens on `local`, with the default queue,
/// no API key and `ui` as the web UI folder, without a listener: the fuzz target
/// (fuzz/fuzz_targets/http_api.rs) sends it requests in process. Requests need a
/// `ConnectInfo<SocketAddr>` extension, as the listener adds.
#[doc(hidden)]
pub fn router_in_process(app: Arc<App>, local: SocketAddr, ui: PathBuf) -> Router {
    let queue = queue::GenerationQueue::new(16, Duration::from_secs(120));
    let server = server_state(app, local, ui, &[], queue);
    router(server, Arc::new(access::ApiKey::new(None)))
}

fn router(server: Server, key: Arc<access::ApiKey>) -> Router {
    let guard = server.guard.clone();
    evaluation::routes()
        .merge(api::routes())
        .merge(openai::routes())
        .fallback(static_files::serve)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(key, access::check))
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
        // Outermost, so that a panic anywhere below is that request's 500, not the connection's end.
        .layer(axum::middleware::from_fn(panic_boundary::catch))
        .with_state(server)
}

/// Ctrl-C or SIGTERM: stop the running answer (it is stored as cancelled), then let open
/// responses end.
async fn shutdown_signal(app: Arc<App>) {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    app.cancel_all_runs();
    // Ends the watcher and with it every changes stream, so graceful shutdown can finish.
    let _ = tokio::task::spawn_blocking(move || app.stop_watching()).await;
}

fn default_ui_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/dist")
}
