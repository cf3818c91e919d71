use alloy::{
    primitives::{Address, B256, Bytes, U256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol,
    sol_types::{SolStruct, eip712_domain},
};
use clearing_chain::{
    MAX_VERIFY_READS, Simulation, VerifyRead, connect_with_signer, contracts::MockUSDC, deploy_mock_usdc,
    mint_mock_usdc, read_verify_batch, reason::Refusal,
};

use crate::anvil;

sol! {
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

fn read(token: Address, payer: Address, nonce: B256) -> VerifyRead {
    VerifyRead { token, nonce, simulate: true, ..VerifyRead::code_of(payer) }
}

#[tokio::test]
async fn one_call_answers_balances_nonces_and_code_for_a_batch() {
    let anvil = anvil();
    let deployer = PrivateKeySigner::from(anvil.keys()[0].clone());
    let provider = connect_with_signer(&anvil.endpoint(), deployer).unwrap();
    let token = deploy_mock_usdc(&provider, "USDC").await.unwrap();
    let payer = PrivateKeySigner::random();
    mint_mock_usdc(&provider, token, payer.address(), U256::from(5_000_000)).await.unwrap();

    // Use one nonce on chain with a signed transferWithAuthorization.
    let used = B256::repeat_byte(0x11);
    let authorization = TransferWithAuthorization {
        from: payer.address(),
        to: Address::repeat_byte(0xb0),
        value: U256::from(1_000_000),
        validAfter: U256::ZERO,
        validBefore: U256::from(u64::MAX),
        nonce: used,
    };
    let domain = eip712_domain! {
        name: "USDC",
        version: "2",
        chain_id: anvil.chain_id(),
        verifying_contract: token,
    };
    let signature = payer.sign_hash_sync(&authorization.eip712_signing_hash(&domain)).unwrap();
    MockUSDC::new(token, &provider)
        .transferWithAuthorization_0(
            authorization.from,
            authorization.to,
            authorization.value,
            authorization.validAfter,
            authorization.validBefore,
            authorization.nonce,
            Bytes::from(signature.as_bytes().to_vec()),
        )
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();

    // The replay carries the authorization's terms: the token checks the window before the nonce.
    let replay = VerifyRead {
        to: authorization.to,
        value: authorization.value,
        valid_before: authorization.validBefore,
        ..read(token, payer.address(), used)
    };
    let reads = [
        replay,
        read(token, payer.address(), B256::repeat_byte(0x12)),
        read(Address::repeat_byte(0xee), payer.address(), used),
    ];
    let answers = read_verify_batch(&provider, &reads, None).await.unwrap();

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
    let anvil = anvil();
    let deployer = PrivateKeySigner::from(anvil.keys()[0].clone());
    let provider = connect_with_signer(&anvil.endpoint(), deployer).unwrap();
    let token = deploy_mock_usdc(&provider, "USDC").await.unwrap();
    let payer = PrivateKeySigner::random();
    mint_mock_usdc(&provider, token, payer.address(), U256::from(5_000_000)).await.unwrap();
    let authorization = TransferWithAuthorization {
        from: payer.address(),
        to: Address::repeat_byte(0xb0),
        value: U256::from(1_000_000),
        validAfter: U256::ZERO,
        validBefore: U256::from(u64::MAX),
        nonce: B256::repeat_byte(0x21),
    };
    let domain = eip712_domain! {
        name: "USDC",
        version: "2",
        chain_id: anvil.chain_id(),
        verifying_contract: token,
    };
    let digest = authorization.eip712_signing_hash(&domain);
    let read = VerifyRead {
        token,
        payer: payer.address(),
        to: authorization.to,
        value: authorization.value,
        valid_after: authorization.validAfter,
        valid_before: authorization.validBefore,
        nonce: authorization.nonce,
        digest,
        signature: Bytes::from(payer.sign_hash_sync(&digest).unwrap().as_bytes().to_vec()),
        simulate: true,
    };

    let live = read_verify_batch(&provider, std::slice::from_ref(&read), None).await.unwrap();
    assert_eq!(live[0].transfer, Simulation::Succeeded);

    MockUSDC::new(token, &provider).pause().send().await.unwrap().get_receipt().await.unwrap();
    let unsimulated = VerifyRead { simulate: false, ..read.clone() };
    let not_asked = read_verify_batch(&provider, &[unsimulated], None).await.unwrap();
    assert_eq!(not_asked[0].transfer, Simulation::NotRun, "a read that does not ask for a simulation runs none");
    assert_eq!(not_asked[0].balance, Some(U256::from(5_000_000)), "but reads the balance");
    let paused = read_verify_batch(&provider, &[read], None).await.unwrap();
    let Simulation::Refused(refusal) = &paused[0].transfer else { panic!("{:?}", paused[0].transfer) };
    assert_eq!(refusal.refusal(), Refusal::Reason(clearing_x402::Reason::TokenPaused));
    assert_eq!(MockUSDC::new(token, &provider).balanceOf(payer.address()).call().await.unwrap(), U256::from(5_000_000));
}

#[tokio::test]
async fn a_full_batch_fits_in_one_call() {
    let anvil = anvil();
    let deployer = PrivateKeySigner::from(anvil.keys()[0].clone());
    let provider = connect_with_signer(&anvil.endpoint(), deployer).unwrap();
    let token = deploy_mock_usdc(&provider, "USDC").await.unwrap();

    let reads: Vec<_> = (0..MAX_VERIFY_READS)
        .map(|i| read(token, Address::with_last_byte(i as u8), B256::with_last_byte(i as u8)))
        .collect();
    let answers = read_verify_batch(&provider, &reads, None).await.unwrap();

    assert_eq!(answers.len(), MAX_VERIFY_READS);
    assert!(answers.iter().all(|a| a.balance == Some(U256::ZERO) && a.nonce_used == Some(false)));
}
