//! The `[webhooks]` section of the configuration file: every key read, unknown keys refused.

use clearing_webhooks::WebhooksConfig;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct File {
    webhooks: WebhooksConfig,
}

#[test]
fn the_webhooks_section_keeps_its_keys() {
    let text = "[webhooks]\nconcurrency = 3\ntimeout_ms = 4\nallow_private = true\nretry_schedule_ms = [5, 6]\n\
                max_retry_after_secs = 7\npoll_ms = 8\nlease_ms = 9\n";
    let webhooks = toml::from_str::<File>(text).unwrap().webhooks;
    let expected = WebhooksConfig {
        concurrency: 3,
        timeout_ms: 4,
        allow_private: true,
        retry_schedule_ms: vec![5, 6],
        max_retry_after_secs: 7,
        poll_ms: 8,
        lease_ms: 9,
    };
    assert_eq!(webhooks, expected);
    assert_eq!(toml::from_str::<File>("[webhooks]\n").unwrap().webhooks, WebhooksConfig::default());
    let err = toml::from_str::<File>("[webhooks]\nconcurency = 3\n").unwrap_err().to_string();
    assert!(err.contains("concurency"), "{err}");
    // It writes back as it reads.
    assert_eq!(toml::from_str::<WebhooksConfig>(&toml::to_string(&expected).unwrap()).unwrap(), expected);
}
