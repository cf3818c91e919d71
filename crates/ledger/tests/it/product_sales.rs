//! Products bought from a balance: the debit and the purchase are written together, a wallet that owns the product
//! is refused with nothing debited (raced or not), a repeat of the key answers the purchase it made, and a debit the
//! vault refuses unpays the purchase, gives its amount back and frees the wallet to buy again.

use alloy::primitives::{Address, B256, Bytes, U256};
use clearing_ledger::{
    BatchClaim, BatchTransaction, ItemResolution, Ledger, MIGRATOR, Mined, RouteKind, TxFees,
    market::{
        BalanceSale, DebitRequest, NewProduct, NewProductPurchase, Product, ProductFile, ProductId, PurchasePayment,
        PurchaseState,
    },
};
use clearing_x402::{Reason, Usdc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::balances::{CHAIN, TOKEN, account, deposit, request, setup};

/// Atomic units the provider nets; the agent pays it plus 5%.
const PRICE: u64 = 200;
const AGENT_PRICE: u64 = 210;

async fn product(ledger: &Ledger, provider: clearing_ledger::market::ParticipantId) -> Product {
    let new = NewProduct {
        id: ProductId::random(),
        provider_id: provider,
        name: "Port codes".into(),
        description: "Every port code.".into(),
        category: None,
        tags: Vec::new(),
        price: Usdc::from_atomic(u128::from(PRICE)),
        download_limit: None,
        file: ProductFile {
            sha256: B256::repeat_byte(7),
            size: 10,
            name: "ports.csv".into(),
            content_type: "text/csv".into(),
        },
    };
    ledger.create_product(&new).await.unwrap()
}

fn purchase(product: &Product) -> NewProductPurchase {
    NewProductPurchase {
        id: Uuid::new_v4(),
        product_id: product.id,
        provider_id: product.provider_id,
        buyer: account().account,
        payment: PurchasePayment::Balance { chain_id: CHAIN, token: TOKEN, debit: Uuid::nil() },
        amount: U256::from(AGENT_PRICE),
        fee: U256::from(AGENT_PRICE - PRICE),
        download_limit: None,
    }
}

fn debit(credential: clearing_ledger::market::CredentialId, key: &str) -> DebitRequest {
    let mut request = request(clearing_ledger::market::ServiceId(Uuid::nil()), credential, key, AGENT_PRICE);
    request.service_id = None;
    request.fee = U256::from(AGENT_PRICE - PRICE);
    request
}

async fn debits_of_agent(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM balance_debits").fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_product_bought_from_a_balance_is_owned_once_and_unpaid_only_by_the_vault(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger, None).await;
    let provider = ledger.service(service).await.unwrap().unwrap().provider_id;
    let product = product(&ledger, provider).await;
    deposit(&pool, 1_000).await;
    let price = U256::from(PRICE);

    let BalanceSale::Bought(bought) =
        ledger.buy_product_with_balance(&debit(credential, "a"), &purchase(&product), price).await.unwrap()
    else {
        panic!("bought");
    };
    assert!(bought.owned(), "owned as soon as the debit is accepted");
    let PurchasePayment::Balance { debit: debit_id, .. } = bought.new.payment else { panic!("paid by balance") };
    assert_eq!(ledger.balance(&account()).await.unwrap().spent, U256::from(AGENT_PRICE));

    // A repeat of the key answers the same purchase; another key meets the owned purchase and debits nothing.
    let BalanceSale::Repeat(repeat) =
        ledger.buy_product_with_balance(&debit(credential, "a"), &purchase(&product), price).await.unwrap()
    else {
        panic!("repeat");
    };
    assert_eq!(repeat.new.id, bought.new.id);
    let BalanceSale::Held(held) =
        ledger.buy_product_with_balance(&debit(credential, "b"), &purchase(&product), price).await.unwrap()
    else {
        panic!("held");
    };
    assert_eq!(held.new.id, bought.new.id);
    assert_eq!(
        (debits_of_agent(&pool).await, ledger.balance(&account()).await.unwrap().spent),
        (1, U256::from(AGENT_PRICE))
    );
    // A stale price: nothing is debited.
    assert!(matches!(
        ledger
            .buy_product_with_balance(&debit(credential, "c"), &purchase(&product), U256::from(PRICE + 1))
            .await
            .unwrap(),
        BalanceSale::ProductChanged
    ));

    // The vault refuses the debit: the purchase is unpaid, released, its amount back, and the wallet buys again.
    let claim = BatchClaim {
        chain_id: CHAIN,
        asset: TOKEN,
        route: RouteKind::VaultDebit,
        relayer: Address::repeat_byte(0x4e),
        tx_nonce: 0,
        limit: 100,
        cutoff: 0,
        now: 0,
    };
    let (batch, actions) = ledger.claim_action_batch(&claim).await.unwrap().unwrap();
    assert_eq!(actions.len(), 1);
    let sent = BatchTransaction {
        tx_hash: B256::repeat_byte(9),
        raw_tx: Bytes::from(vec![9; 100]),
        gas_limit: 1_000_000,
        fees: TxFees { max_fee_per_gas: 2_000_000_000, max_priority_fee_per_gas: 1_000_000 },
    };
    ledger.record_broadcast(batch, &sent).await.unwrap();
    let mined = Mined { tx_hash: B256::repeat_byte(9), block_number: 2, block_hash: B256::repeat_byte(0xcc) };
    let refused = ItemResolution::Failed { reason: Reason::UnexpectedSettleError, revert: Bytes::from(vec![1]) };
    ledger.resolve_action_batch(batch, &mined, &[(actions[0].id, refused)]).await.unwrap();
    let unpaid = ledger.product_purchase_by_debit(debit_id).await.unwrap().unwrap();
    assert_eq!((unpaid.state(), unpaid.owned()), (PurchaseState::Failed, false));
    assert_eq!(ledger.balance(&account()).await.unwrap().spent, U256::ZERO, "the amount is back");
    assert!(ledger.release_product_purchase(unpaid.new.id, 0).await.unwrap());
    assert!(matches!(
        ledger.buy_product_with_balance(&debit(credential, "d"), &purchase(&product), price).await.unwrap(),
        BalanceSale::Bought(_)
    ));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn racing_balance_purchases_of_one_product_debit_once(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger, None).await;
    let provider = ledger.service(service).await.unwrap().unwrap().provider_id;
    let product = product(&ledger, provider).await;
    deposit(&pool, 10_000).await;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let (ledger, product) = (ledger.clone(), product.clone());
            tokio::spawn(async move {
                ledger
                    .buy_product_with_balance(
                        &debit(credential, &format!("k{i}")),
                        &purchase(&product),
                        U256::from(PRICE),
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let (mut bought, mut held) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            BalanceSale::Bought(_) => bought += 1,
            BalanceSale::Held(_) => held += 1,
            other => panic!("only bought or held: {other:?}"),
        }
    }
    assert_eq!((bought, held), (1, 11));
    assert_eq!(debits_of_agent(&pool).await, 1);
    assert_eq!(ledger.balance(&account()).await.unwrap().spent, U256::from(AGENT_PRICE));
}
