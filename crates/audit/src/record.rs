//! Settlement records: how a confirmed log becomes one, its canonical leaf, and its JSON form.
//!
//! The leaf is OpenZeppelin StandardMerkleTree's: `keccak256(bytes.concat(keccak256(abi.encode(r))))` where `r` is
//! the [`SettlementRecord`] struct below (all fields static, so `abi.encode` is its 14 words in order).
//! docs/AUDIT.md documents the fields and works an example.

use alloy::{
    primitives::{Address, B256, TxHash, U256, keccak256},
    sol,
    sol_types::{SolEvent, SolValue},
};
use clearing_chain::contracts::{BalanceVault, BatchSettler, Escrow};
use clearing_ledger::{AuditRecord, ChainLog, RecordKind};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

sol! {
    /// The ABI layout of a record's leaf (docs/AUDIT.md).
    struct SettlementRecord {
        uint64 seq;
        uint8 kind;
        uint64 chainId;
        address emitter;
        bytes32 txHash;
        uint64 blockNumber;
        uint64 logIndex;
        address token;
        address payer;
        address payee;
        uint256 payeeAmount;
        uint256 payerAmount;
        uint256 feeAmount;
        bytes32 refId;
    }
}

/// A settlement record as an auditor sees it: every field is in the leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Gapless from 0 per chain, in chain order of the record logs.
    pub seq: u64,
    /// What it records.
    pub kind: RecordKind,
    /// The chain.
    pub chain_id: u64,
    /// The contract that emitted the record's log (BatchSettler or Escrow).
    pub emitter: Address,
    /// The transaction that emitted it.
    pub tx_hash: TxHash,
    /// Its block.
    pub block_number: u64,
    /// The log's index in the block.
    pub log_index: u64,
    /// The token moved.
    pub token: Address,
    /// Who paid (the authorization's `from`, the job's payer).
    pub payer: Address,
    /// The payment's `to`, or the job's provider.
    pub payee: Address,
    /// Atomic units to the payee, decimal.
    #[serde(with = "decimal")]
    pub payee_amount: U256,
    /// Atomic units back to the payer, decimal.
    #[serde(with = "decimal")]
    pub payer_amount: U256,
    /// Atomic units to the fee recipient, decimal.
    #[serde(with = "decimal")]
    pub fee_amount: U256,
    /// The payment's EIP-3009 nonce, or the job id.
    pub reference: B256,
}

impl Record {
    /// The ABI struct the leaf hashes.
    pub fn to_sol(&self) -> SettlementRecord {
        SettlementRecord {
            seq: self.seq,
            kind: self.kind.code(),
            chainId: self.chain_id,
            emitter: self.emitter,
            txHash: self.tx_hash,
            blockNumber: self.block_number,
            logIndex: self.log_index,
            token: self.token,
            payer: self.payer,
            payee: self.payee,
            payeeAmount: self.payee_amount,
            payerAmount: self.payer_amount,
            feeAmount: self.fee_amount,
            refId: self.reference,
        }
    }

    /// `abi.encode(record)`: 14 words.
    pub fn abi_encode(&self) -> Vec<u8> {
        self.to_sol().abi_encode()
    }

    /// The Merkle leaf: `keccak256(bytes.concat(keccak256(abi.encode(record))))`.
    pub fn leaf(&self) -> B256 {
        keccak256(keccak256(self.abi_encode()))
    }

    /// The stored form, with `block_hash` (not part of the record) alongside.
    pub fn to_stored(&self, block_hash: B256) -> AuditRecord {
        AuditRecord {
            chain_id: self.chain_id,
            seq: self.seq,
            kind: self.kind,
            emitter: self.emitter,
            tx_hash: self.tx_hash,
            block_number: self.block_number,
            block_hash,
            log_index: self.log_index,
            token: self.token,
            payer: self.payer,
            payee: self.payee,
            payee_amount: self.payee_amount,
            payer_amount: self.payer_amount,
            fee_amount: self.fee_amount,
            reference: self.reference,
            leaf: self.leaf(),
        }
    }
}

impl From<&AuditRecord> for Record {
    fn from(r: &AuditRecord) -> Self {
        Self {
            seq: r.seq,
            kind: r.kind,
            chain_id: r.chain_id,
            emitter: r.emitter,
            tx_hash: r.tx_hash,
            block_number: r.block_number,
            log_index: r.log_index,
            token: r.token,
            payer: r.payer,
            payee: r.payee,
            payee_amount: r.payee_amount,
            payer_amount: r.payer_amount,
            fee_amount: r.fee_amount,
            reference: r.reference,
        }
    }
}

/// Which contracts emit records, and how their logs become records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSources {
    /// The chain.
    pub chain_id: u64,
    /// BatchSettler: `PaymentSettled` is a payment record.
    pub batch_settler: Address,
    /// Escrow: `JobReleased`, `JobRefunded` and `JobResolved` are payout records, whose `JobFunded` names the
    /// parties; `PaymentCredited` is a record by itself.
    pub escrow: Address,
    /// BalanceVault, if deployed: `Debited` and `Charged` are records by themselves.
    pub balance_vault: Option<Address>,
    /// The settlement token (the deployment's USDC). The contracts take any EIP-3009 token, so anyone could have a
    /// log numbered for a token of their own that moves nothing; a log of another token is no record.
    pub token: Address,
}

impl RecordSources {
    /// The topic0 of every record event.
    pub const RECORD_TOPICS: [B256; 7] = [
        BatchSettler::PaymentSettled::SIGNATURE_HASH,
        Escrow::JobReleased::SIGNATURE_HASH,
        Escrow::JobRefunded::SIGNATURE_HASH,
        Escrow::JobResolved::SIGNATURE_HASH,
        Escrow::PaymentCredited::SIGNATURE_HASH,
        BalanceVault::Debited::SIGNATURE_HASH,
        BalanceVault::Charged::SIGNATURE_HASH,
    ];

    /// The topic0 of the escrow's job payouts, whose topic1 is the job id.
    const JOB_PAYOUT_TOPICS: [B256; 3] =
        [Escrow::JobReleased::SIGNATURE_HASH, Escrow::JobRefunded::SIGNATURE_HASH, Escrow::JobResolved::SIGNATURE_HASH];

    /// The topic0 of `JobFunded`, which carries a job's parties and token.
    pub const JOB_FUNDED_TOPIC: B256 = Escrow::JobFunded::SIGNATURE_HASH;

    /// The emitters, for log filters.
    pub fn emitters(&self) -> Vec<Address> {
        let mut emitters = vec![self.batch_settler, self.escrow];
        emitters.extend(self.balance_vault);
        emitters
    }

    /// The escrow job id of a job payout log (its topic1), or `None` for a payment or a direct credit.
    pub fn job_id(&self, log: &ChainLog) -> Option<B256> {
        let payout = log.topics.first().is_some_and(|topic| Self::JOB_PAYOUT_TOPICS.contains(topic));
        (log.address == self.escrow && payout).then(|| log.topics.get(1).copied()).flatten()
    }

    /// The record of `log` numbered `seq`, or `None` for a log of another token than [`RecordSources::token`]; an
    /// escrow payout needs its job's `JobFunded` log as `funded`.
    pub fn decode(&self, seq: u64, log: &ChainLog, funded: Option<&ChainLog>) -> Result<Option<Record>> {
        let record = self.decode_any(seq, log, funded)?;
        Ok((record.token == self.token).then_some(record))
    }

    fn decode_any(&self, seq: u64, log: &ChainLog, funded: Option<&ChainLog>) -> Result<Record> {
        let malformed = |what: &'static str| Error::MalformedLog { tx: log.tx_hash, log_index: log.log_index, what };
        let topic0 = log.topics.first().copied().ok_or(malformed("no topic0"))?;
        let mut record = Record {
            seq,
            kind: RecordKind::Payment,
            chain_id: self.chain_id,
            emitter: log.address,
            tx_hash: log.tx_hash,
            block_number: log.block_number,
            log_index: log.log_index,
            token: Address::ZERO,
            payer: Address::ZERO,
            payee: Address::ZERO,
            payee_amount: U256::ZERO,
            payer_amount: U256::ZERO,
            fee_amount: U256::ZERO,
            reference: B256::ZERO,
        };
        if log.address == self.batch_settler && topic0 == BatchSettler::PaymentSettled::SIGNATURE_HASH {
            let event = BatchSettler::PaymentSettled::decode_raw_log(log.topics.iter().copied(), &log.data)
                .map_err(|_| malformed("undecodable PaymentSettled"))?;
            record.token = event.token;
            record.payer = event.payer;
            record.payee = event.to;
            record.payee_amount = event.value;
            record.reference = event.nonce;
            return Ok(record);
        }
        if Some(log.address) == self.balance_vault {
            let topics = log.topics.iter().copied();
            match topic0 {
                BalanceVault::Debited::SIGNATURE_HASH => {
                    let event = BalanceVault::Debited::decode_raw_log(topics, &log.data)
                        .map_err(|_| malformed("undecodable Debited"))?;
                    record.kind = RecordKind::BalanceDebit;
                    record.token = event.token;
                    record.payer = event.payer;
                    record.payee = event.provider;
                    record.payee_amount = event.amount.saturating_sub(event.fee);
                    record.fee_amount = event.fee;
                    record.reference = event.id;
                }
                BalanceVault::Charged::SIGNATURE_HASH => {
                    let event = BalanceVault::Charged::decode_raw_log(topics, &log.data)
                        .map_err(|_| malformed("undecodable Charged"))?;
                    record.kind = RecordKind::SubscriptionCharge;
                    record.token = event.token;
                    record.payer = event.payer;
                    record.payee = event.provider;
                    record.payee_amount = event.amount.saturating_sub(event.fee);
                    record.fee_amount = event.fee;
                    record.reference = event.r#ref;
                }
                _ => return Err(malformed("not a record log")),
            }
            return Ok(record);
        }
        if log.address != self.escrow {
            return Err(malformed("not a record log"));
        }
        if topic0 == Escrow::PaymentCredited::SIGNATURE_HASH {
            let event = Escrow::PaymentCredited::decode_raw_log(log.topics.iter().copied(), &log.data)
                .map_err(|_| malformed("undecodable PaymentCredited"))?;
            record.kind = RecordKind::EscrowCredit;
            record.token = event.token;
            record.payer = event.payer;
            record.payee = event.provider;
            record.payee_amount = event.providerAmount;
            record.fee_amount = event.feeAmount;
            record.reference = event.nonce;
            return Ok(record);
        }
        let job_id = log.topics.get(1).copied().ok_or(malformed("no job id"))?;
        let funded = funded.ok_or(Error::UnknownJob { job_id, tx: log.tx_hash })?;
        let terms = Escrow::JobFunded::decode_raw_log(funded.topics.iter().copied(), &funded.data)
            .map_err(|_| Error::MalformedLog {
                tx: funded.tx_hash,
                log_index: funded.log_index,
                what: "undecodable JobFunded",
            })?
            .terms;
        record.token = terms.token;
        record.payer = terms.payer;
        record.payee = terms.provider;
        record.reference = job_id;
        match topic0 {
            Escrow::JobReleased::SIGNATURE_HASH => {
                let event = Escrow::JobReleased::decode_raw_log(log.topics.iter().copied(), &log.data)
                    .map_err(|_| malformed("undecodable JobReleased"))?;
                record.kind = RecordKind::EscrowRelease;
                record.payee_amount = event.providerAmount;
                record.fee_amount = event.feeAmount;
            }
            Escrow::JobRefunded::SIGNATURE_HASH => {
                let event = Escrow::JobRefunded::decode_raw_log(log.topics.iter().copied(), &log.data)
                    .map_err(|_| malformed("undecodable JobRefunded"))?;
                record.kind = RecordKind::EscrowRefund;
                record.payer_amount = event.payerAmount;
            }
            Escrow::JobResolved::SIGNATURE_HASH => {
                let event = Escrow::JobResolved::decode_raw_log(log.topics.iter().copied(), &log.data)
                    .map_err(|_| malformed("undecodable JobResolved"))?;
                record.kind = RecordKind::EscrowResolution;
                record.payee_amount = event.providerAmount;
                record.payer_amount = event.payerAmount;
                record.fee_amount = event.feeAmount;
            }
            _ => return Err(malformed("not a record log")),
        }
        Ok(record)
    }
}

/// U256 as a decimal string in JSON (amounts read as amounts; no float ever touches them).
mod decimal {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<U256, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(D::Error::custom(format!("{text:?} is not a decimal amount")));
        }
        U256::from_str_radix(&text, 10).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{address, b256};

    use super::*;

    /// The worked example of docs/AUDIT.md.
    pub(crate) fn example() -> Record {
        Record {
            seq: 7,
            kind: RecordKind::Payment,
            chain_id: 84532,
            emitter: address!("0x1111111111111111111111111111111111111111"),
            tx_hash: b256!("0x2222222222222222222222222222222222222222222222222222222222222222"),
            block_number: 1000,
            log_index: 3,
            token: address!("0x036CbD53842c5426634e7929541eC2318f3dCF7e"),
            payer: address!("0x3333333333333333333333333333333333333333"),
            payee: address!("0x4444444444444444444444444444444444444444"),
            payee_amount: U256::from(10_000u64),
            payer_amount: U256::ZERO,
            fee_amount: U256::ZERO,
            reference: b256!("0x5555555555555555555555555555555555555555555555555555555555555555"),
        }
    }

    #[test]
    fn the_encoding_is_fourteen_words_in_field_order() {
        let encoded = example().abi_encode();
        assert_eq!(encoded.len(), 14 * 32);
        assert_eq!(U256::from_be_slice(&encoded[..32]), U256::from(7u64), "seq first");
        assert_eq!(U256::from_be_slice(&encoded[32..64]), U256::ZERO, "kind: payment = 0");
        assert_eq!(U256::from_be_slice(&encoded[64..96]), U256::from(84532u64), "chain id");
        assert_eq!(&encoded[13 * 32..], example().reference.as_slice(), "reference last");
    }

    /// Pins docs/AUDIT.md's worked example (cross-checked with `cast abi-encode` and `cast keccak`).
    #[test]
    fn the_worked_example_of_the_docs() {
        let record = example();
        assert_eq!(
            record.leaf(),
            b256!("0x33488244351cb53bcf0c738f698333ae1de3c82bbe93a7135e7d0b96cc95fa0c"),
            "abi.encode = 0x{}",
            alloy::primitives::hex::encode(record.abi_encode())
        );
    }

    #[test]
    fn json_round_trips_with_decimal_amounts() {
        let record = example();
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["payee_amount"], "10000");
        assert_eq!(json["kind"], "payment");
        assert_eq!(serde_json::from_value::<Record>(json).unwrap(), record);
    }
}
