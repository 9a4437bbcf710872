//! A panic while handling one request becomes that request's error (500, `{"code": "internal"}`)
//! instead of a connection dropped without an answer; the server goes on serving the others.
//! The panic is caught where the handler's future is polled, so dropping the request (a client
//! that goes away) still cancels the handler as before. A panic inside a response body that is
//! already streaming cannot be turned into a status any more: that stream ends early.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::Poll;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;

pub async fn catch(request: Request, next: Next) -> Response {
    let what = format!("{} {}", request.method(), request.uri().path());
    let mut handling = Box::pin(next.run(request));
    let outcome = std::future::poll_fn(|cx| {
        match catch_unwind(AssertUnwindSafe(|| handling.as_mut().poll(cx))) {
            Ok(Poll::Ready(response)) => Poll::Ready(Ok(response)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
    .await;
    outcome.unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        ApiError::internal(format!(
            "{what} failed inside the server: {}",
            reason.replace('\n', " ")
        ))
        .into_response()
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use axum::routing::get;
    use axum::Router;

    /// One HTTP/1.1 request on a new connection; the whole answer.
    fn get_text(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    /// The route that panics exists only in this test; the boundary is the one `serve` layers
    /// over every route.
    #[test]
    fn a_panicking_handler_answers_500_and_the_server_keeps_serving() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    let parts: Vec<&str> = Vec::new();
                    parts[3].len().to_string()
                }),
            )
            .route("/ok", get(|| async { "still serving" }))
            .layer(axum::middleware::from_fn(super::catch));
        runtime.spawn(async move { axum::serve(listener, router).await });

        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let boom = get_text(addr, "/boom");
        std::panic::set_hook(hook);
        assert!(boom.starts_with("HTTP/1.1 500"), "{boom}");
        assert!(boom.contains(r#""code":"internal""#), "{boom}");
        assert!(
            boom.contains("GET /boom failed inside the server"),
            "{boom}"
        );
        assert!(boom.contains("index out of bounds"), "{boom}");
        for _ in 0..3 {
            let ok = get_text(addr, "/ok");
            assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
            assert!(ok.ends_with("still serving"), "{ok}");
        }
    }
}
