//! Request bodies through the real `almanac serve` router, in process (tower's `oneshot`): the
//! guard, the body limit, the panic boundary and the handlers, over a real `App` in a scratch
//! data folder. A handler that panics is a finding (libFuzzer's hook aborts before the boundary
//! turns it into a 500); so is a hang or runaway memory.
//!
//! Input: the first byte picks the route, the rest is the JSON body. The routes are those whose
//! bodies are parsed and acted on without side effects outside the scratch folder. Left out, and
//! why: adding documents and reindexing (they ingest any path on this machine), pulling a model
//! (network), the backend key (the user's OS keyring) and starting an evaluation (minutes of work).
//! The scratch folder's models folder holds only the embedders (links to the installed ones), so
//! asking fails at loading the chat model after the request is parsed and checked.
#![no_main]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use almanac_core::{App, Paths, Settings};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request};
use axum::Router;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const ROUTES: &[(Method, &str)] = &[
    (Method::POST, "/api/ask"),
    (Method::POST, "/v1/chat/completions"),
    (Method::POST, "/v1/embeddings"),
    (Method::PUT, "/api/settings"),
    (Method::POST, "/api/tokenize"),
    (Method::PATCH, "/api/conversations/1"),
    (Method::POST, "/api/conversations/1/regenerate"),
    (Method::POST, "/api/models/import"),
];

struct Server {
    runtime: tokio::runtime::Runtime,
    router: Router,
    app: Arc<App>,
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

fn installed_models_dir() -> PathBuf {
    Paths::new(None).models_dir
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let data = tempfile::Builder::new()
            .prefix("almanac-fuzz-http")
            .tempdir()
            .unwrap();
        let models_dir = data.path().join("models");
        std::fs::create_dir_all(&models_dir).unwrap();
        for embedder in ["all-MiniLM-L6-v2", "multilingual-e5-small"] {
            let installed = installed_models_dir().join(embedder);
            if installed.is_dir() {
                std::os::unix::fs::symlink(&installed, models_dir.join(embedder)).unwrap();
            }
        }
        let paths = Paths {
            data_dir: data.path().join("data"),
            models_dir,
        };
        let app = Arc::new(App::open(paths).unwrap_or_else(|e| {
            panic!("the fuzz target needs the installed embedder (scripts/install-models.sh): {e}")
        }));
        let addr: SocketAddr = ([127, 0, 0, 1], 8080).into();
        let router = almanac_cli::serve::router_in_process(
            app.clone(),
            addr,
            Path::new("/nonexistent-ui").into(),
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Server {
            runtime,
            router,
            app,
            addr,
            _data: data,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&route, body)) = data.split_first() else {
        return;
    };
    let server = server();
    // Each input starts from the default settings, so a crash does not depend on earlier inputs.
    server
        .app
        .assistant()
        .update_settings(|s| *s = Settings::default());
    let (method, uri) = &ROUTES[usize::from(route) % ROUTES.len()];
    let mut request = Request::builder()
        .method(method.clone())
        .uri(*uri)
        .header(header::HOST, server.addr.to_string())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    server.runtime.block_on(async {
        let response = server.router.clone().oneshot(request).await.unwrap();
        // Streams (answers) end with their error event; reading them lets the run finish.
        let _ = axum::body::to_bytes(response.into_body(), 64 << 20).await;
    });
});
