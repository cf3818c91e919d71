//! `[market]` in the configuration file.

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::Address;
use clearing_chain::Secret;
use clearing_facilitator::http::RateLimit;
use clearing_x402::Usdc;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::{MarketError, Result, fees::FeeBps};

/// The longest a balance-paid job's money may be held: half the vault's withdrawal delay as deployed by default
/// (24 h), so a delivery made within the hold is posted long before a withdrawal requested at the purchase unlocks.
/// A vault deployed with a shorter delay needs a shorter hold: [`MarketConfig::check_withdrawal_delay`].
pub(crate) const MAX_BALANCE_JOB_HOLD_SECS: u64 = 43_200;

/// `[market]`: the marketplace API under `/v1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarketConfig {
    /// Whether `clearing serve` and `clearing dev` serve `/v1`. Default true.
    pub enabled: bool,
    /// Receives the payments of the paid routes (registration, key rotation). Default: the Escrow's
    /// `feeRecipient`, read from the chain at start.
    pub fee_recipient: Option<Address>,
    /// The price of `POST /v1/register`, USDC. Default "0.01".
    pub register_price: Usdc,
    /// The price of `POST /v1/participants/rotate-key`, USDC. Default "0.001".
    pub rotate_key_price: Usdc,
    /// The price of `GET /v1/jobs/{id}` for a payer with no API key, paid from the wallet that bought the job, USDC.
    /// Default "0.001" (with a key it is free).
    pub job_read_price: Usdc,
    /// The platform fee, basis points: a fixed price pays the provider the price less the fee, a quoted one costs
    /// the agent the price plus the fee. Default 500 (5%); at most 10,000.
    pub fee_bps: FeeBps,
    /// Whether a webhook URL may name a loopback, private or link-local address. Default false; `clearing dev` sets
    /// it, since its providers run on the same machine.
    pub allow_private_webhooks: bool,
    /// The API's public base URL (`https://api.example.com`), from which paid routes name their x402 `resource`,
    /// and jobs' links and webhooks' `callback_url` start. Default none: the resource is built from each request's
    /// `Host` header, as `http://`, and links and callback URLs are bare paths; `clearing dev` sets its own address.
    pub public_url: Option<Url>,
    /// Largest request body under `/v1`, bytes; a larger one is answered 413. Default 64 KiB.
    pub max_body_bytes: usize,
    /// Longest a `/v1` request may take, milliseconds; then 408. Default 30,000 (a paid route waits for its
    /// settlement's receipt).
    pub request_timeout_ms: u64,
    /// Requests per client IP under `/v1`. Default 1,000/s with a burst of 2,000; 0 turns it off.
    pub rate_limit_per_ip: RateLimit,
    /// Requests per API key (authenticated requests). Default 100/s with a burst of 200; 0 turns it off.
    pub rate_limit_per_key: RateLimit,
    /// The dispute arbiter every escrow job names: resolves a disputed job on chain with its own key. Default: the
    /// fee recipient.
    pub arbiter: Option<Address>,
    /// The arbiter's credential for the routes under `/v1/admin` (`Authorization: Bearer <token>`), at least 32
    /// characters; env `CLEARING_ARBITER_TOKEN`. Default none: those routes answer 403.
    pub arbiter_token: Option<Secret>,
    /// The arbiter's private key, when this server signs the arbiter's resolutions itself; env
    /// `CLEARING_ARBITER_KEY`. Its address is then the arbiter (`arbiter`, if set too, must be the same). Default
    /// none: each resolution carries the arbiter's own EIP-712 signature.
    pub arbiter_key: Option<Secret>,
    /// Seconds after a `human_service` job is completed during which only the payer may release or dispute it;
    /// then the keeper releases it. Default 172,800 (48 h).
    pub human_review_secs: u64,
    /// The same for `automated_service` jobs. Default 0: released as soon as the provider completes.
    pub automated_review_secs: u64,
    /// Seconds after its funding deadline by which a job must be completed; after it an uncompleted job is
    /// refundable to its payer. Default 604,800 (7 days).
    pub completion_window_secs: u64,
    /// How long the money of an `automated_service` job paid from a prepaid balance is held for its provider,
    /// seconds: delivered by then, it is paid; not, the keeper gives it back to the agent's balance and the job is
    /// refunded. More than 0 and at most 43,200 (12 h), the default: a delivery must be posted to the vault well
    /// before an agent's withdrawal request (made as late as the purchase itself) unlocks its whole balance, 24 h
    /// later with the vault as deployed; after that the vault refuses the debit and the provider goes unpaid.
    pub balance_job_hold_secs: u64,
    /// How often the keeper looks for completed jobs whose review window has ended (and balance-paid jobs whose hold
    /// has passed its deadline), milliseconds. Default 30,000.
    pub keeper_interval_ms: u64,
    /// How often the reactor turns newly confirmed chain events into webhooks, milliseconds. Default 500.
    pub reactor_interval_ms: u64,
    /// How often the subscription keeper queues due renewals and retries, milliseconds. Default 1,800,000 (30 min).
    pub subscription_keeper_interval_ms: u64,
    /// Seconds after a period is due during which a refused renewal is retried (three retries, a quarter of it
    /// apart) before the subscription expires; at most a period. Default 259,200 (72 h).
    pub subscription_grace_secs: u64,
    /// How long a provider's claim waits for its transaction before answering 202, milliseconds. Default 15,000.
    pub claim_wait_ms: u64,
    /// How long a catalog answer is served again before it is read afresh, milliseconds; 0 reads every time.
    /// Writes through this process clear it at once; those of other processes show within this time. Default 1,000.
    pub catalog_cache_ms: u64,
    /// Where digital products' files are stored, content-addressed by SHA-256 (a local directory, created on the
    /// first upload). Default `.clearing/products`, relative to the working directory; env `CLEARING_PRODUCT_DIR`;
    /// `clearing dev` uses `products` beside its config file.
    pub product_dir: std::path::PathBuf,
    /// Largest product file, bytes; a larger upload is answered 413. `POST /v1/products` alone takes a body this size
    /// (plus 64 KiB for the form's other fields); every other route keeps `max_body_bytes`. Default 25 MiB (the402's
    /// limit).
    pub max_product_bytes: usize,
}

impl Default for MarketConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            fee_recipient: None,
            register_price: Usdc::from_atomic(10_000),
            rotate_key_price: Usdc::from_atomic(2_000),
            job_read_price: Usdc::from_atomic(1_000),
            fee_bps: FeeBps::DEFAULT,
            allow_private_webhooks: false,
            public_url: None,
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 30_000,
            rate_limit_per_ip: RateLimit { per_second: 1_000, burst: 2_000 },
            rate_limit_per_key: RateLimit { per_second: 100, burst: 200 },
            catalog_cache_ms: 1_000,
            product_dir: std::path::PathBuf::from(".clearing/products"),
            max_product_bytes: 25 * 1024 * 1024,
            arbiter: None,
            arbiter_token: None,
            arbiter_key: None,
            human_review_secs: 172_800,
            automated_review_secs: 0,
            completion_window_secs: 604_800,
            balance_job_hold_secs: MAX_BALANCE_JOB_HOLD_SECS,
            keeper_interval_ms: 30_000,
            reactor_interval_ms: 500,
            subscription_keeper_interval_ms: 1_800_000,
            subscription_grace_secs: 259_200,
            claim_wait_ms: 15_000,
        }
    }
}

impl MarketConfig {
    /// Whether the vault's `withdrawalDelay` (seconds, read from the chain) leaves room for this market's holds: a
    /// balance-paid job's debit is posted when its hold ends, and must be in the vault before a withdrawal the agent
    /// requested at the purchase unlocks, so the hold is at most half the delay. The answer names the fix.
    pub fn check_withdrawal_delay(&self, withdrawal_delay: u64) -> std::result::Result<(), String> {
        if self.balance_job_hold_secs.saturating_mul(2) <= withdrawal_delay {
            return Ok(());
        }
        Err(format!(
            "the BalanceVault's withdrawal delay is {withdrawal_delay} s, and a balance-paid job's money is held up to \
             [market] balance_job_hold_secs = {} s: an agent could request its withdrawal at the purchase and leave \
             before the delivered job's debit is posted. Set balance_job_hold_secs = {} (half the delay) or less, or \
             deploy the vault with a longer delay",
            self.balance_job_hold_secs,
            withdrawal_delay / 2
        ))
    }

    /// Whether the market can run with these settings: each paid route costs more than nothing, since its payment is
    /// also the proof of the payer's wallet.
    pub fn validate(&self) -> Result<()> {
        for (key, price) in [
            ("register_price", self.register_price),
            ("rotate_key_price", self.rotate_key_price),
            ("job_read_price", self.job_read_price),
        ] {
            if price.is_zero() {
                return Err(MarketError::InvalidConfig {
                    key,
                    problem: "must be more than 0: the payment is what proves the wallet",
                });
            }
        }
        // These three are paid to the same payee, and an EIP-3009 authorization names no route: at one price, a
        // payment signed to read a job or download a product (seen in flight by a proxy, say) would also rotate the
        // payer's API key and hand the new one to whoever sent it.
        const SAME_AS_READ: &str = "must differ from job_read_price: a payment verifies at every route of its price";
        const SAME_AS_REGISTER: &str =
            "must differ from register_price: a payment verifies at every route of its price";
        for (key, price, other_price, problem) in [
            ("rotate_key_price", self.rotate_key_price, self.job_read_price, SAME_AS_READ),
            ("rotate_key_price", self.rotate_key_price, self.register_price, SAME_AS_REGISTER),
            ("register_price", self.register_price, self.job_read_price, SAME_AS_READ),
        ] {
            if price == other_price {
                return Err(MarketError::InvalidConfig { key, problem });
            }
        }
        // The contract lets a refused period be retried only until the next one is due.
        if self.subscription_grace_secs == 0 || self.subscription_grace_secs > 30 * 86_400 {
            return Err(MarketError::InvalidConfig {
                key: "subscription_grace_secs",
                problem: "must be more than 0 and at most 30 days (2,592,000): the shortest plan period",
            });
        }
        if self.balance_job_hold_secs == 0 || self.balance_job_hold_secs > MAX_BALANCE_JOB_HOLD_SECS {
            return Err(MarketError::InvalidConfig {
                key: "balance_job_hold_secs",
                problem: "must be more than 0 and at most 43,200 (12 h): a balance-paid job's provider needs time to \
                          deliver, and its payment must reach the vault well before a withdrawal the agent requested \
                          at the purchase unlocks (24 h)",
            });
        }
        if self.arbiter_token.as_ref().is_some_and(|token| token.expose().len() < MIN_ARBITER_TOKEN_LEN) {
            return Err(MarketError::InvalidConfig {
                key: "arbiter_token",
                problem: "must be at least 32 characters: it guards who decides disputes",
            });
        }
        if let Some(signer) = self.arbiter_signer()?
            && self.arbiter.is_some_and(|arbiter| arbiter != signer.address())
        {
            return Err(MarketError::InvalidConfig {
                key: "arbiter_key",
                problem: "is not the key of the configured arbiter: set one of them, or both to the same account",
            });
        }
        Ok(())
    }

    /// The signer of `arbiter_key`, if one is set.
    pub(crate) fn arbiter_signer(&self) -> Result<Option<PrivateKeySigner>> {
        let Some(key) = &self.arbiter_key else { return Ok(None) };
        key.expose()
            .trim()
            .parse::<PrivateKeySigner>()
            .map(Some)
            .map_err(|_| MarketError::InvalidConfig { key: "arbiter_key", problem: "is not a 32-byte hex private key" })
    }
}

/// Shortest `arbiter_token`.
const MIN_ARBITER_TOKEN_LEN: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_as_decimal_usdc() {
        let config: MarketConfig = toml::from_str("register_price = \"0.02\"\nrotate_key_price = \"0\"\n").unwrap();
        assert_eq!(config.register_price, Usdc::from_atomic(20_000));
        assert_eq!(config.rotate_key_price, Usdc::ZERO);
        let refused = config.validate().unwrap_err().to_string();
        assert!(refused.contains("rotate_key_price must be more than 0"), "{refused}");
        let err = toml::from_str::<MarketConfig>("register_price = 0.02\n").unwrap_err().to_string();
        assert!(err.contains("decimal string"), "{err}");
    }

    #[test]
    fn a_vault_with_a_short_withdrawal_delay_needs_a_short_hold() {
        let config = MarketConfig::default();
        assert!(config.check_withdrawal_delay(86_400).is_ok());
        let refused = config.check_withdrawal_delay(3_600).unwrap_err();
        assert!(refused.contains("3600 s") && refused.contains("balance_job_hold_secs = 1800"), "{refused}");
        let config = MarketConfig { balance_job_hold_secs: 1_800, ..MarketConfig::default() };
        assert!(config.check_withdrawal_delay(3_600).is_ok());
        assert!(config.check_withdrawal_delay(3_599).is_err());
    }

    #[test]
    fn a_balance_job_hold_is_at_most_half_the_vaults_withdrawal_delay() {
        assert!(MarketConfig::default().validate().is_ok());
        let config = MarketConfig { balance_job_hold_secs: 86_400, ..MarketConfig::default() };
        let refused = config.validate().unwrap_err().to_string();
        assert!(refused.contains("balance_job_hold_secs") && refused.contains("43,200"), "{refused}");
    }

    #[test]
    fn the_default_charges_a_cent_to_register_and_a_fifth_of_one_to_rotate() {
        let config = MarketConfig::default();
        assert_eq!(config.register_price.to_string(), "0.010000");
        assert_eq!(config.rotate_key_price.to_string(), "0.002000");
        assert_eq!(config.job_read_price.to_string(), "0.001000");
        assert_eq!(config.fee_bps, FeeBps::new(500).unwrap());
        config.validate().unwrap();
    }

    #[test]
    fn a_key_rotation_is_priced_apart_from_every_other_payment_to_the_market() {
        let same_as_read = MarketConfig { rotate_key_price: Usdc::from_atomic(1_000), ..MarketConfig::default() };
        let Err(MarketError::InvalidConfig { key, problem }) = same_as_read.validate() else {
            panic!("a rotation priced as a read was accepted");
        };
        assert_eq!(key, "rotate_key_price");
        assert!(problem.contains("job_read_price"), "{problem}");
        let same_as_register = MarketConfig { rotate_key_price: Usdc::from_atomic(10_000), ..MarketConfig::default() };
        assert!(matches!(same_as_register.validate(), Err(MarketError::InvalidConfig { key: "rotate_key_price", .. })));
        let read_as_register = MarketConfig { job_read_price: Usdc::from_atomic(10_000), ..MarketConfig::default() };
        assert!(matches!(read_as_register.validate(), Err(MarketError::InvalidConfig { key: "register_price", .. })));
    }
}
