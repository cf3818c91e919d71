//! The platform fee and the three prices every service shows.
//!
//! One rule, in [`fee`]: the fee on an amount is `floor(amount * bps / 10_000)` atomic units. A fixed price is what
//! the agent pays, and the provider nets it less the fee ($50 at 5% nets $47.50). A quoted price is what the
//! provider nets, and the agent pays it plus the fee ($45 costs $47.25). Rounding down never charges anyone a unit
//! more than the rate says.

use std::fmt;

use clearing_ledger::market::PricingModel;
use clearing_x402::Usdc;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Basis points in a whole.
const BPS_PER_WHOLE: u128 = 10_000;

/// A fee rate in basis points (1/100 of a percent), at most 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeBps(u16);

impl FeeBps {
    /// 5%: the402's platform fee, and the Escrow's default cap (`DeployConfig::DEFAULT_MAX_FEE_BPS`).
    pub const DEFAULT: Self = Self(500);

    /// `bps` basis points, unless above 10,000 (100%).
    pub const fn new(bps: u16) -> Option<Self> {
        if bps as u128 <= BPS_PER_WHOLE { Some(Self(bps)) } else { None }
    }

    /// The rate in basis points.
    pub const fn bps(self) -> u16 {
        self.0
    }

    /// The rate in percent, exact to the hundredth ("5", "2.5", "0.01").
    pub fn percent(self) -> serde_json::Number {
        let (whole, hundredths) = (self.0 / 100, self.0 % 100);
        if hundredths == 0 {
            serde_json::Number::from(whole)
        } else {
            // Two decimals of a u16 are exact enough in an f64 to print as written.
            serde_json::Number::from_f64(f64::from(self.0) / 100.0).unwrap_or_else(|| serde_json::Number::from(whole))
        }
    }
}

impl fmt::Display for FeeBps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bps", self.0)
    }
}

impl Serialize for FeeBps {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.0)
    }
}

impl<'de> Deserialize<'de> for FeeBps {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bps = u16::deserialize(deserializer)?;
        Self::new(bps).ok_or_else(|| de::Error::custom(format_args!("fee_bps {bps} is above 10000 (100%)")))
    }
}

/// The fee at `rate` on `amount`: `floor(amount * bps / 10_000)` atomic units.
pub fn fee(amount: Usdc, rate: FeeBps) -> Usdc {
    // No overflow: an amount is at most u128::MAX / 10_000 here in practice (prices are capped at 10^15 units), and
    // a larger one saturates rather than wraps.
    let product = amount.atomic().saturating_mul(u128::from(rate.0));
    Usdc::from_atomic(product / BPS_PER_WHOLE)
}

/// A listed price as the catalog shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceBreakdown {
    /// What the provider listed.
    pub price: Usdc,
    /// What the agent pays.
    pub agent_price: Usdc,
    /// What the provider nets.
    pub provider_net_price: Usdc,
    /// The fee rate.
    pub rate: FeeBps,
}

/// The three prices of a service listed at `price` under `model`.
pub fn breakdown(price: Usdc, model: PricingModel, rate: FeeBps) -> PriceBreakdown {
    let fee = fee(price, rate);
    let (agent_price, provider_net_price) = match model {
        // The listed price is what the agent pays; the fee comes out of it.
        PricingModel::Fixed => (price, price.checked_sub(fee).unwrap_or(Usdc::ZERO)),
        // The listed (quoted) price is what the provider nets; the fee comes on top.
        PricingModel::QuoteRequired => (price.checked_add(fee).unwrap_or(price), price),
    };
    PriceBreakdown { price, agent_price, provider_net_price, rate }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usdc(text: &str) -> Usdc {
        Usdc::parse(text).unwrap()
    }

    #[test]
    fn the_guides_examples() {
        let five = FeeBps::DEFAULT;
        let fixed = breakdown(usdc("50"), PricingModel::Fixed, five);
        assert_eq!((fixed.agent_price, fixed.provider_net_price), (usdc("50"), usdc("47.50")));
        let quoted = breakdown(usdc("45"), PricingModel::QuoteRequired, five);
        assert_eq!((quoted.agent_price, quoted.provider_net_price), (usdc("47.25"), usdc("45")));
    }

    #[test]
    fn the_fee_rounds_down_to_the_unit() {
        let five = FeeBps::DEFAULT;
        // 19 units at 5% is 0.95 of a unit: no fee at all.
        assert_eq!(fee(Usdc::from_atomic(19), five), Usdc::ZERO);
        assert_eq!(fee(Usdc::from_atomic(20), five), Usdc::from_atomic(1));
        assert_eq!(fee(Usdc::from_atomic(39), five), Usdc::from_atomic(1));
        // $0.001 at 5% is 50 units exactly; $0.000999 is 49.95, so 49.
        assert_eq!(fee(usdc("0.001"), five), Usdc::from_atomic(50));
        assert_eq!(fee(usdc("0.000999"), five), Usdc::from_atomic(49));
        // 3.33% of $0.10 is 3,330 units; of 1 unit, nothing.
        let odd = FeeBps::new(333).unwrap();
        assert_eq!(fee(usdc("0.10"), odd), Usdc::from_atomic(3_330));
        assert_eq!(fee(Usdc::from_atomic(1), odd), Usdc::ZERO);
        let fixed = breakdown(Usdc::from_atomic(19), PricingModel::Fixed, five);
        assert_eq!((fixed.agent_price, fixed.provider_net_price), (Usdc::from_atomic(19), Usdc::from_atomic(19)));
        let quoted = breakdown(Usdc::from_atomic(39), PricingModel::QuoteRequired, five);
        assert_eq!(quoted.agent_price, Usdc::from_atomic(40));
    }

    #[test]
    fn the_rate_ends_at_a_hundred_percent() {
        assert!(FeeBps::new(10_001).is_none());
        let all = FeeBps::new(10_000).unwrap();
        let fixed = breakdown(usdc("1"), PricingModel::Fixed, all);
        assert_eq!(fixed.provider_net_price, Usdc::ZERO);
        assert_eq!(fee(usdc("1"), FeeBps::new(0).unwrap()), Usdc::ZERO);
        assert!(serde_json::from_str::<FeeBps>("10001").is_err());
        assert_eq!(serde_json::from_str::<FeeBps>("250").unwrap(), FeeBps::new(250).unwrap());
    }

    #[test]
    fn percent_is_exact_to_the_hundredth() {
        assert_eq!(FeeBps::DEFAULT.percent().to_string(), "5");
        assert_eq!(FeeBps::new(250).unwrap().percent().to_string(), "2.5");
        assert_eq!(FeeBps::new(333).unwrap().percent().to_string(), "3.33");
        assert_eq!(FeeBps::new(1).unwrap().percent().to_string(), "0.01");
    }
}
