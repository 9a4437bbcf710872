//! Name resolution for the HTTP client: every address a name resolves to is checked by the guard,
//! and only checked addresses are handed to the connector, so the connection goes to an address
//! that was checked (no second lookup that DNS rebinding could change).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::{AddressGuard, Error};

/// Turns a host name into addresses. The system's resolver by default; tests inject their own.
pub trait Lookup: Send + Sync + 'static {
    fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver (getaddrinfo), run on a blocking thread.
#[derive(Debug, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok((host, 0).to_socket_addrs()?.map(|a| a.ip()).collect())
    }
}

/// A fixed table of names, for tests ("rebind.test" → 127.0.0.1).
#[derive(Debug, Default, Clone)]
pub struct StaticLookup(pub HashMap<String, Vec<IpAddr>>);

impl Lookup for StaticLookup {
    fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        self.0
            .get(&host.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such name in the table")
            })
    }
}

/// The client's resolver: looks the name up once, refuses the whole name if any of its addresses
/// is refused (a mixed answer is how rebinding attacks hide), returns exactly the checked ones.
pub(crate) struct GuardedResolver {
    pub guard: AddressGuard,
    pub lookup: Arc<dyn Lookup>,
}

impl GuardedResolver {
    pub fn resolve_checked(&self, host: &str) -> Result<Vec<IpAddr>, Error> {
        let addrs = self.lookup.lookup(host).map_err(|e| Error::Resolve {
            host: host.to_owned(),
            message: e.to_string(),
        })?;
        if addrs.is_empty() {
            return Err(Error::Resolve {
                host: host.to_owned(),
                message: "no addresses".into(),
            });
        }
        for ip in &addrs {
            self.guard.check_ip(host, *ip)?;
        }
        Ok(addrs)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let this = GuardedResolver {
            guard: self.guard.clone(),
            lookup: self.lookup.clone(),
        };
        Box::pin(async move {
            let checked = tokio::task::spawn_blocking(move || this.resolve_checked(&host))
                .await
                .map_err(|e| Error::Setup(e.to_string()))
                .and_then(|checked| checked)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs: Addrs = Box::new(checked.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}
