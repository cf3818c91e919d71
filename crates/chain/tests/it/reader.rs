use alloy::primitives::{Address, B256, U256};
use clearing_chain::{
    MAX_VERIFY_READS, Simulation, VerifyRead, contracts::MockUSDC, read_verify_batch, reason::Refusal,
};
use clearing_testkit::{
    Chain, DEPLOYER,
    sign::{settle_payment, sign_transfer},
};
use clearing_x402::ExactEvmAuthorization;

fn read(token: Address, payer: Address, nonce: B256) -> VerifyRead {
    VerifyRead { token, nonce, simulate: true, ..VerifyRead::code_of(payer) }
}

/// `from`'s authorization of 1,000,000 to 0xb0…b0, valid from the epoch for ever, under `nonce`.
fn million_to_b0(from: Address, nonce: B256) -> ExactEvmAuthorization {
    ExactEvmAuthorization {
        from,
        to: Address::repeat_byte(0xb0),
        value: U256::from(1_000_000),
        valid_after: U256::ZERO,
        valid_before: U256::from(u64::MAX),
        nonce,
    }
}

#[tokio::test]
async fn one_call_answers_balances_nonces_and_code_for_a_batch() {
    let chain = Chain::start().await;
    let (provider, token) = (&chain.provider, chain.token);
    let payer = chain.payer(5_000_000).await;

    // Use one nonce on chain with a signed transferWithAuthorization.
    let used = B256::repeat_byte(0x11);
    let authorization = million_to_b0(payer.address(), used);
    let signature = sign_transfer(&payer, &chain.domain(), &authorization);
    chain.transfer_with_authorization(&settle_payment(&authorization, signature)).await;

    // The replay carries the authorization's terms: the token checks the window before the nonce.
    let replay = VerifyRead {
        to: authorization.to,
        value: authorization.value,
        valid_before: authorization.valid_before,
        ..read(token, payer.address(), used)
    };
    let reads = [
        replay,
        read(token, payer.address(), B256::repeat_byte(0x12)),
        read(Address::repeat_byte(0xee), payer.address(), used),
    ];
    let answers = read_verify_batch(provider, &reads, None).await.unwrap();

    assert!(answers[0].token_is_contract && !answers[0].payer_has_code);
    // The replayed authorization is refused by the token itself, with its message.
    let Simulation::Refused(refusal) = &answers[0].transfer else { panic!("{:?}", answers[0].transfer) };
    assert_eq!(refusal.message.as_deref(), Some("FiatTokenV2: authorization is used or canceled"));
    assert_eq!(refusal.refusal(), Refusal::Reason(clearing_x402::Reason::NonceAlreadyUsed));
    assert_eq!(answers[0].balance, Some(U256::from(4_000_000)));
    assert_eq!(answers[0].nonce_used, Some(true));
    assert_eq!(answers[1].nonce_used, Some(false));
    assert!(!answers[2].token_is_contract, "an address without code is not a token");
    assert_eq!((answers[2].balance, answers[2].nonce_used), (None, None));
    assert_eq!(answers[2].transfer, Simulation::NotRun);
}

#[tokio::test]
async fn a_paused_token_refuses_the_simulated_transfer_and_a_live_one_accepts_it() {
    let chain = Chain::start().await;
    let (provider, token) = (&chain.provider, chain.token);
    let payer = chain.payer(5_000_000).await;
    let authorization = million_to_b0(payer.address(), B256::repeat_byte(0x21));
    let read = VerifyRead {
        token,
        payer: payer.address(),
        to: authorization.to,
        value: authorization.value,
        valid_after: authorization.valid_after,
        valid_before: authorization.valid_before,
        nonce: authorization.nonce,
        digest: chain.domain().transfer_digest(&authorization),
        signature: sign_transfer(&payer, &chain.domain(), &authorization),
        simulate: true,
    };

    let live = read_verify_batch(provider, std::slice::from_ref(&read), None).await.unwrap();
    assert_eq!(live[0].transfer, Simulation::Succeeded);

    let owner = chain.as_account(DEPLOYER);
    MockUSDC::new(token, &owner).pause().send().await.unwrap().get_receipt().await.unwrap();
    let unsimulated = VerifyRead { simulate: false, ..read.clone() };
    let not_asked = read_verify_batch(provider, &[unsimulated], None).await.unwrap();
    assert_eq!(not_asked[0].transfer, Simulation::NotRun, "a read that does not ask for a simulation runs none");
    assert_eq!(not_asked[0].balance, Some(U256::from(5_000_000)), "but reads the balance");
    let paused = read_verify_batch(provider, &[read], None).await.unwrap();
    let Simulation::Refused(refusal) = &paused[0].transfer else { panic!("{:?}", paused[0].transfer) };
    assert_eq!(refusal.refusal(), Refusal::Reason(clearing_x402::Reason::TokenPaused));
    assert_eq!(chain.balance(payer.address()).await, U256::from(5_000_000));
}

#[tokio::test]
async fn a_full_batch_fits_in_one_call() {
    let chain = Chain::start().await;
    let (provider, token) = (&chain.provider, chain.token);

    let reads: Vec<_> = (0..MAX_VERIFY_READS)
        .map(|i| read(token, Address::with_last_byte(i as u8), B256::with_last_byte(i as u8)))
        .collect();
    let answers = read_verify_batch(provider, &reads, None).await.unwrap();

    assert_eq!(answers.len(), MAX_VERIFY_READS);
    assert!(answers.iter().all(|a| a.balance == Some(U256::ZERO) && a.nonce_used == Some(false)));
}
