//! The address guard: which hosts and addresses the fetcher may connect to.
//!
//! A page on the web must never make Almanac reach the user's own machine or network (SSRF): the
//! guard refuses loopback, private, link-local, shared, unique-local, multicast, unspecified,
//! documentation, benchmarking, broadcast and reserved addresses, IPv4 and IPv6 alike (an IPv6
//! address that embeds an IPv4 one is judged by that IPv4 address). An allow-list of host names
//! and CIDR ranges opens what the user chose.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use url::{Host, Url};

use crate::{Error, Result};

/// One allow-list entry: a host name (exact, case-insensitive) or an address range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowRule {
    Host(String),
    Net(IpNet),
}

impl AllowRule {
    /// `example.org`, `127.0.0.1`, `10.0.0.0/8`, `::1`, `[::1]`, `fd00::/8`.
    pub fn parse(text: &str) -> Result<AllowRule> {
        let t = text.trim();
        let bare = t.trim_start_matches('[').trim_end_matches(']');
        if let Ok(net) = bare.parse::<IpNet>() {
            return Ok(AllowRule::Net(net));
        }
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(AllowRule::Net(IpNet::from(ip)));
        }
        // Through the URL parser, so the name is normalised exactly as a URL's host is.
        match Url::parse(&format!("http://{t}/")).ok().and_then(|u| {
            u.host().map(|h| match h {
                Host::Domain(d) => AllowRule::Host(d.trim_end_matches('.').to_owned()),
                Host::Ipv4(ip) => AllowRule::Net(IpNet::from(IpAddr::V4(ip))),
                Host::Ipv6(ip) => AllowRule::Net(IpNet::from(IpAddr::V6(ip))),
            })
        }) {
            Some(rule) if !t.is_empty() && !t.contains(['/', '@', ':', '?', '#']) => Ok(rule),
            _ => Err(Error::AllowRule {
                rule: text.to_owned(),
            }),
        }
    }
}

/// Decides, for a host and each address it resolves to, whether the fetcher may connect.
#[derive(Debug, Clone, Default)]
pub struct AddressGuard {
    allow: Vec<AllowRule>,
}

impl AddressGuard {
    /// The defaults: only public addresses.
    pub fn new() -> AddressGuard {
        AddressGuard::default()
    }

    pub fn with_allowed(rules: Vec<AllowRule>) -> AddressGuard {
        AddressGuard { allow: rules }
    }

    /// Parses allow-list entries (settings, `--allow-host`, `ALMANAC_FETCH_ALLOW`).
    pub fn from_strings<S: AsRef<str>>(rules: &[S]) -> Result<AddressGuard> {
        let allow = rules
            .iter()
            .map(|r| r.as_ref())
            .filter(|r| !r.trim().is_empty())
            .map(AllowRule::parse)
            .collect::<Result<_>>()?;
        Ok(AddressGuard { allow })
    }

    pub fn rules(&self) -> &[AllowRule] {
        &self.allow
    }

    /// A copy that also allows `rule`.
    pub fn also_allowing(&self, rule: AllowRule) -> AddressGuard {
        let mut guard = self.clone();
        if !guard.allow.contains(&rule) {
            guard.allow.push(rule);
        }
        guard
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.allow
            .iter()
            .any(|r| matches!(r, AllowRule::Host(h) if h.eq_ignore_ascii_case(host)))
    }

    fn ip_allowed(&self, ip: IpAddr) -> bool {
        self.allow
            .iter()
            .any(|r| matches!(r, AllowRule::Net(net) if net.contains(&ip)))
    }

    /// Whether `host` (the name in the URL) may be reached at `ip`. `Err` names why not.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<()> {
        if self.host_allowed(host) || self.ip_allowed(ip) {
            return Ok(());
        }
        match refusal_reason(ip) {
            None => Ok(()),
            Some(kind) => Err(Error::Refused {
                host: host.to_owned(),
                address: ip.to_string(),
                kind,
            }),
        }
    }

    /// Checks what can be checked before any lookup: the scheme, and the host when it is an IP
    /// literal (whatever its spelling: the `url` crate has normalised `2130706433` and
    /// `0177.0.0.1` to 127.0.0.1 already, the same value the connector uses) or a `localhost` name.
    pub fn check_url(&self, url: &Url) -> Result<()> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Scheme {
                url: url.to_string(),
                scheme: url.scheme().to_owned(),
            });
        }
        match url.host() {
            None => Err(Error::InvalidUrl {
                url: url.to_string(),
                reason: "it has no host".into(),
            }),
            Some(Host::Ipv4(ip)) => self.check_ip(&ip.to_string(), IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_ip(&format!("[{ip}]"), IpAddr::V6(ip)),
            Some(Host::Domain(name)) => {
                let lower = name.trim_end_matches('.').to_ascii_lowercase();
                let local = lower == "localhost" || lower.ends_with(".localhost");
                if local && !self.host_allowed(&lower) {
                    // Resolvers answer these from /etc/hosts with loopback addresses (RFC 6761).
                    return Err(Error::Refused {
                        host: name.to_owned(),
                        address: "localhost".into(),
                        kind: "loopback",
                    });
                }
                Ok(())
            }
        }
    }
}

/// The guard's decision for one address at its defaults: `None` for a public address, otherwise
/// the kind of address it is.
pub fn refusal_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        _ if ip.is_unspecified() || a == 0 => "unspecified (0.0.0.0/8)",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        _ if ip.is_link_local() => "link-local",
        _ if a == 100 && (b & 0xc0) == 64 => "shared address space (100.64.0.0/10)",
        _ if a == 192 && b == 0 && c == 0 => "IETF protocol assignment (192.0.0.0/24)",
        _ if ip.is_documentation() => "documentation",
        _ if a == 198 && (b & 0xfe) == 18 => "benchmarking (198.18.0.0/15)",
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_multicast() => "multicast",
        _ if a >= 240 => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    // Addresses that carry an IPv4 address are judged by it: IPv4-mapped (::ffff:0:0/96), NAT64
    // (64:ff9b::/96) and 6to4 (2002::/16).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_reason(v4);
    }
    let s = ip.segments();
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return v4_reason(Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32));
    }
    if s[0] == 0x2002 {
        return v4_reason(Ipv4Addr::from(((s[1] as u32) << 16) | s[2] as u32));
    }
    Some(match () {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        // ::/96, the deprecated IPv4-compatible form, and everything else under ::/8.
        _ if s[0] == 0 => "reserved (::/8)",
        _ if (s[0] & 0xfe00) == 0xfc00 => "unique-local (fc00::/7)",
        _ if (s[0] & 0xffc0) == 0xfe80 => "link-local",
        _ if (s[0] & 0xffc0) == 0xfec0 => "site-local (fec0::/10)",
        _ if (s[0] & 0xff00) == 0xff00 => "multicast",
        _ if s[0] == 0x2001 && s[1] == 0x0db8 => "documentation (2001:db8::/32)",
        _ if s[0] == 0x2001 && s[1] == 0 => "Teredo (2001::/32)",
        _ if s[0] == 0x0100 && s[1..4] == [0, 0, 0] => "discard-only (100::/64)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> Option<&'static str> {
        refusal_reason(s.parse().unwrap())
    }

    #[test]
    fn refuses_every_non_public_kind_and_accepts_public_addresses() {
        for (ip, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.5.4", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "shared address space (100.64.0.0/10)"),
            ("0.0.0.0", "unspecified (0.0.0.0/8)"),
            ("192.0.2.1", "documentation"),
            ("198.18.0.1", "benchmarking (198.18.0.0/15)"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("240.0.0.1", "reserved (240.0.0.0/4)"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("64:ff9b::7f00:1", "loopback"),
            ("2002:7f00:1::", "loopback"),
            ("::127.0.0.1", "reserved (::/8)"),
            ("fc00::1", "unique-local (fc00::/7)"),
            ("fd12:3456::1", "unique-local (fc00::/7)"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation (2001:db8::/32)"),
        ] {
            assert_eq!(reason(ip), Some(kind), "{ip}");
        }
        for ip in [
            "93.184.215.14",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(reason(ip), None, "{ip}");
        }
    }

    #[test]
    fn ip_literals_in_every_spelling_are_checked_as_the_connector_sees_them() {
        let guard = AddressGuard::new();
        for url in [
            "http://127.0.0.1/",
            "http://localhost/",
            "http://LocalHost./x",
            "http://api.localhost/",
            "http://[::1]/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:127.0.0.1]/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0x7f.1/",
            "http://127.1/",
        ] {
            let err = guard.check_url(&Url::parse(url).unwrap()).unwrap_err();
            assert!(matches!(err, Error::Refused { .. }), "{url}: {err}");
            let message = err.to_string();
            assert!(
                message.contains("refused") && message.contains("--allow-host"),
                "{message}"
            );
        }
        let decimal = guard
            .check_url(&Url::parse("http://2130706433/").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            decimal.contains("127.0.0.1") && decimal.contains("loopback"),
            "{decimal}"
        );
        assert!(guard
            .check_url(&Url::parse("https://example.org/a").unwrap())
            .is_ok());
        for url in ["ftp://example.org/", "file:///etc/passwd", "gopher://x/"] {
            assert!(matches!(
                guard.check_url(&Url::parse(url).unwrap()),
                Err(Error::Scheme { .. })
            ));
        }
    }

    #[test]
    fn the_allow_list_opens_hosts_and_ranges() {
        let guard =
            AddressGuard::from_strings(&["127.0.0.1", "10.0.0.0/8", "Intranet.example"]).unwrap();
        assert!(guard.check_ip("x", "127.0.0.1".parse().unwrap()).is_ok());
        assert!(guard.check_ip("x", "127.0.0.2".parse().unwrap()).is_err());
        assert!(guard.check_ip("x", "10.9.8.7".parse().unwrap()).is_ok());
        assert!(guard
            .check_ip("intranet.example", "192.168.1.1".parse().unwrap())
            .is_ok());
        assert!(guard
            .check_url(&Url::parse("http://2130706433/").unwrap())
            .is_ok());
        let v6 = AddressGuard::from_strings(&["[::1]"]).unwrap();
        assert!(v6
            .check_url(&Url::parse("http://[::1]:8/").unwrap())
            .is_ok());
        for bad in ["http://x/", "a b", "", "user@host"] {
            assert!(AllowRule::parse(bad).is_err(), "{bad:?}");
        }
    }
}
