//! Sequencing, anchoring, recovery, rebuild and the record route, on real settlements.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use axum::{body::Body, http::Request};
use clearing_audit::{
    AnchorPolicy, AnchorRef, MerkleTree, RebuildTarget, Record, RecordKind, RecordProof, VerifyError, VerifyTarget,
    http, rebuild, verify_record,
};
use clearing_chain::contracts::{AnchorRegistry, BatchSettler};
use clearing_testkit::{DEPLOYER, ESCROW_PAYER, ESCROW_PROVIDER, MINTER, TOKEN_VERSION, now, sign::transfer, unique};
use http_body_util::BodyExt;
use sqlx::PgPool;
use tower::ServiceExt;

use crate::support::Env;

const PAY_TO: Address = Address::repeat_byte(0xbb);

fn policy(every_records: u64, every: Duration) -> AnchorPolicy {
    AnchorPolicy { every_records, every, max_records: 1_000 }
}

fn target(env: &Env) -> RebuildTarget {
    RebuildTarget {
        registry: env.chain.deployment.anchor_registry,
        batch_settler: env.chain.deployment.batch_settler,
        escrow: env.chain.deployment.escrow,
        balance_vault: env.chain.deployment.balance_vault,
        from_block: env.chain.deployment.start_block,
        token: env.chain.token,
        confirmations: 0,
    }
}

async fn ledger_records(env: &Env) -> Vec<Record> {
    env.ledger.audit_records(env.chain.chain_id, 0, u64::MAX >> 2).await.unwrap().iter().map(Record::from).collect()
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn records_are_gapless_in_chain_order_and_match_a_rebuild_from_chain_events(pool: PgPool) {
    let env = Env::new(pool).await;
    env.chain.settle(&[100, 200, 300], PAY_TO).await;
    let released = env.chain.escrow_release(1_000_000, 50_000).await;
    env.chain.settle(&[400, 500], PAY_TO).await;
    let refunded = env.chain.escrow_refund(70_000).await;
    let resolved = env.chain.escrow_resolve(1_000_000, 40_000, 2_500).await;
    let credited = env.chain.escrow_credit(20_000, 1_000).await;
    env.index().await;

    let sequencer = env.sequencer();
    assert_eq!(sequencer.run_once().await.unwrap(), 9);
    assert_eq!(sequencer.run_once().await.unwrap(), 0, "nothing is sequenced twice");

    let stored = env.ledger.audit_records(env.chain.chain_id, 0, 100).await.unwrap();
    assert_eq!(stored.iter().map(|r| r.seq).collect::<Vec<_>>(), (0..9).collect::<Vec<_>>(), "gapless");
    assert!(stored.windows(2).all(|w| w[0].position() < w[1].position()), "in chain order");
    let records: Vec<Record> = stored.iter().map(Record::from).collect();
    let kinds: Vec<RecordKind> = records.iter().map(|r| r.kind).collect();
    use RecordKind::{EscrowCredit, EscrowRefund, EscrowRelease, EscrowResolution, Payment};
    assert_eq!(
        kinds,
        [Payment, Payment, Payment, EscrowRelease, Payment, Payment, EscrowRefund, EscrowResolution, EscrowCredit]
    );
    let credit = &records[8];
    assert_eq!(credit.reference, credited, "a direct credit is referenced by its authorization's nonce");
    assert_eq!((credit.payee_amount, credit.fee_amount), (U256::from(19_000), U256::from(1_000)));
    assert_eq!((credit.payer, credit.payee), (env.chain.address(ESCROW_PAYER), env.chain.address(ESCROW_PROVIDER)));
    assert_eq!(records[1].payee_amount, U256::from(200));
    assert_eq!((records[1].payee, records[1].token), (PAY_TO, env.chain.token));
    let release = &records[3];
    assert_eq!(release.reference, released);
    assert_eq!(release.emitter, env.chain.deployment.escrow);
    assert_eq!((release.payee_amount, release.fee_amount), (U256::from(950_000), U256::from(50_000)));
    assert_eq!(release.payer, env.chain.address(ESCROW_PAYER));
    assert_eq!(release.payee, env.chain.address(ESCROW_PROVIDER));
    assert_eq!((records[6].reference, records[6].payer_amount), (refunded, U256::from(70_000)));
    // 25% to the provider side: 250,000 of which the fee's 25% (10,000) goes to the fee recipient.
    let resolution = &records[7];
    assert_eq!(resolution.reference, resolved);
    assert_eq!(
        (resolution.payee_amount, resolution.payer_amount, resolution.fee_amount),
        (U256::from(240_000), U256::from(750_000), U256::from(10_000))
    );
    assert_eq!(
        (resolution.payer, resolution.payee),
        (env.chain.address(ESCROW_PAYER), env.chain.address(ESCROW_PROVIDER))
    );
    assert!(stored.iter().all(|r| r.leaf == Record::from(r).leaf()));

    let rebuilt = rebuild(&env.chain.provider, &target(&env)).await.unwrap();
    assert_eq!(rebuilt.records, records, "the chain alone gives the same numbering and fields");
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn only_confirmed_logs_are_sequenced(pool: PgPool) {
    let env = Env::new(pool).await;
    env.chain.settle(&[1, 2], PAY_TO).await;
    env.index_at_depth(3).await;
    let sequencer = env.sequencer();
    assert_eq!(sequencer.run_once().await.unwrap(), 0, "the batch is less than 3 blocks deep");
    env.chain.mine(3).await;
    env.index_at_depth(3).await;
    assert_eq!(sequencer.run_once().await.unwrap(), 2);
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn the_anchorer_anchors_every_n_records_or_after_t_seconds(pool: PgPool) {
    let env = Env::new(pool).await;
    let sequencer = env.sequencer();
    let anchorer = env.anchorer(policy(5, Duration::from_millis(1_500)));
    env.chain.settle(&[1, 2, 3], PAY_TO).await;
    env.index().await;
    sequencer.run_once().await.unwrap();
    assert_eq!(anchorer.run_once().await.unwrap(), None, "3 records, just sequenced: not due");

    env.chain.settle(&[4, 5], PAY_TO).await;
    env.index().await;
    sequencer.run_once().await.unwrap();
    let first = anchorer.run_once().await.unwrap().expect("5 records: due");
    assert_eq!((first.index, first.first_seq, first.last_seq), (0, 0, 4));

    env.chain.settle(&[6], PAY_TO).await;
    env.index().await;
    sequencer.run_once().await.unwrap();
    assert_eq!(anchorer.run_once().await.unwrap(), None, "1 record, young");
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let second = anchorer.run_once().await.unwrap().expect("T passed");
    assert_eq!((second.index, second.first_seq, second.last_seq), (1, 5, 5));

    let registry = AnchorRegistry::new(env.chain.deployment.anchor_registry, &env.chain.provider);
    assert_eq!(registry.nextSeq().call().await.unwrap(), 6);
    let on_chain = registry.anchors(U256::from(0)).call().await.unwrap();
    assert_eq!(on_chain.root, first.root);
    let stored = env.ledger.audit_anchors(env.chain.chain_id).await.unwrap();
    assert_eq!(stored, vec![first, second]);
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn an_anchor_sent_before_a_crash_is_recovered_not_repeated_and_a_foreign_root_is_flagged(pool: PgPool) {
    let env = Env::new(pool).await;
    env.chain.settle(&[1, 2, 3, 4], PAY_TO).await;
    env.index().await;
    env.sequencer().run_once().await.unwrap();

    // The anchorer sent its transaction, then died before recording it.
    let leaves: Vec<B256> = ledger_records(&env).await.iter().map(Record::leaf).collect();
    let root = MerkleTree::new(&leaves).unwrap().root();
    let registry = AnchorRegistry::new(env.chain.deployment.anchor_registry, &env.chain.provider);
    let sent = env.chain.anchor(0, 3, root).await;

    let anchorer = env.anchorer(policy(1, Duration::from_secs(60)));
    assert_eq!(anchorer.run_once().await.unwrap(), None, "nothing left to anchor after recovery");
    assert_eq!(registry.anchorCount().call().await.unwrap(), U256::from(1), "not anchored twice");
    let recovered = env.ledger.audit_anchors(env.chain.chain_id).await.unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!((recovered[0].root, recovered[0].tx_hash), (root, sent.transaction_hash));
    assert!(recovered[0].root_matches);

    // Someone holding the anchorer key anchors a wrong root over the next records.
    env.chain.settle(&[5, 6], PAY_TO).await;
    env.index().await;
    env.sequencer().run_once().await.unwrap();
    env.chain.anchor(4, 5, B256::repeat_byte(0xba)).await;
    assert_eq!(anchorer.run_once().await.unwrap(), None);
    let anchors = env.ledger.audit_anchors(env.chain.chain_id).await.unwrap();
    assert_eq!(anchors.len(), 2);
    assert!(!anchors[1].root_matches, "the foreign root is recorded and flagged");

    let rebuilt = rebuild(&env.chain.provider, &target(&env)).await.unwrap();
    assert_eq!(rebuilt.anchors.iter().map(|a| a.ok()).collect::<Vec<_>>(), [true, false]);
}

async fn get(router: &axum::Router, path: &str) -> (u16, serde_json::Value) {
    let response = router.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn the_record_route_serves_proofs_that_verify_and_structured_errors(pool: PgPool) {
    let env = Env::new(pool).await;
    env.chain.settle(&[10, 20, 30], PAY_TO).await;
    env.chain.escrow_release(5_000, 250).await;
    env.index().await;
    env.sequencer().run_once().await.unwrap();
    env.anchorer(policy(1, Duration::from_secs(60))).run_once().await.unwrap().expect("anchored");
    env.chain.settle(&[40], PAY_TO).await;
    env.index().await;
    env.sequencer().run_once().await.unwrap();

    let router = http::router(http::AuditState::new(env.ledger.clone(), env.chain.chain_id));
    let target = VerifyTarget::deployment(&env.chain.deployment, env.chain.token);
    let registry = &target;
    for seq in 0..4 {
        let (status, body) = get(&router, &format!("/audit/records/{seq}")).await;
        assert_eq!(status, 200, "{body}");
        let proof: RecordProof = serde_json::from_value(body).unwrap();
        assert_eq!(proof.record.seq, seq);
        verify_record(&env.chain.provider, &proof, registry).await.unwrap();
    }

    let (status, body) = get(&router, "/audit/records/4").await;
    assert_eq!((status, body["error"].as_str()), (409, Some("not_anchored")), "{body}");
    assert_eq!(body["record"]["seq"], 4);
    let (status, body) = get(&router, "/audit/records/99").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")), "{body}");
    let (status, body) = get(&router, "/audit/records/x").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");

    // Tampering: every record field breaks the leaf; a consistent forgery breaks the proof; the anchor's fields
    // break the on-chain checks.
    let (_, body) = get(&router, "/audit/records/3").await;
    let good: RecordProof = serde_json::from_value(body).unwrap();
    let leaf_mismatch = |f: &dyn Fn(&mut Record)| {
        let mut bad = good.clone();
        f(&mut bad.record);
        bad
    };
    let forgeries: Vec<(&str, RecordProof)> = vec![
        ("seq", leaf_mismatch(&|r| r.seq += 1)),
        ("kind", leaf_mismatch(&|r| r.kind = RecordKind::EscrowRefund)),
        ("chain_id", leaf_mismatch(&|r| r.chain_id += 1)),
        ("emitter", leaf_mismatch(&|r| r.emitter = Address::repeat_byte(1))),
        ("tx_hash", leaf_mismatch(&|r| r.tx_hash = B256::repeat_byte(1))),
        ("block_number", leaf_mismatch(&|r| r.block_number += 1)),
        ("log_index", leaf_mismatch(&|r| r.log_index += 1)),
        ("token", leaf_mismatch(&|r| r.token = Address::repeat_byte(1))),
        ("payer", leaf_mismatch(&|r| r.payer = Address::repeat_byte(1))),
        ("payee", leaf_mismatch(&|r| r.payee = Address::repeat_byte(1))),
        ("payee_amount", leaf_mismatch(&|r| r.payee_amount += U256::from(1))),
        ("payer_amount", leaf_mismatch(&|r| r.payer_amount += U256::from(1))),
        ("fee_amount", leaf_mismatch(&|r| r.fee_amount += U256::from(1))),
        ("reference", leaf_mismatch(&|r| r.reference = B256::repeat_byte(1))),
    ];
    for (field, bad) in forgeries {
        let err = verify_record(&env.chain.provider, &bad, registry).await.unwrap_err();
        assert!(matches!(err, VerifyError::LeafMismatch { .. }), "{field}: {err}");
    }
    let mut forged = leaf_mismatch(&|r| r.payee_amount = U256::from(1_000_000));
    forged.leaf = forged.record.leaf();
    assert!(matches!(verify_record(&env.chain.provider, &forged, registry).await, Err(VerifyError::Proof(_))));
    let mut bad = good.clone();
    bad.proof[0] = B256::repeat_byte(1);
    assert!(matches!(verify_record(&env.chain.provider, &bad, registry).await, Err(VerifyError::Proof(_))));
    let mut bad = good.clone();
    bad.anchor.index = 7;
    assert!(matches!(verify_record(&env.chain.provider, &bad, registry).await, Err(VerifyError::RootNotOnChain(_))));
    let mut bad = good.clone();
    bad.anchor.tx_hash = B256::repeat_byte(1);
    assert!(matches!(verify_record(&env.chain.provider, &bad, registry).await, Err(VerifyError::RootNotOnChain(_))));
    let mut bad = good.clone();
    bad.anchor.registry = Address::repeat_byte(1);
    assert!(matches!(verify_record(&env.chain.provider, &bad, registry).await, Err(VerifyError::WrongRegistry(_))));
    assert!(matches!(
        verify_record(&env.chain.provider, &bad, &VerifyTarget::default()).await,
        Err(VerifyError::WrongRegistry(_))
    ));
}

/// A payment settled through the deployment's BatchSettler in another token (anyone may call it with any EIP-3009
/// token, one of their own included) is no record: neither numbered by the sequencer nor by a rebuild.
#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_payment_in_another_token_is_no_record(pool: PgPool) {
    let env = Env::new(pool).await;
    env.chain.settle(&[100], PAY_TO).await;
    let owner = env.chain.as_account(MINTER);
    let other = clearing_chain::deploy_mock_usdc(&owner, "Other USD").await.unwrap();
    let payer = alloy::signers::local::PrivateKeySigner::random();
    clearing_chain::mint_mock_usdc(&owner, other, payer.address(), U256::from(500)).await.unwrap();
    let domain = clearing_x402::TokenDomain::new(env.chain.chain_id, other, "Other USD", TOKEN_VERSION);
    let payment = transfer(&payer, &domain, PAY_TO, U256::from(500), now() + 3_600, unique());
    let settler = BatchSettler::new(env.chain.deployment.batch_settler, env.chain.as_account(DEPLOYER));
    let sent = settler.settle(other, vec![payment]).gas(1_000_000).send().await.unwrap();
    let receipt = sent.get_receipt().await.unwrap();
    assert!(receipt.status());
    assert!(
        receipt.inner.logs().iter().any(|log| {
            log.topic0() == Some(&<BatchSettler::PaymentSettled as alloy::sol_types::SolEvent>::SIGNATURE_HASH)
        }),
        "the other token's payment settled"
    );
    env.chain.settle(&[200], PAY_TO).await;
    env.index().await;

    assert_eq!(env.sequencer().run_once().await.unwrap(), 2, "the other token's payment is skipped");
    let records = ledger_records(&env).await;
    assert!(records.iter().all(|r| r.token == env.chain.token), "{records:?}");
    let amounts: Vec<U256> = records.iter().map(|r| r.payee_amount).collect();
    assert_eq!(amounts, [U256::from(100), U256::from(200)]);
    let rebuilt = rebuild(&env.chain.provider, &target(&env)).await.unwrap();
    assert_eq!(rebuilt.records, records, "a rebuild numbers the same records");
}

/// An anchor recorded from its receipt, then taken off the chain by a reorg: the next round forgets it and anchors
/// its records again, and their proofs verify against the chain.
#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn an_anchor_a_reorg_took_is_forgotten_and_its_records_anchored_again(pool: PgPool) {
    use alloy::providers::ext::AnvilApi;
    let env = Env::new(pool).await;
    env.chain.settle(&[1, 2, 3], PAY_TO).await;
    env.index().await;
    env.sequencer().run_once().await.unwrap();
    let before = env.chain.provider.anvil_snapshot().await.unwrap();
    let first = env.anchorer(policy(1, Duration::from_secs(60))).run_once().await.unwrap().expect("anchored");
    assert!(env.chain.provider.anvil_revert(before).await.unwrap(), "the anchor's block is gone");
    env.chain.provider.anvil_mine(Some(2), None).await.unwrap();

    let again = env.anchorer(policy(1, Duration::from_secs(60))).run_once().await.unwrap().expect("anchored again");
    assert_eq!((again.index, again.first_seq, again.last_seq), (0, 0, 2));
    assert_ne!(again.tx_hash, first.tx_hash, "a new transaction");
    let anchors = env.ledger.audit_anchors(env.chain.chain_id).await.unwrap();
    assert_eq!(anchors.len(), 1, "{anchors:?}");
    assert_eq!(anchors[0].tx_hash, again.tx_hash);
    let router = http::router(http::AuditState::new(env.ledger.clone(), env.chain.chain_id));
    let (status, body) = get(&router, "/audit/records/1").await;
    assert_eq!(status, 200, "{body}");
    let proof: RecordProof = serde_json::from_value(body).unwrap();
    verify_record(&env.chain.provider, &proof, &VerifyTarget::deployment(&env.chain.deployment, env.chain.token))
        .await
        .unwrap();
}

/// Anchoring proves only that the anchorer anchored a record: `verify` also reads the record's log from the chain.
/// Records the chain never logged, each anchored alone (a one-leaf tree: the root is the leaf) with the anchorer's
/// key, pass the leaf, proof and root checks and fail the last, naming what differs; the genuine ones pass, with the
/// deployment known or not.
#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_record_the_chain_never_logged_fails_verification_though_anchored(pool: PgPool) {
    let env = Env::new(pool).await;
    env.chain.settle(&[10, 20], PAY_TO).await;
    env.chain.escrow_release(5_000, 250).await;
    env.index().await;
    env.sequencer().run_once().await.unwrap();
    env.anchorer(policy(1, Duration::from_secs(60))).run_once().await.unwrap().expect("anchored");
    let router = http::router(http::AuditState::new(env.ledger.clone(), env.chain.chain_id));
    let deployment = VerifyTarget::deployment(&env.chain.deployment, env.chain.token);
    let files_only = VerifyTarget { registry: deployment.registry, ..VerifyTarget::default() };
    let mut genuine = Vec::new();
    for seq in 0..3 {
        let (status, body) = get(&router, &format!("/audit/records/{seq}")).await;
        assert_eq!(status, 200, "{body}");
        let proof: RecordProof = serde_json::from_value(body).unwrap();
        let verified = verify_record(&env.chain.provider, &proof, &deployment).await.unwrap();
        assert!(verified.deployment_checked);
        let verified = verify_record(&env.chain.provider, &proof, &files_only).await.unwrap();
        assert!(!verified.deployment_checked);
        genuine.push(proof.record);
    }
    let (payment, release) = (genuine[0].clone(), genuine[2].clone());
    assert_eq!(release.kind, RecordKind::EscrowRelease);

    let other = Address::repeat_byte(0x77);
    let made_up: Vec<(&str, Record)> = vec![
        ("payee_amount", Record { payee_amount: payment.payee_amount * U256::from(100), ..payment.clone() }),
        ("payer", Record { payer: other, ..release.clone() }),
        ("payee, fee_amount", Record { payee: other, fee_amount: U256::ZERO, ..release.clone() }),
        ("kind", Record { kind: RecordKind::EscrowRefund, payee_amount: U256::ZERO, ..release.clone() }),
        ("is in transaction", Record { tx_hash: B256::repeat_byte(0x77), ..payment.clone() }),
        ("holds no log", Record { block_number: payment.block_number - 1, ..payment.clone() }),
        ("holds no log", Record { log_index: 999, ..payment.clone() }),
        // A look-alike contract's: the deployment's settler emitted this log.
        ("emitter", Record { emitter: other, ..payment.clone() }),
        // The payment's neighbour in the same batch: a real log, another payment.
        ("payee_amount", Record { log_index: genuine[1].log_index, ..payment.clone() }),
    ];
    let registry = AnchorRegistry::new(env.chain.deployment.anchor_registry, &env.chain.provider);
    for (n, (named, record)) in made_up.into_iter().enumerate() {
        let seq = 3 + n as u64;
        let record = Record { seq, ..record };
        let receipt = env.chain.anchor(seq, seq, record.leaf()).await;
        assert!(receipt.status(), "{named}: anchored");
        let index: u64 = registry.anchorCount().call().await.unwrap().saturating_to::<u64>() - 1;
        let file = RecordProof {
            leaf: record.leaf(),
            proof: Vec::new(),
            anchor: AnchorRef {
                registry: env.chain.deployment.anchor_registry,
                index,
                root: record.leaf(),
                first_seq: seq,
                last_seq: seq,
                tx_hash: receipt.transaction_hash,
                block_number: receipt.block_number.unwrap(),
            },
            record,
        };
        for target in [&deployment, &files_only] {
            match verify_record(&env.chain.provider, &file, target).await {
                Err(VerifyError::RecordNotOnChain(why)) => {
                    assert!(why.contains(named) || target == &files_only, "{named}: {why}");
                    assert_eq!(VerifyError::RecordNotOnChain(why).exit_code(), 7);
                }
                other => panic!("{named}: expected the record not on chain, got {other:?}"),
            }
        }
    }
}
