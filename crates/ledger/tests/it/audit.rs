//! The audit trail's appends: gapless, in chain order, refused when the head moved.

use alloy::primitives::{Address, B256, U256};
use clearing_ledger::{AuditRecord, Error, Ledger, LogPosition, MIGRATOR, RecordKind};
use sqlx::PgPool;

const CHAIN: u64 = 31337;

fn record(seq: u64, block_number: u64, log_index: u64) -> AuditRecord {
    AuditRecord {
        chain_id: CHAIN,
        seq,
        kind: RecordKind::Payment,
        emitter: Address::repeat_byte(1),
        tx_hash: B256::repeat_byte(2),
        block_number,
        block_hash: B256::with_last_byte(block_number as u8),
        log_index,
        token: Address::repeat_byte(3),
        payer: Address::repeat_byte(4),
        payee: Address::repeat_byte(5),
        payee_amount: U256::MAX,
        payer_amount: U256::ZERO,
        fee_amount: U256::from(7),
        reference: B256::repeat_byte(6),
        leaf: B256::repeat_byte(seq as u8),
    }
}

fn at(block_number: u64, log_index: u64) -> LogPosition {
    LogPosition { block_number, log_index }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn appends_are_gapless_and_refused_when_the_head_moved(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    assert_eq!(ledger.audit_head(CHAIN).await.unwrap().next_seq, 0);
    let first = [record(0, 10, 1), record(1, 10, 4)];
    ledger.append_audit_records(CHAIN, 0, &first, at(10, 4)).await.unwrap();
    let head = ledger.audit_head(CHAIN).await.unwrap();
    assert_eq!((head.next_seq, head.last), (2, Some(at(10, 4))));
    assert_eq!(ledger.audit_record(CHAIN, 1).await.unwrap().unwrap(), first[1], "a uint256 amount round-trips");

    // A second sequencer that read the old head.
    let err = ledger.append_audit_records(CHAIN, 0, &[record(0, 11, 0)], at(11, 0)).await.unwrap_err();
    assert!(matches!(err, Error::SequenceConflict { expected: 0, got: 2, .. }), "{err}");
    // Numbered with a gap.
    let err = ledger.append_audit_records(CHAIN, 2, &[record(3, 11, 0)], at(11, 0)).await.unwrap_err();
    assert!(matches!(err, Error::SequenceGap { expected: 2, got: 3, .. }), "{err}");
    // A read that does not move past the head.
    let err = ledger.append_audit_records(CHAIN, 2, &[], at(10, 4)).await.unwrap_err();
    assert!(matches!(err, Error::SequenceConflict { .. }), "{err}");
    assert_eq!(ledger.audit_records(CHAIN, 0, 100).await.unwrap().len(), 2, "nothing half-written");

    ledger.append_audit_records(CHAIN, 2, &[record(2, 11, 0)], at(12, 9)).await.unwrap();
    let unanchored = ledger.audit_unanchored(CHAIN).await.unwrap();
    assert_eq!((unanchored.first_seq, unanchored.count), (0, 3));
}
