//! `clearing audit verify` and `clearing audit rebuild`, the binary, against real settlements on anvil: a record
//! fetched over HTTP verifies, every tampered field fails with the check it breaks, and a wrong root anchored with
//! the anchorer key is reported.

use std::{path::Path, process::Command, time::Duration};

use alloy::primitives::{Address, B256};
use axum::{body::Body, http::Request};
use clearing_audit::{AnchorPolicy, http};
use clearing_ledger::Ledger;
use clearing_testkit::Chain;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;

const PAY_TO: Address = Address::repeat_byte(0xbb);

/// `clearing` with no configuration file (all defaults, no deployment), unless `args` names one.
fn clearing(args: &[&str]) -> (i32, String) {
    let none = ["--config", "/nonexistent/clearing.toml"];
    let output = Command::new(env!("CARGO_BIN_EXE_clearing"))
        .args(if args.first() == Some(&"--config") { &[][..] } else { &none[..] })
        .args(args)
        .output()
        .expect("clearing runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

/// `clearing audit verify` of `record`, with the deployment's contracts and token named.
fn verify(chain: &Chain, dir: &Path, name: &str, record: &Value) -> (i32, String) {
    let d = chain.deployment;
    let (settler, escrow, token) = (d.batch_settler.to_string(), d.escrow.to_string(), chain.token.to_string());
    verify_with(chain, dir, name, record, &["--settler", &settler, "--escrow", &escrow, "--token", &token])
}

fn verify_with(chain: &Chain, dir: &Path, name: &str, record: &Value, more: &[&str]) -> (i32, String) {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(record).unwrap()).unwrap();
    let (registry, rpc) = (chain.deployment.anchor_registry.to_string(), chain.endpoint());
    let mut args = vec!["audit", "verify", path.to_str().unwrap(), "--rpc", &rpc, "--registry", &registry];
    args.extend_from_slice(more);
    clearing(&args)
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn an_anchored_record_verifies_through_the_cli_and_every_tampered_field_fails(pool: PgPool) {
    let (chain, ledger) = (Chain::start().await, Ledger::from_pool(pool));
    chain.settle(&[1_500, 2_500], PAY_TO).await;
    chain.escrow_release(2_000_000, 100_000).await;
    chain.index(&ledger, 0).await;
    chain.sequencer(&ledger).run_once().await.unwrap();
    let policy = AnchorPolicy { every_records: 1, every: Duration::from_secs(60), max_records: 100 };
    chain.anchorer(&ledger, policy).run_once().await.unwrap().expect("anchored");

    let router = http::router(http::AuditState::new(ledger.clone(), chain.chain_id));
    let dir = tempfile::tempdir().unwrap();
    for seq in 0..3 {
        let response =
            router.clone().oneshot(Request::get(format!("/audit/records/{seq}")).body(Body::empty()).unwrap());
        let response = response.await.unwrap();
        assert_eq!(response.status(), 200);
        let record: Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
        let (code, out) = verify(&chain, dir.path(), &format!("good{seq}"), &record);
        assert_eq!(code, 0, "{out}");
        assert!(out.starts_with(&format!("OK: record {seq} ")), "{out}");
        assert!(out.contains("is this record; contract the deployment's; token the settlement token"), "{out}");
        // Without the contracts to check the log against, nothing is claimed unless the file is trusted by name.
        let (code, out) = verify_with(&chain, dir.path(), &format!("unnamed{seq}"), &record, &[]);
        assert!(code == 8 && out.contains("nothing trusted names"), "{out}");
        let (code, out) = verify_with(&chain, dir.path(), &format!("named{seq}"), &record, &["--trust-file"]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("is this record; contract the file's"), "{out}");
        if seq == 0 {
            let d = chain.deployment;
            let (settler, escrow) = (d.batch_settler.to_string(), d.escrow.to_string());
            let deep = ["--settler", &settler, "--escrow", &escrow, "--confirmations", "1000"];
            let (code, out) = verify_with(&chain, dir.path(), "deep", &record, &deep);
            assert!(code == 9 && out.contains("not confirmed") && out.contains("1000 asked"), "{out}");
            // A configured deployment on another chain (the same addresses may exist there) is not this chain's.
            let d = chain.deployment;
            let config = dir.path().join("base.toml");
            let toml = format!(
                "[chain]\nrpc_url = \"{}\"\n[chain.deployment]\nchain_id = 8453\nstart_block = 0\n\
                 batch_settler = \"{}\"\nescrow = \"{}\"\nanchor_registry = \"{}\"\n",
                chain.endpoint(),
                d.batch_settler,
                d.escrow,
                d.anchor_registry
            );
            std::fs::write(&config, toml).unwrap();
            let path = dir.path().join("good0.json");
            let (code, out) =
                clearing(&["--config", config.to_str().unwrap(), "audit", "verify", path.to_str().unwrap()]);
            assert!(code == 5 && out.contains("the configured deployment is on chain 8453"), "{out}");
        }
        if seq < 2 {
            continue;
        }

        // The escrow release: tamper with each field in turn.
        let other_address = json!(Address::repeat_byte(0x77));
        let other_word = json!(B256::repeat_byte(0x77));
        let record_fields: [(&str, Value); 14] = [
            ("seq", json!(5)),
            ("kind", json!("escrow_refund")),
            ("chain_id", json!(1)),
            ("emitter", other_address.clone()),
            ("tx_hash", other_word.clone()),
            ("block_number", json!(record["record"]["block_number"].as_u64().unwrap() + 1)),
            ("log_index", json!(record["record"]["log_index"].as_u64().unwrap() + 1)),
            ("token", other_address.clone()),
            ("payer", other_address.clone()),
            ("payee", other_address.clone()),
            ("payee_amount", json!("1900001")),
            ("payer_amount", json!("1")),
            ("fee_amount", json!("99999")),
            ("reference", other_word.clone()),
        ];
        for (field, value) in record_fields {
            let mut bad = record.clone();
            bad["record"][field] = value;
            let (code, out) = verify(&chain, dir.path(), field, &bad);
            assert_eq!(code, 2, "{field}: {out}");
            assert!(out.contains("leaf mismatch"), "{field}: {out}");
        }
        let mut bad = record.clone();
        bad["leaf"] = other_word.clone();
        let (code, out) = verify(&chain, dir.path(), "leaf", &bad);
        assert!(code == 2 && out.contains("leaf mismatch"), "{out}");
        let mut bad = record.clone();
        bad["proof"][0] = other_word.clone();
        let (code, out) = verify(&chain, dir.path(), "proof", &bad);
        assert!(code == 3 && out.contains("proof"), "{out}");
        let mut bad = record.clone();
        bad["anchor"]["root"] = other_word.clone();
        let (code, out) = verify(&chain, dir.path(), "root", &bad);
        assert!(code == 3 && out.contains("proof"), "root: {out}");
        for (field, value) in
            [("index", json!(3)), ("first_seq", json!(1)), ("tx_hash", other_word.clone()), ("block_number", json!(1))]
        {
            let mut bad = record.clone();
            bad["anchor"][field] = value;
            let (code, out) = verify(&chain, dir.path(), &format!("anchor_{field}"), &bad);
            assert!(code == 4 && out.contains("root not on chain"), "anchor {field}: {out}");
        }
        let mut bad = record.clone();
        bad["anchor"]["registry"] = other_address.clone();
        let (code, out) = verify(&chain, dir.path(), "registry", &bad);
        assert!(code == 5 && out.contains("wrong registry"), "{out}");
    }
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_vault_record_is_refused_until_the_vault_is_named(pool: PgPool) {
    let (chain, ledger) = (Chain::start().await, Ledger::from_pool(pool));
    chain.vault_debit(1_000_000, 50_000).await;
    chain.index(&ledger, 0).await;
    chain.sequencer(&ledger).run_once().await.unwrap();
    let policy = AnchorPolicy { every_records: 1, every: Duration::from_secs(60), max_records: 100 };
    chain.anchorer(&ledger, policy).run_once().await.unwrap().expect("anchored");
    let router = http::router(http::AuditState::new(ledger.clone(), chain.chain_id));
    let response = router.oneshot(Request::get("/audit/records/0").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    let record: Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(record["record"]["kind"], "balance_debit", "{record}");
    let dir = tempfile::tempdir().unwrap();

    // The settler and the escrow named, the vault not: the record's log could only be checked against its own
    // emitter, which a hostile file names.
    let (code, out) = verify(&chain, dir.path(), "no_vault", &record);
    assert!(code == 8 && out.contains("its contract (the vault's) is unknown"), "{out}");
    let vault = chain.deployment.balance_vault.unwrap().to_string();
    let (code, out) = verify_with_vault(&chain, dir.path(), "vault", &record, &vault);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("contract the deployment's; token the settlement token"), "{out}");
    // A file naming another emitter is not the anchored record.
    let mut forged = record.clone();
    forged["record"]["emitter"] = json!(Address::repeat_byte(0x77));
    let (code, out) = verify_with_vault(&chain, dir.path(), "forged", &forged, &vault);
    assert!(code == 2 && out.contains("leaf mismatch"), "{out}");
    let (code, out) = verify_with(&chain, dir.path(), "trusted", &record, &["--trust-file"]);
    assert!(code == 0 && out.contains("contract the file's"), "{out}");
}

/// `clearing audit verify` of `record` with every contract named, the vault as `vault`.
fn verify_with_vault(chain: &Chain, dir: &Path, name: &str, record: &Value, vault: &str) -> (i32, String) {
    let d = chain.deployment;
    let (settler, escrow, token) = (d.batch_settler.to_string(), d.escrow.to_string(), chain.token.to_string());
    verify_with(
        chain,
        dir,
        name,
        record,
        &["--settler", &settler, "--escrow", &escrow, "--token", &token, "--vault", vault],
    )
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn rebuild_reports_ok_then_mismatch_after_a_wrong_root_is_anchored(pool: PgPool) {
    let (chain, ledger) = (Chain::start().await, Ledger::from_pool(pool));
    chain.settle(&[10, 20, 30], PAY_TO).await;
    chain.escrow_release(1_000, 0).await;
    chain.index(&ledger, 0).await;
    chain.sequencer(&ledger).run_once().await.unwrap();
    let policy = AnchorPolicy { every_records: 1, every: Duration::from_secs(60), max_records: 2 };
    chain.anchorer(&ledger, policy).run_once().await.unwrap().expect("anchor 0");
    chain.anchorer(&ledger, policy).run_once().await.unwrap().expect("anchor 1");

    let d = chain.deployment;
    let (registry, settler, escrow, from) =
        (d.anchor_registry.to_string(), d.batch_settler.to_string(), d.escrow.to_string(), d.start_block.to_string());
    let token = chain.token.to_string();
    let rpc = chain.endpoint();
    let args = [
        "audit",
        "rebuild",
        "--rpc",
        &rpc,
        "--registry",
        &registry,
        "--settler",
        &settler,
        "--escrow",
        &escrow,
        "--from-block",
        &from,
        "--token",
        &token,
    ];
    let (code, out) = clearing(&args);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("anchor 0 records 0..=1: OK") && out.contains("anchor 1 records 2..=3: OK"), "{out}");

    // A wrong root over a real record, from the anchorer key.
    chain.settle(&[40], PAY_TO).await;
    chain.anchor(4, 4, B256::repeat_byte(0xba)).await;
    let (code, out) = clearing(&args);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("anchor 1 records 2..=3: OK"), "{out}");
    assert!(out.contains("anchor 2 records 4..=4: MISMATCH"), "{out}");

    // Logs that leave anchors out (a lagging RPC, a wrong --from-block) are not a clean report of none.
    let head = chain.head().await.to_string();
    let mut late = args;
    late[11] = &head;
    let (code, out) = clearing(&late);
    assert!(code == 1 && out.contains("INCOMPLETE: registry") && out.contains("holds 3 anchors"), "{out}");
    // Nor is an address that holds no registry.
    let nowhere = Address::repeat_byte(0x77).to_string();
    let mut wrong = args;
    wrong[5] = &nowhere;
    let (code, out) = clearing(&wrong);
    assert!(code != 0 && out.contains("holds no code"), "{out}");
    // Read a depth below the head: here, before the registry existed.
    let (code, out) = clearing(&[&args[..], &["--confirmations", "100000"]].concat());
    assert!(code != 0 && out.contains("holds no code at block 0"), "{out}");
}
