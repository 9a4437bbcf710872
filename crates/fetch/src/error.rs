/// Every failure is one line naming the URL and the limit or rule involved.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("refused {url}: only http and https are fetched, not {scheme}")]
    Scheme { url: String, scheme: String },
    #[error("refused {host}: it is {address}, a {kind} address, which the fetcher does not reach (open it with --allow-host or ALMANAC_FETCH_ALLOW)")]
    Refused {
        host: String,
        address: String,
        kind: &'static str,
    },
    #[error(
        "invalid allow-list entry {rule:?}: expected a host name, an IP address or a CIDR range"
    )]
    AllowRule { rule: String },
    #[error("could not resolve {host}: {message}")]
    Resolve { host: String, message: String },
    #[error("{url}: robots.txt of {origin} does not allow fetching it")]
    RobotsDisallowed { url: String, origin: String },
    #[error("{url}: more than {limit} redirects")]
    TooManyRedirects { url: String, limit: usize },
    #[error("{url}: redirect without a valid Location header")]
    BadRedirect { url: String },
    #[error("{url}: the body is over the limit of {limit} bytes (counted after decompression); stopped reading")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: timed out ({what})")]
    Timeout { url: String, what: String },
    #[error("{url}: the server answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {message}")]
    Request { url: String, message: String },
    #[error("{url}: content type {content_type:?} is not fetched (HTML, plain text and PDF are)")]
    UnsupportedType { url: String, content_type: String },
    #[error("{url}: no readable text in the page")]
    NoText { url: String },
    #[error("{url}: could not read the PDF: {message}")]
    Pdf { url: String, message: String },
    #[error("web search ({provider}): {message}")]
    Search { provider: String, message: String },
    #[error("could not start the fetcher: {0}")]
    Setup(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
