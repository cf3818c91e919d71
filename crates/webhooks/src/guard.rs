//! Keeps deliveries off private networks (server-side request forgery): which URLs and addresses are refused, the
//! check the market runs at registration, and the resolver every delivery connects through.
//!
//! A URL is checked when it is registered ([`check_url`]) and again at every connection: hostnames are resolved by
//! [`GuardedResolver`], which refuses the whole name if any address is in a refused range and otherwise hands the
//! connector exactly the addresses it checked, so a name that re-resolves to a private address later (DNS
//! rebinding) is refused then; literal addresses, which never reach a resolver, are checked before each request.
//! Redirects are never followed and no proxy is used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    /// Not a URL.
    #[error("webhook URL is not a valid URL: {reason}")]
    Unparseable {
        /// The parser's complaint.
        reason: String,
    },
    /// Neither http nor https.
    #[error("webhook URL must be http or https, not {scheme}")]
    Scheme {
        /// The scheme given.
        scheme: String,
    },
    /// No host to send to.
    #[error("webhook URL has no host")]
    NoHost,
    /// The host is, or resolves to, an address in a refused range.
    #[error("webhook URL host {host} is {address}, a {range} address: private and internal networks are refused")]
    Private {
        /// The host as written.
        host: String,
        /// The refused address.
        address: IpAddr,
        /// Which range it is in.
        range: &'static str,
    },
    /// The name does not resolve (or resolves to nothing).
    #[error("webhook URL host {host} does not resolve: {reason}")]
    Unresolvable {
        /// The host as written.
        host: String,
        /// What the resolver said.
        reason: String,
    },
}

impl UrlRefused {
    /// The refusal as the URL's owner may read it in its delivery log. What a name resolved to is our resolver's
    /// answer, not the owner's input: naming it would let anyone map our network's internal names to addresses by
    /// registering them one after another, so only a literal address (as the owner wrote it) is named.
    pub fn for_owner(&self) -> String {
        match self {
            Self::Private { host, address, .. }
                if host.trim_matches(['[', ']']).parse::<IpAddr>().ok() != Some(*address) =>
            {
                format!("webhook URL host {host} resolves to a non-public address: private networks are refused")
            }
            Self::Unresolvable { host, .. } => format!("webhook URL host {host} does not resolve to a public address"),
            other => other.to_string(),
        }
    }
}

/// Checks `url` for registration: it must parse, be http(s) with a host, and unless `allow_private`, the host must
/// be (or resolve only to) public addresses. Returns the parsed URL. Resolving makes this async.
pub async fn check_url(url: &str, allow_private: bool) -> Result<Url, UrlRefused> {
    let parsed = Url::parse(url).map_err(|e| UrlRefused::Unparseable { reason: e.to_string() })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UrlRefused::Scheme { scheme: parsed.scheme().to_owned() });
    }
    if allow_private {
        return parsed.host().map(|_| parsed.clone()).ok_or(UrlRefused::NoHost);
    }
    match parsed.host().ok_or(UrlRefused::NoHost)? {
        Host::Domain(name) => {
            let port = parsed.port_or_known_default().unwrap_or(80);
            check_addresses(name, &resolve(name, port).await?)?;
        }
        Host::Ipv4(_) | Host::Ipv6(_) => check_literal(&parsed)?,
    }
    Ok(parsed)
}

/// Checks a URL whose host is a literal address (a hostname passes: the resolver checks it at connection time).
pub(crate) fn check_literal(url: &Url) -> Result<(), UrlRefused> {
    let address = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(Host::Domain(_)) => return Ok(()),
        None => return Err(UrlRefused::NoHost),
    };
    match refused_range(address) {
        Some(range) => Err(UrlRefused::Private { host: address.to_string(), address, range }),
        None => Ok(()),
    }
}

async fn resolve(name: &str, port: u16) -> Result<Vec<SocketAddr>, UrlRefused> {
    let unresolvable = |reason: String| UrlRefused::Unresolvable { host: name.to_owned(), reason };
    let addresses: Vec<SocketAddr> =
        tokio::net::lookup_host((name, port)).await.map_err(|e| unresolvable(e.to_string()))?.collect();
    if addresses.is_empty() {
        return Err(unresolvable("no addresses".into()));
    }
    Ok(addresses)
}

/// Refuses `name` if any of its addresses is in a refused range: the connector may try any of them.
fn check_addresses(name: &str, addresses: &[SocketAddr]) -> Result<(), UrlRefused> {
    for address in addresses {
        if let Some(range) = refused_range(address.ip()) {
            return Err(UrlRefused::Private { host: name.to_owned(), address: address.ip(), range });
        }
    }
    Ok(())
}

/// The name of the refused range `address` is in, or `None` for an address webhooks may be sent to. IPv6 forms that
/// carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that address.
pub fn refused_range(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() || a == 0 => "unspecified (0.0.0.0/8)",
        _ if ip.is_loopback() => "loopback (127.0.0.0/8)",
        _ if ip.is_private() => "private (RFC 1918)",
        _ if ip.is_link_local() => "link-local (169.254.0.0/16)",
        (100, 64..=127, _) => "shared CGNAT (100.64.0.0/10)",
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_multicast() => "multicast (224.0.0.0/4)",
        (240..=255, _, _) => "reserved (240.0.0.0/4)",
        (192, 0, 0) => "IETF protocol assignment (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation (RFC 5737)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        _ => return None,
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    let embedded_v4 = |high: usize| {
        let octets = ip.octets();
        Ipv4Addr::new(octets[high], octets[high + 1], octets[high + 2], octets[high + 3])
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    Some(match segments {
        _ if ip.is_unspecified() => "unspecified (::)",
        _ if ip.is_loopback() => "loopback (::1)",
        // ::a.b.c.d, IPv4-compatible (deprecated): judged by the IPv4 address.
        [0, 0, 0, 0, 0, 0, _, _] => return refused_v4(embedded_v4(12)),
        // NAT64 (RFC 6052): a gateway would forward to the embedded IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => return refused_v4(embedded_v4(12)),
        // NAT64 local-use (RFC 8215): where it is routed, it is a gateway of the operator's own network.
        [0x64, 0xff9b, 1, ..] => "NAT64 local-use (64:ff9b:1::/48)",
        // 6to4 (RFC 3056): the embedded IPv4 address is the relay's target.
        [0x2002, _, _, _, _, _, _, _] => return refused_v4(embedded_v4(2)),
        [first, ..] if first & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        [first, ..] if first & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        [first, ..] if first & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        [first, ..] if first & 0xff00 == 0xff00 => "multicast (ff00::/8)",
        [0x2001, 0x0db8, ..] => "documentation (2001:db8::/32)",
        [first, ..] if first & 0xfff0 == 0x3ff0 => "documentation (3fff::/20)",
        [0x0100, 0, 0, 0, ..] => "discard-only (100::/64)",
        _ => return None,
    })
}

/// Resolves hostnames for the delivery client, refusing any name with an address in a refused range; the
/// connector connects only to the addresses returned, the ones checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardedResolver {
    pub(crate) allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            // Port 0: the connector puts the URL's port in.
            let addresses = resolve(&host, 0).await?;
            if !allow_private {
                check_addresses(&host, &addresses)?;
            }
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(address: &str) -> bool {
        refused_range(address.parse().unwrap()).is_some()
    }

    #[test]
    fn internal_ranges_are_refused() {
        for address in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a9fe:a9fe",
            "2002:c0a8:0101::1",
        ] {
            assert!(refused(address), "{address} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.0.1",
            "172.32.0.1",
            "192.169.0.1",
            "198.17.0.1",
            "198.20.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert!(!refused(address), "{address} should pass");
        }
    }

    #[tokio::test]
    async fn literal_urls_are_checked_without_resolving() {
        for url in [
            "http://127.0.0.1/hook",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:8080/",
            "http://0x7f.1/",
            "http://2130706433/",
            "http://[::ffff:7f00:1]/",
        ] {
            let refused = check_url(url, false).await.unwrap_err();
            assert!(matches!(refused, UrlRefused::Private { .. }), "{url}: {refused:?}");
        }
        assert!(check_url("http://127.0.0.1/hook", true).await.is_ok());
        assert!(check_url("https://93.184.215.14/hook", false).await.is_ok());
    }

    #[tokio::test]
    async fn other_schemes_and_hostless_urls_are_refused() {
        for (url, allow) in [("ftp://example.com/", false), ("file:///etc/passwd", true), ("gopher://x/", true)] {
            assert!(matches!(check_url(url, allow).await, Err(UrlRefused::Scheme { .. })), "{url}");
        }
        assert!(matches!(check_url("not a url", true).await, Err(UrlRefused::Unparseable { .. })));
    }
}
