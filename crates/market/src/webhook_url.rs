//! Whether a webhook URL may be stored: [`check_webhook_url`], the one function every route calls.
//!
//! This is the check at the door: http(s), a host, and no address that points back inside (loopback, private,
//! link-local such as the cloud metadata address, unspecified, multicast, shared CGNAT space, and IPv6 forms that
//! embed such an IPv4 address: the delivery guard's list, `clearing_webhooks::refused_range`), written as an IP or
//! as a name that can only mean this machine or its network (`localhost`, `*.localhost`, `*.local`, `*.internal`).
//! A name is not resolved here: what it resolves to can change after the check, so the webhooks crate's delivery
//! checks the resolved address again, and its stronger check is to take this one's place.

use std::net::IpAddr;

use clearing_webhooks::refused_range;
use url::{Host, Url};

/// The longest webhook URL stored (the column's bound).
pub const MAX_WEBHOOK_URL_LEN: usize = 2_048;

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlProblem {
    /// Not a URL, or longer than the bound.
    #[error("webhook_url must be an absolute http(s) URL of at most 2048 characters")]
    Malformed,
    /// Not http or https.
    #[error("webhook_url must use http or https, not {0:?}")]
    Scheme(String),
    /// Points inside (loopback, private, link-local, ...).
    #[error(
        "webhook_url points at {0}, a loopback, private or link-local address; webhooks go to public addresses only"
    )]
    Private(String),
}

/// Parses `text` as a webhook URL and refuses one that points inside, unless `allow_private` (development, where
/// providers run on the same machine).
pub fn check_webhook_url(text: &str, allow_private: bool) -> Result<Url, WebhookUrlProblem> {
    if text.len() > MAX_WEBHOOK_URL_LEN {
        return Err(WebhookUrlProblem::Malformed);
    }
    let url = Url::parse(text).map_err(|_| WebhookUrlProblem::Malformed)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(WebhookUrlProblem::Scheme(url.scheme().to_owned()));
    }
    let host = url.host().ok_or(WebhookUrlProblem::Malformed)?;
    if allow_private {
        return Ok(url);
    }
    // Literal addresses by the delivery guard's own list, so nothing is stored here that every delivery refuses.
    let inside = match &host {
        Host::Ipv4(ip) => refused_range(IpAddr::V4(*ip)).is_some(),
        Host::Ipv6(ip) => refused_range(IpAddr::V6(*ip)).is_some(),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || [".localhost", ".local", ".internal"].iter().any(|suffix| name.ends_with(suffix))
        }
    };
    if inside {
        return Err(WebhookUrlProblem::Private(host.to_string()));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_http_urls_pass() {
        for url in [
            "https://provider.example.com/hooks/clearing",
            "http://93.184.216.34:8080/hook",
            "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
            "https://user:pass@hooks.example.org/x?y=1",
        ] {
            check_webhook_url(url, false).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }

    #[test]
    fn inside_addresses_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://LOCALHOST./hook",
            "http://api.localhost/hook",
            "http://printer.local/hook",
            "http://metadata.google.internal/computeMetadata",
            "http://169.254.169.254/latest/meta-data",
            "http://10.1.2.3/hook",
            "http://172.16.0.1/hook",
            "http://192.168.1.1/hook",
            "http://100.64.0.1/hook",
            "http://0.0.0.0/hook",
            "http://[::1]/hook",
            "http://[fd00::1]/hook",
            "http://[fe80::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://2130706433/hook", // 127.0.0.1 as one number: the URL parser normalises it
            // What the delivery guard refuses too: IPv4-compatible, NAT64, 6to4, site-local, IETF protocol space.
            "http://[::a9fe:a9fe]/hook",
            "http://[64:ff9b::a9fe:a9fe]/hook",
            "http://[2002:c0a8:0101::1]/hook",
            "http://[fec0::1]/hook",
            "http://192.0.0.8/hook",
        ] {
            assert!(
                matches!(check_webhook_url(url, false), Err(WebhookUrlProblem::Private(_))),
                "{url} should be refused"
            );
            check_webhook_url(url, true).unwrap_or_else(|e| panic!("{url} allowed in dev: {e}"));
        }
    }

    #[test]
    fn only_http_and_https() {
        assert_eq!(check_webhook_url("ftp://example.com/x", true), Err(WebhookUrlProblem::Scheme("ftp".into())));
        assert_eq!(check_webhook_url("file:///etc/passwd", true), Err(WebhookUrlProblem::Scheme("file".into())));
        assert_eq!(check_webhook_url("not a url", true), Err(WebhookUrlProblem::Malformed));
        assert_eq!(check_webhook_url("/relative", true), Err(WebhookUrlProblem::Malformed));
        let long = format!("https://example.com/{}", "a".repeat(MAX_WEBHOOK_URL_LEN));
        assert_eq!(check_webhook_url(&long, false), Err(WebhookUrlProblem::Malformed));
    }
}
