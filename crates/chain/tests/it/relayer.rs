use std::time::Duration;

use alloy::{
    primitives::{Address, B256, U256},
    providers::{Provider, ext::AnvilApi},
    signers::local::PrivateKeySigner,
};
use clearing_chain::{
    BatchCall, BatchOutcome, CONTRACT_ITEM_GAS_REQUIRED, Error, Fees, ITEM_GAS_REQUIRED, ItemOutcome, Relayer,
    SettlePayment, connect,
    contracts::{BalanceVault, BatchSettler, Escrow, GasBurningWallet},
    decode_receipt, read_code,
};
use clearing_testkit::{DEPLOYER, now, sign::transfer};

/// A chain with the suite and MockUSDC, and a relayer of anvil account 1.
struct Chain {
    kit: clearing_testkit::Chain,
    relayer: Relayer,
    token: Address,
}

async fn chain() -> Chain {
    let kit = clearing_testkit::Chain::start().await;
    let relayer =
        Relayer::new(connect(&kit.endpoint()).unwrap(), kit.key(1), kit.deployment.batch_settler).await.unwrap();
    let token = kit.token;
    Chain { kit, relayer, token }
}

fn settle(chain: &Chain, items: &[SettlePayment]) -> BatchCall {
    BatchCall::Settle { token: chain.token, payments: items.to_vec() }
}

fn payment(chain: &Chain, payer: &PrivateKeySigner, value: u64, valid_before: u64, nonce: u8) -> SettlePayment {
    let (to, value, nonce) = (Address::repeat_byte(0xbb), U256::from(value), B256::repeat_byte(nonce));
    transfer(payer, &chain.kit.domain(), to, value, valid_before, nonce)
}

async fn balance(chain: &Chain, who: Address) -> U256 {
    chain.kit.balance(who).await
}

#[tokio::test]
async fn item_gas_required_is_the_contracts() {
    let chain = chain().await;
    let settler = BatchSettler::new(chain.relayer.settler(), &chain.kit.provider);
    assert_eq!(settler.ITEM_GAS_REQUIRED().call().await.unwrap(), U256::from(ITEM_GAS_REQUIRED));
    let escrow = Escrow::new(chain.kit.deployment.escrow, &chain.kit.provider);
    assert_eq!(escrow.FUND_ITEM_GAS_REQUIRED().call().await.unwrap(), U256::from(CONTRACT_ITEM_GAS_REQUIRED));
    let vault = BalanceVault::new(chain.kit.deployment.balance_vault.unwrap(), &chain.kit.provider);
    assert_eq!(vault.ITEM_GAS_REQUIRED().call().await.unwrap(), U256::from(CONTRACT_ITEM_GAS_REQUIRED));
}

#[tokio::test]
async fn read_code_names_the_accounts_with_code_in_order() {
    let chain = chain().await;
    let wallet = *GasBurningWallet::deploy(chain.kit.as_account(DEPLOYER), U256::ZERO).await.unwrap().address();
    let eoa = chain.relayer.address();
    let accounts = [eoa, wallet, chain.token, Address::repeat_byte(0x42), wallet];
    let flags = read_code(chain.relayer.provider(), &accounts).await.unwrap();
    assert_eq!(flags, [false, true, true, false, true]);
    assert!(read_code(chain.relayer.provider(), &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn each_payer_with_code_raises_the_gas_limit_by_a_stipend() {
    let chain = chain().await;
    let payer = PrivateKeySigner::random();
    chain.kit.mint(payer.address(), 1_000).await;
    let later = now() + 600;
    let eoas = settle(&chain, &[payment(&chain, &payer, 1, later, 1), payment(&chain, &payer, 1, later, 2)]);
    let plain = chain.relayer.estimate_gas(&eoas).await.unwrap();

    // The same two payments, their payer given code (as an EIP-7702 delegation would): both items are signed by
    // code, and the limit grows by two stipends (the simulation now fails the items, so its own gas differs a
    // little; the stipends dominate).
    let code = chain
        .kit
        .provider
        .get_code_at(*GasBurningWallet::deploy(chain.kit.as_account(DEPLOYER), U256::ZERO).await.unwrap().address())
        .await
        .unwrap();
    chain.kit.provider.anvil_set_code(payer.address(), code).await.unwrap();
    let with_code = chain.relayer.estimate_gas(&eoas).await.unwrap();
    assert!(with_code >= plain + 2 * ITEM_GAS_REQUIRED - 100_000, "{plain} then {with_code}");
    assert!(with_code <= plain + 2 * ITEM_GAS_REQUIRED + 100_000, "{plain} then {with_code}");
}

#[tokio::test]
async fn a_batch_of_good_and_bad_items_resolves_each_from_its_own_event() {
    let chain = chain().await;
    let rich = PrivateKeySigner::random();
    let poor = PrivateKeySigner::random();
    chain.kit.mint(rich.address(), 1_000).await;
    let later = now() + 600;

    let good = payment(&chain, &rich, 300, later, 1);
    let replay = payment(&chain, &rich, 300, later, 1);
    let broke = payment(&chain, &poor, 300, later, 1);
    let expired = payment(&chain, &rich, 300, now() - 1, 2);
    let mut forged = payment(&chain, &rich, 300, later, 3);
    forged.value = U256::from(999);
    let items = [good, replay, broke, expired, forged];

    let nonce = chain.relayer.pending_nonce().await.unwrap();
    let signed = chain.relayer.prepare(&settle(&chain, &items), nonce, None).await.unwrap();
    assert!(signed.gas_limit > ITEM_GAS_REQUIRED);
    assert!(chain.relayer.receipt(signed.tx_hash).await.unwrap().is_none(), "prepare sends nothing");
    chain.relayer.broadcast(&signed.raw).await.unwrap();
    let receipt = chain
        .relayer
        .wait_for_any_receipt(&[signed.tx_hash], Duration::from_secs(10), Duration::from_millis(50))
        .await
        .unwrap()
        .expect("mined");

    let keys: Vec<(Address, B256)> = items.iter().map(|p| (p.from, p.nonce)).collect();
    assert!(
        signed.gas_limit >= receipt.gas_used + ITEM_GAS_REQUIRED,
        "the limit leaves ITEM_GAS_REQUIRED beyond what the batch used, as BatchSettler asks"
    );
    let (mined, outcome) = chain.relayer.decode_receipt(&receipt, &settle(&chain, &items)).unwrap();
    assert_eq!(mined.tx_hash, signed.tx_hash);
    let BatchOutcome::Items(outcomes) = outcome else { panic!("batch reverted") };
    let reasons: Vec<&str> = outcomes
        .iter()
        .map(|o| match o {
            ItemOutcome::Settled => "settled",
            ItemOutcome::Failed { reason, .. } => reason.as_str(),
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "settled",
            "invalid_exact_evm_nonce_already_used",
            "invalid_exact_evm_insufficient_balance",
            "invalid_exact_evm_payload_authorization_valid_before",
            "invalid_exact_evm_signature",
        ]
    );
    assert_eq!(balance(&chain, rich.address()).await, U256::from(700));
    assert_eq!(balance(&chain, Address::repeat_byte(0xbb)).await, U256::from(300));

    // Events that do not match the items sent are refused, never guessed at.
    let mut swapped = keys.clone();
    swapped.swap(0, 2);
    let (call, settler) = (settle(&chain, &items), chain.relayer.settler());
    let err = decode_receipt(&receipt, &call, settler, &swapped).unwrap_err();
    assert!(matches!(err, Error::ItemMismatch { index: 0, .. }), "{err}");
    let err = decode_receipt(&receipt, &call, settler, &keys[..4]).unwrap_err();
    assert!(matches!(err, Error::ItemCountMismatch { expected: 4, .. }), "{err}");
    let other_token = BatchCall::Settle { token: Address::repeat_byte(1), payments: items.to_vec() };
    let err = decode_receipt(&receipt, &other_token, settler, &keys).unwrap_err();
    assert!(matches!(err, Error::TokenMismatch { .. }), "{err}");
}

#[tokio::test]
async fn a_stuck_transaction_is_replaced_at_the_same_nonce_and_only_one_lands() {
    let chain = chain().await;
    let payer = PrivateKeySigner::random();
    chain.kit.mint(payer.address(), 1_000).await;
    let items = [payment(&chain, &payer, 250, now() + 600, 9)];
    chain.kit.set_automine(false).await;

    let nonce = chain.relayer.pending_nonce().await.unwrap();
    let first = chain.relayer.prepare(&settle(&chain, &items), nonce, None).await.unwrap();
    chain.relayer.broadcast(&first.raw).await.unwrap();
    chain.relayer.broadcast(&first.raw).await.ok(); // a re-send of identical bytes is harmless

    // The replacement: same nonce, fees bumped by at least 13%.
    let second = chain.relayer.prepare(&settle(&chain, &items), nonce, Some(first.fees.bumped(13))).await.unwrap();
    assert_eq!(second.nonce, first.nonce);
    assert_ne!(second.tx_hash, first.tx_hash);
    assert!(second.fees.max_priority_fee_per_gas * 100 >= first.fees.max_priority_fee_per_gas * 113);
    chain.relayer.broadcast(&second.raw).await.unwrap();

    chain.kit.mine(1).await;
    let receipt = chain
        .relayer
        .wait_for_any_receipt(&[first.tx_hash, second.tx_hash], Duration::from_secs(10), Duration::from_millis(50))
        .await
        .unwrap()
        .expect("one of them is mined");
    assert_eq!(receipt.transaction_hash, second.tx_hash);
    assert!(chain.relayer.receipt(first.tx_hash).await.unwrap().is_none());
    assert_eq!(chain.relayer.mined_nonce().await.unwrap(), nonce + 1);
    assert_eq!(balance(&chain, payer.address()).await, U256::from(750));
}

#[test]
fn fees_bump_by_the_percentage_rounded_up_plus_one_wei() {
    let fees = Fees { max_fee_per_gas: 1_000, max_priority_fee_per_gas: 7 };
    assert_eq!(fees.bumped(13), Fees { max_fee_per_gas: 1_131, max_priority_fee_per_gas: 9 });
    let other = Fees { max_fee_per_gas: 5, max_priority_fee_per_gas: 50 };
    assert_eq!(fees.max(other), Fees { max_fee_per_gas: 1_000, max_priority_fee_per_gas: 50 });
}
