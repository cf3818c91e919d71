//! Payments the token would refuse at settle, or that no resource server should take, are refused at `/verify` and
//! at `/settle` with a reason of their own; a queued payment the token refuses later gets its reason too.

use alloy::{
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use clearing_chain::{ChainProvider, contracts::MockUSDC, mint_mock_usdc};
use clearing_facilitator::{Clock, SystemClock};
use clearing_testkit::{DEPLOYER, SignedPayment, Terms, TestDatabase};
use clearing_x402::Reason;
use serde_json::Value;
use sqlx::PgPool;

use crate::{
    harness::{Harness, USDC, json_of, terms},
    support::{Env, fast_config, later},
};

/// The refused cases: a name, what makes the payment refusable, and its reason.
#[derive(Debug, Clone, Copy)]
enum Case {
    BlacklistedPayer,
    BlacklistedPayTo,
    PausedToken,
    PayToIsToken,
    ZeroValue,
    ValidBeforeTooFar,
}

impl Case {
    const ALL: [Self; 6] = [
        Self::BlacklistedPayer,
        Self::BlacklistedPayTo,
        Self::PausedToken,
        Self::PayToIsToken,
        Self::ZeroValue,
        Self::ValidBeforeTooFar,
    ];

    const fn reason(self) -> &'static str {
        match self {
            Self::BlacklistedPayer => "invalid_exact_evm_payer_blacklisted",
            Self::BlacklistedPayTo => "invalid_exact_evm_recipient_blacklisted",
            Self::PausedToken => "invalid_exact_evm_token_paused",
            Self::PayToIsToken => "invalid_exact_evm_recipient_is_token",
            Self::ZeroValue => "invalid_exact_evm_payload_authorization_value",
            Self::ValidBeforeTooFar => "invalid_exact_evm_payload_authorization_valid_before_too_far",
        }
    }

    /// `payer`'s payment for this case.
    fn payment(self, payer: &PrivateKeySigner) -> SignedPayment {
        let terms = terms(if matches!(self, Self::ZeroValue) { 0 } else { 1_000 });
        match self {
            Self::PayToIsToken => Terms { pay_to: USDC, ..terms }.pay(payer),
            // The requirements ask for maxTimeoutSeconds = 300; an hour is what the benchmark once signed.
            Self::ValidBeforeTooFar => terms.pay_until(payer, SystemClock.now() + 3_600),
            _ => terms.pay(payer),
        }
    }

    /// Funds `payer`, then sets the token up for the case as its owner.
    async fn prepare(self, owner: &ChainProvider, payer: Address, pay_to: Address) {
        mint_mock_usdc(owner, USDC, payer, U256::from(5_000)).await.unwrap();
        let usdc = MockUSDC::new(USDC, owner);
        let blacklisted = match self {
            Self::BlacklistedPayer => payer,
            Self::BlacklistedPayTo => pay_to,
            // FiatToken v2.2 blacklists its own address when initialized (MockUSDC may not yet).
            Self::PayToIsToken => USDC,
            Self::PausedToken => {
                usdc.pause().send().await.unwrap().get_receipt().await.unwrap();
                return;
            }
            Self::ZeroValue | Self::ValidBeforeTooFar => return,
        };
        usdc.blacklist(blacklisted).send().await.unwrap().get_receipt().await.unwrap();
    }
}

fn refusal<'a>(answer: &'a Value, valid: &str, reason: &str) -> &'a str {
    assert_eq!(answer[valid], false, "{answer}");
    answer[reason].as_str().unwrap_or_else(|| panic!("no {reason} in {answer}"))
}

#[tokio::test]
async fn verify_refuses_each_payment_the_token_or_the_requirements_would_refuse() {
    for case in Case::ALL {
        let harness = Harness::new().await;
        let payer = PrivateKeySigner::random();
        let payment = case.payment(&payer);
        case.prepare(&harness.chain.as_account(DEPLOYER), payer.address(), payment.offer.pay_to).await;
        harness.sync().await;

        let answer = harness.verify(&payment.body()).await;

        assert_eq!(refusal(&answer, "isValid", "invalidReason"), case.reason(), "{case:?}: {answer}");
        assert_eq!(answer["payer"], payer.address().to_checksum(None), "{case:?}");
        assert!(!answer["invalidMessage"].as_str().unwrap_or_default().is_empty(), "{case:?}: {answer}");
    }
}

#[tokio::test]
async fn verify_names_the_blacklisted_party() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    let payment = Case::BlacklistedPayTo.payment(&payer);
    Case::BlacklistedPayTo.prepare(&harness.chain.as_account(DEPLOYER), payer.address(), payment.offer.pay_to).await;
    harness.sync().await;

    let answer = harness.verify(&payment.body()).await;

    let message = answer["invalidMessage"].as_str().unwrap();
    assert!(message.contains(&payment.offer.pay_to.to_string()) && message.contains("blacklist"), "{answer}");
}

#[tokio::test]
async fn a_token_unpaused_after_a_refusal_is_accepted_at_the_next_head() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    let payment = Case::PausedToken.payment(&payer);
    Case::PausedToken.prepare(&harness.chain.as_account(DEPLOYER), payer.address(), payment.offer.pay_to).await;
    harness.sync().await;
    assert_eq!(refusal(&harness.verify(&payment.body()).await, "isValid", "invalidReason"), Case::PausedToken.reason());

    MockUSDC::new(USDC, harness.chain.as_account(DEPLOYER))
        .unpause()
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    harness.sync().await;

    assert_eq!(harness.verify(&payment.body()).await["isValid"], true);
}

/// `/settle` of each of `cases` on one facilitator: refused with the case's reason, nothing broadcast or moved.
async fn settle_refuses(pool: PgPool, cases: &[Case]) {
    let payers: Vec<_> = cases.iter().map(|_| PrivateKeySigner::random()).collect();
    let payments: Vec<_> = cases.iter().zip(&payers).map(|(case, payer)| case.payment(payer)).collect();
    let harness = Harness::with_settlement_after(pool, async |owner: &ChainProvider| {
        for (case, payment) in cases.iter().zip(&payments) {
            case.prepare(owner, payment.payer(), payment.offer.pay_to).await;
        }
    })
    .await;
    harness.sync().await;
    let usdc = MockUSDC::new(USDC, &harness.chain.provider);

    for (case, payment) in cases.iter().zip(&payments) {
        let response = harness.post("/settle", payment.body().to_string()).await;
        assert_eq!(response.status(), 200, "{case:?}");
        let answer = json_of(response).await;

        assert_eq!(refusal(&answer, "success", "errorReason"), case.reason(), "{case:?}: {answer}");
        assert!(answer.get("transaction").is_none_or(|t| t == ""), "{case:?}: nothing was broadcast: {answer}");
        let balance = usdc.balanceOf(payment.payer()).call().await.unwrap();
        assert_eq!(balance, U256::from(5_000), "{case:?}: nothing moved");
    }
}

#[tokio::test]
async fn settle_refuses_each_payment_verify_refuses_and_moves_nothing() {
    let database = TestDatabase::create("settle_refuses_each_payment_verify_refus").await;
    let pool = database.pool();
    // A pause stops every payment, so it has a chain of its own below.
    let cases: Vec<_> = Case::ALL.into_iter().filter(|case| !matches!(case, Case::PausedToken)).collect();
    settle_refuses(pool, &cases).await;
}

#[tokio::test]
async fn settle_refuses_a_payment_in_a_paused_token() {
    let database = TestDatabase::create("settle_refuses_a_payment_in_a_paused_tok").await;
    let pool = database.pool();
    settle_refuses(pool, &[Case::PausedToken]).await;
}

/// Payments queued without verify (as if the token changed after it) and refused by the token in their batch: the
/// settle answer carries the token's reason, not `unexpected_settle_error`.
#[tokio::test]
async fn a_queued_payment_the_token_refuses_gets_the_tokens_reason() {
    let database = TestDatabase::create("a_queued_payment_the_token_refuses_gets_").await;
    let pool = database.pool();
    let env = Env::new(pool).await;
    let config = fast_config();
    let settler = env.settler(&config).await;
    let batcher = env.batcher(&config).await;
    let usdc = MockUSDC::new(env.chain.token, env.chain.as_account(DEPLOYER));
    let payer = env.payer(5_000).await;

    usdc.blacklist(payer.address()).send().await.unwrap().get_receipt().await.unwrap();
    let blacklisted = settler.settle(&env.payment(&payer, 1_000, later(), 1)).await.unwrap();
    // The revert data does not say whose blacklisting it was.
    let reason = blacklisted.error_reason().map(Reason::as_str);
    assert_eq!(reason, Some("invalid_exact_evm_account_blacklisted"), "{blacklisted:?}");
    assert!(blacklisted.transaction().is_some(), "refused in a batch: {blacklisted:?}");

    usdc.unBlacklist(payer.address()).send().await.unwrap().get_receipt().await.unwrap();
    usdc.pause().send().await.unwrap().get_receipt().await.unwrap();
    let paused = settler.settle(&env.payment(&payer, 1_000, later(), 2)).await.unwrap();
    assert_eq!(paused.error_reason().map(Reason::as_str), Some("invalid_exact_evm_token_paused"), "{paused:?}");

    assert_eq!(env.balance(payer.address()).await, U256::from(5_000));
    batcher.shutdown().await;
}
