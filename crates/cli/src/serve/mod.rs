//! `almanac serve`: the web UI (ui/dist) and the native HTTP API of ui/README.md, on the loopback
//! interface by default.
//!
//! Every App call runs on a blocking thread; answers and ingestion stream as Server-Sent Events
//! through a channel. One answer at a time: a second `ask` or `regenerate` while one runs is
//! refused with 409 `busy` (the UI shows it; the desktop window behaves the same).
//!
//! Defences: the Host header must name this server (an IP literal or localhost with our port),
//! which defeats DNS rebinding; a request carrying an Origin that is not this server's is refused,
//! and so is a state-changing request marked cross-site; bodies are limited to 1 MiB and must be
//! JSON; the UI is served with the desktop CSP and `nosniff`.

mod api;
mod errors;
mod guard;
mod static_files;
mod stream;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

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
}

#[derive(Clone)]
pub(crate) struct Server {
    pub app: Arc<App>,
    pub ui: Arc<PathBuf>,
    pub guard: Arc<guard::HostGuard>,
}

pub fn run(paths: Paths, args: ServeArgs, allow: &[String]) -> Result<()> {
    let ui = args.ui.unwrap_or_else(default_ui_dir);
    if !ui.join("index.html").is_file() {
        eprintln!(
            "warning: {} has no index.html: the API works, the web UI does not (build it: cd ui && npm ci && npm run build)",
            ui.display()
        );
    }
    if !args.host.is_loopback() {
        eprintln!(
            "warning: listening on {}: anyone who can reach this address can read your library and conversations",
            args.host
        );
    }
    let app = Arc::new(App::open(paths)?);
    crate::allow_hosts(app.assistant(), allow);
    // The remembered folders are followed while the server runs.
    app.start_watching()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(app, ui, SocketAddr::new(args.host, args.port)))
}

async fn serve(app: Arc<App>, ui: PathBuf, addr: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let server = Server {
        app: app.clone(),
        ui: Arc::new(ui),
        guard: Arc::new(guard::HostGuard::new(local)),
    };
    let router = router(server);
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
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal(app))
        .await
        .context("the server stopped")?;
    Ok(())
}

fn router(server: Server) -> Router {
    let guard = server.guard.clone();
    api::routes()
        .fallback(static_files::serve)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
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
