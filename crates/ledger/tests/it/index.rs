//! The indexer's tables through the ledger: a fenced batch read back through the escrow views by job id, a
//! rollback that retracts it, and a stored value no domain value fits refused instead of read as zero.

use alloy::primitives::{Address, B256, U256};
use clearing_ledger::{
    BlockRef, Error, JobId, Ledger, MAIN_INDEXER, MIGRATOR, Projections,
    index::{BalanceChange, CreditParty, EscrowJob, JobEvent, JobStatus, LogPosition},
};
use sqlx::PgPool;

const CHAIN: u64 = 31337;
const ESCROW: Address = Address::repeat_byte(0xe5);
const TOKEN: Address = Address::repeat_byte(0x70);
const PROVIDER: Address = Address::repeat_byte(0x9e);
const JOB: JobId = JobId(B256::repeat_byte(0x10));

fn block(number: u64) -> BlockRef {
    let hash = |n: u64| B256::from(U256::from(n + 1));
    let parent_hash = number.checked_sub(1).map_or(B256::ZERO, hash);
    BlockRef { number, hash: hash(number), parent_hash, timestamp: 1_700_000_000 + number }
}

fn at(block_number: u64) -> LogPosition {
    LogPosition {
        block_number,
        log_index: 0,
        block_hash: block(block_number).hash,
        tx_hash: B256::with_last_byte(block_number as u8),
    }
}

/// The job funded in block 1 and released to its provider in block 2.
fn funded_then_released() -> Projections {
    let event = |block_number, status| JobEvent {
        position: at(block_number),
        escrow: ESCROW,
        job_id: JOB,
        status,
        completed: None,
        provider_bps: None,
        payer_amount: None,
        provider_amount: None,
        fee_amount: None,
    };
    Projections {
        jobs: vec![EscrowJob {
            position: at(1),
            escrow: ESCROW,
            job_id: JOB,
            payer: Address::repeat_byte(0x9a),
            provider: PROVIDER,
            token: TOKEN,
            amount: U256::from(100),
            fee: U256::from(10),
            arbiter: Address::repeat_byte(0xab),
            funding_deadline: 1,
            completion_deadline: 2,
            review_window: 3,
            salt: B256::repeat_byte(0x5a),
        }],
        job_events: vec![
            event(1, JobStatus::Funded),
            JobEvent {
                provider_amount: Some(U256::from(90)),
                fee_amount: Some(U256::from(10)),
                ..event(2, JobStatus::Released)
            },
        ],
        balance_changes: vec![BalanceChange::Credit {
            position: at(2),
            part: 0,
            escrow: ESCROW,
            job_id: JOB,
            party: CreditParty::Provider,
            amount: U256::from(90),
        }],
        ..Projections::default()
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_escrow_views_read_a_job_back_by_its_id_observed_then_confirmed(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let lease = ledger.acquire_indexer(CHAIN, MAIN_INDEXER, block(0)).await.unwrap();
    let mut tx = ledger.begin_index(&lease).await.unwrap();
    tx.write_data((0, block(0).hash), &[block(1), block(2)], &[], &funded_then_released()).await.unwrap();
    tx.advance(block(2), Some(1), 64).await.unwrap();
    tx.commit().await.unwrap();

    let status = ledger.escrow_job_status(CHAIN, ESCROW, JOB).await.unwrap();
    assert_eq!(status, Some((Some(JobStatus::Released), Some(JobStatus::Funded))), "released; confirmed funded");
    let unknown = JobId(B256::repeat_byte(0x11));
    assert_eq!(ledger.escrow_job_status(CHAIN, ESCROW, unknown).await.unwrap(), None);
    let claimable = ledger.escrow_claimable(CHAIN, ESCROW, TOKEN, PROVIDER).await.unwrap();
    assert_eq!(claimable, (U256::from(90), U256::ZERO), "credited, not yet at depth");

    // A rollback to block 1 retracts the release and its credit.
    let mut tx = ledger.begin_index(&lease).await.unwrap();
    tx.rollback_to(block(1)).await.unwrap();
    tx.commit().await.unwrap();
    let status = ledger.escrow_job_status(CHAIN, ESCROW, JOB).await.unwrap();
    assert_eq!(status, Some((Some(JobStatus::Funded), Some(JobStatus::Funded))));
    assert_eq!(ledger.escrow_claimable(CHAIN, ESCROW, TOKEN, PROVIDER).await.unwrap(), (U256::ZERO, U256::ZERO));
    lease.release().await.unwrap();
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_stored_block_no_domain_value_fits_is_refused_not_read_as_zero(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let insert =
        "INSERT INTO chain_blocks (chain_id, number, hash, parent_hash, timestamp) VALUES (31337, $1, $2, $3, $4)";
    // No check keeps a timestamp non-negative.
    sqlx::query(insert).bind(5i64).bind(vec![1u8; 32]).bind(vec![0u8; 32]).bind(-1i64).execute(&pool).await.unwrap();
    let err = ledger.block_window(CHAIN, 10, 10).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { table: "chain_blocks", column: "timestamp", .. }), "{err}");

    // A hash of the wrong length, past a check that is gone (the read used to turn it into zero).
    sqlx::query("DELETE FROM chain_blocks").execute(&pool).await.unwrap();
    sqlx::query("ALTER TABLE chain_blocks DROP CONSTRAINT chain_blocks_hash_check").execute(&pool).await.unwrap();
    sqlx::query(insert).bind(5i64).bind(vec![1u8; 31]).bind(vec![0u8; 32]).bind(0i64).execute(&pool).await.unwrap();
    let err = ledger.block_window(CHAIN, 10, 10).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { table: "chain_blocks", column: "hash", .. }), "{err}");
}
