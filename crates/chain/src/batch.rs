//! What one batch transaction calls, and what its receipt says about each item.
//!
//! Every item of every route is an x402 `exact` authorization, a token `transferWithAuthorization`; the route says
//! what happens around the transfer and which contract runs it:
//!
//! | route | call | per item | closing event |
//! | --- | --- | --- | --- |
//! | settle | `BatchSettler.settle(token, payments)` | `PaymentSettled` / `PaymentFailed` (payer, nonce) | `BatchSettled` |
//! | fund jobs | `Escrow.fundManyWithTransfer(items)` | `JobFunded` / `JobFundFailed` (payer, job id) | `FundBatchSettled` |
//! | pay credits | `Escrow.payMany(token, payments)` | `PaymentCredited` / `PaymentCreditFailed` (payer, nonce) | `PayBatchSettled` |
//! | returns | `Escrow.creditManyTransferred(token, payments)` | `PaymentCredited` / `PaymentCreditFailed` (payer, nonce) | `PayBatchSettled` |
//! | steps | `Escrow.stepMany(steps)` | the step's own event / `StepFailed` (job id) | `StepsApplied` |
//! | claims | `Escrow.claimMany(token, accounts)` | `Claimed` / `ClaimFailed` (account) | none |
//! | deposits | `BalanceVault.depositManyWithTransfer(token, items)` | `Deposited` / `DepositFailed` (agent, nonce) | `DepositBatchSettled` |
//! | bookings | `BalanceVault.depositManyTransferred(token, items)` | `Deposited` / `DepositFailed` (agent, nonce) | `DepositBatchSettled` |
//! | debits | `BalanceVault.debitMany(token, debits)` | `Debited` / `DebitFailed` (payer, debit id) | `DebitBatchSettled` |
//! | vault claims | `BalanceVault.claimMany(token, accounts)` | `Claimed` / `ClaimFailed` (account) | none |
//! | charges | `Subscriptions.chargeMany(ids)` | `SubscriptionCharged` / `SubscriptionPastDue` / `SubscriptionExpired` / `ChargeFailed` (id) | `ChargeBatchSettled` |
//! | operations | `Subscriptions.operateMany(ops)` | `Operated` / `OperationFailed` (id) | `OperationBatchSettled` |
//!
//! A booking credits a deposit, and a return a purchase's payer, whose authorization someone else submitted straight
//! to the token (front-run); neither carries a signature, only what the authorization named. Steps, claims, debits, charges and operations carry no
//! authorization: their items are the operator's actions on
//! jobs, balances and subscriptions. A charge that leaves the subscription past due or expired is applied (its state
//! was written); only `ChargeFailed` fails it.
//!
//! A receipt is decoded strictly: each item's event must name the item sent at its position, and the closing event
//! must count them all, or decoding fails rather than guess which item an event belongs to.

use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    rpc::types::{Log, TransactionReceipt},
    sol_types::{SolCall, SolEvent, SolValue},
};

use crate::{
    Error, Result,
    contracts::{BalanceVault, BatchSettler, Escrow, Subscriptions},
    reason,
};

/// One payment as `BatchSettler.settle` takes it.
pub type SettlePayment = BatchSettler::Payment;

/// One job as `Escrow.fundManyWithTransfer` takes it.
pub type TransferFunding = Escrow::TransferFunding;

/// One data_api purchase as `Escrow.payMany` takes it.
pub type DirectPayment = Escrow::DirectPayment;

/// An escrow job's terms as the contract hashes them.
pub type JobTerms = Escrow::JobTerms;

/// One job lifecycle step as `Escrow.stepMany` takes it.
pub type Step = Escrow::Step;

/// What a [`Step`] does.
pub type StepKind = Escrow::StepKind;

/// One x402 deposit as `BalanceVault.depositManyWithTransfer` takes it.
pub type TransferDeposit = BalanceVault::TransferDeposit;

/// One front-run deposit as `BalanceVault.depositManyTransferred` books it.
pub type TransferredDeposit = BalanceVault::TransferredDeposit;

/// One balance debit as `BalanceVault.debitMany` takes it.
pub type Debit = BalanceVault::Debit;

/// One operation of `Subscriptions.operateMany`: an open (with period 0's charge), cancel, pause or resume.
pub type SubscriptionOperation = Subscriptions::Operation;

/// A subscription's terms as the contract hashes them.
pub type SubscriptionTerms = Subscriptions::SubscriptionTerms;

/// What one batch transaction calls: one route's entry with its items, all in one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchCall {
    /// `BatchSettler.settle(token, payments)`: each authorization pays its `to`.
    Settle {
        /// The token of every payment.
        token: Address,
        /// The payments, in order.
        payments: Vec<SettlePayment>,
    },
    /// `Escrow.fundManyWithTransfer(items)`: each authorization pays the escrow and books its job.
    FundJobs {
        /// The token of every job (`terms.token`).
        token: Address,
        /// The jobs, in order.
        items: Vec<TransferFunding>,
    },
    /// `Escrow.payMany(token, payments)`: each authorization pays the escrow and is credited at once.
    PayCredits {
        /// The token of every payment.
        token: Address,
        /// The payments, in order.
        payments: Vec<DirectPayment>,
    },
    /// `Escrow.creditManyTransferred(token, payments)`: front-run purchases' money credited from the escrow's surplus
    /// (to their own payers, as Clearing sends them).
    Returns {
        /// The token of every payment.
        token: Address,
        /// The payments, in order.
        payments: Vec<DirectPayment>,
    },
    /// `Escrow.stepMany(steps)`: lifecycle steps of jobs in `token`.
    Steps {
        /// The token of every step's job (a lane of the batcher; the call itself does not name it).
        token: Address,
        /// The steps, in order.
        steps: Vec<Step>,
    },
    /// `Escrow.claimMany(token, accounts)`: each account's claimable balance paid to itself.
    Claims {
        /// The token claimed.
        token: Address,
        /// The accounts, in order.
        accounts: Vec<Address>,
    },
    /// `BalanceVault.depositManyWithTransfer(token, items)`: each authorization pays the vault and is credited to
    /// its payer's balance.
    Deposits {
        /// The token of every deposit.
        token: Address,
        /// The deposits, in order.
        items: Vec<TransferDeposit>,
    },
    /// `BalanceVault.depositManyTransferred(token, items)`: front-run deposits, each booked to its payer from the
    /// vault's surplus.
    Bookings {
        /// The token of every deposit.
        token: Address,
        /// The deposits, in order.
        items: Vec<TransferredDeposit>,
    },
    /// `BalanceVault.debitMany(token, debits)`: the debits the market accepted, each applied once.
    Debits {
        /// The token of every debit.
        token: Address,
        /// The debits, in order.
        debits: Vec<Debit>,
    },
    /// `BalanceVault.claimMany(token, accounts)`: each account's claimable vault balance paid to itself.
    VaultClaims {
        /// The token claimed.
        token: Address,
        /// The accounts, in order.
        accounts: Vec<Address>,
    },
    /// `Subscriptions.chargeMany(ids)`: each subscription's next period charged from its subscriber's balance.
    Charges {
        /// The token of every subscription (a lane of the batcher; the call itself does not name it).
        token: Address,
        /// The subscription ids, in order.
        ids: Vec<B256>,
    },
    /// `Subscriptions.operateMany(ops)`: the operator's opens, cancels, pauses and resumes.
    Operations {
        /// The token of every subscription (a lane of the batcher).
        token: Address,
        /// The operations, in order.
        ops: Vec<SubscriptionOperation>,
    },
}

impl BatchCall {
    /// Whether the balance vault (rather than the settler or the escrow) carries it.
    pub const fn is_vault(&self) -> bool {
        matches!(self, Self::Deposits { .. } | Self::Bookings { .. } | Self::Debits { .. } | Self::VaultClaims { .. })
    }

    /// Whether the subscription contract carries it.
    pub const fn is_subscriptions(&self) -> bool {
        matches!(self, Self::Charges { .. } | Self::Operations { .. })
    }
}

/// What one item of a mined batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// The item's success event: the token moved the value (and the escrow booked or credited it).
    Settled,
    /// The item's failure event: nothing of it happened.
    Failed {
        /// The x402 reason code ([`reason::from_revert`]).
        reason: clearing_x402::Reason,
        /// The revert data, as logged.
        revert: Bytes,
    },
}

/// A mined batch transaction, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// The whole transaction reverted: no item moved and no nonce was used at the token.
    Reverted,
    /// Each item's outcome, in item order.
    Items(Vec<ItemOutcome>),
}

/// Where a transaction was mined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinedTx {
    /// The transaction.
    pub tx_hash: B256,
    /// Its block.
    pub block_number: u64,
    /// Its block's hash.
    pub block_hash: B256,
}

/// The id of an escrow job: `keccak256(abi.encode(chainid, escrow, terms))`, as `Escrow.jobIdOf` computes it.
pub fn job_id(chain_id: u64, escrow: Address, terms: &JobTerms) -> B256 {
    keccak256((U256::from(chain_id), escrow, terms.clone()).abi_encode_params())
}

/// The id of a subscription: `keccak256(abi.encode(chainid, subscriptions, terms))`, as
/// `Subscriptions.subscriptionIdOf` computes it.
pub fn subscription_id(chain_id: u64, subscriptions: Address, terms: &SubscriptionTerms) -> B256 {
    keccak256((U256::from(chain_id), subscriptions, terms.clone()).abi_encode_params())
}

impl BatchCall {
    /// The token of every item.
    pub const fn token(&self) -> Address {
        match self {
            Self::Settle { token, .. }
            | Self::FundJobs { token, .. }
            | Self::PayCredits { token, .. }
            | Self::Returns { token, .. }
            | Self::Steps { token, .. }
            | Self::Claims { token, .. }
            | Self::Deposits { token, .. }
            | Self::Bookings { token, .. }
            | Self::Debits { token, .. }
            | Self::VaultClaims { token, .. }
            | Self::Charges { token, .. }
            | Self::Operations { token, .. } => *token,
        }
    }

    /// How many items it carries.
    pub fn len(&self) -> usize {
        match self {
            Self::Settle { payments, .. } => payments.len(),
            Self::FundJobs { items, .. } => items.len(),
            Self::PayCredits { payments, .. } | Self::Returns { payments, .. } => payments.len(),
            Self::Steps { steps, .. } => steps.len(),
            Self::Claims { accounts, .. } => accounts.len(),
            Self::Deposits { items, .. } => items.len(),
            Self::Bookings { items, .. } => items.len(),
            Self::Debits { debits, .. } => debits.len(),
            Self::VaultClaims { accounts, .. } => accounts.len(),
            Self::Charges { ids, .. } => ids.len(),
            Self::Operations { ops, .. } => ops.len(),
        }
    }

    /// Whether it carries no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each item's signer whose signature the batch checks on chain, in item order (repeats kept): an
    /// authorization's `from` (the token asks `isValidSignature` of one with code) and a signed step's payer or
    /// arbiter (the escrow does the same). Items without a signature name none.
    pub fn signers(&self) -> Vec<Address> {
        match self {
            Self::Settle { payments, .. } => payments.iter().map(|payment| payment.from).collect(),
            Self::FundJobs { items, .. } => items.iter().map(|item| item.terms.payer).collect(),
            Self::PayCredits { payments, .. } => payments.iter().map(|payment| payment.payer).collect(),
            Self::Deposits { items, .. } => items.iter().map(|item| item.from).collect(),
            Self::Steps { steps, .. } => steps
                .iter()
                // `Escrow.StepKind`'s order: Complete, Release, ReleaseWithSig, DisputeWithSig, Refund,
                // ResolveWithSig.
                .filter_map(|step| match step.kind {
                    2 | 3 => Some(step.terms.payer),
                    5 => Some(step.terms.arbiter),
                    _ => None,
                })
                .collect(),
            Self::Returns { .. }
            | Self::Claims { .. }
            | Self::Bookings { .. }
            | Self::Debits { .. }
            | Self::VaultClaims { .. }
            | Self::Charges { .. }
            | Self::Operations { .. } => Vec::new(),
        }
    }

    /// The ABI-encoded call.
    pub fn calldata(&self) -> Bytes {
        match self {
            Self::Settle { token, payments } => {
                BatchSettler::settleCall { token: *token, payments: payments.clone() }.abi_encode().into()
            }
            Self::FundJobs { items, .. } => {
                Escrow::fundManyWithTransferCall { items: items.clone() }.abi_encode().into()
            }
            Self::PayCredits { token, payments } => {
                Escrow::payManyCall { token: *token, payments: payments.clone() }.abi_encode().into()
            }
            Self::Returns { token, payments } => {
                Escrow::creditManyTransferredCall { token: *token, payments: payments.clone() }.abi_encode().into()
            }
            Self::Steps { steps, .. } => Escrow::stepManyCall { steps: steps.clone() }.abi_encode().into(),
            Self::Claims { token, accounts } => {
                Escrow::claimManyCall { token: *token, accounts: accounts.clone() }.abi_encode().into()
            }
            Self::Deposits { token, items } => {
                BalanceVault::depositManyWithTransferCall { token: *token, items: items.clone() }.abi_encode().into()
            }
            Self::Bookings { token, items } => {
                BalanceVault::depositManyTransferredCall { token: *token, items: items.clone() }.abi_encode().into()
            }
            Self::Debits { token, debits } => {
                BalanceVault::debitManyCall { token: *token, debits: debits.clone() }.abi_encode().into()
            }
            Self::VaultClaims { token, accounts } => {
                BalanceVault::claimManyCall { token: *token, accounts: accounts.clone() }.abi_encode().into()
            }
            Self::Charges { ids, .. } => Subscriptions::chargeManyCall { ids: ids.clone() }.abi_encode().into(),
            Self::Operations { ops, .. } => Subscriptions::operateManyCall { ops: ops.clone() }.abi_encode().into(),
        }
    }

    /// Each item's (payer, id) as its event names it: the authorization nonce, or the job id for a funding; a
    /// step is (zero, job id) and a claim (account, zero), since their events name only those.
    pub fn item_keys(&self, chain_id: u64, escrow: Address) -> Vec<(Address, B256)> {
        match self {
            Self::Settle { payments, .. } => payments.iter().map(|p| (p.from, p.nonce)).collect(),
            Self::FundJobs { items, .. } => {
                items.iter().map(|item| (item.terms.payer, job_id(chain_id, escrow, &item.terms))).collect()
            }
            Self::PayCredits { payments, .. } | Self::Returns { payments, .. } => {
                payments.iter().map(|p| (p.payer, p.nonce)).collect()
            }
            Self::Steps { steps, .. } => {
                steps.iter().map(|step| (Address::ZERO, job_id(chain_id, escrow, &step.terms))).collect()
            }
            Self::Claims { accounts, .. } => accounts.iter().map(|account| (*account, B256::ZERO)).collect(),
            Self::Deposits { items, .. } => items.iter().map(|item| (item.from, item.nonce)).collect(),
            Self::Bookings { items, .. } => items.iter().map(|item| (item.from, item.nonce)).collect(),
            Self::Debits { debits, .. } => debits.iter().map(|debit| (debit.payer, debit.id)).collect(),
            Self::VaultClaims { accounts, .. } => accounts.iter().map(|account| (*account, B256::ZERO)).collect(),
            Self::Charges { ids, .. } => ids.iter().map(|id| (Address::ZERO, *id)).collect(),
            Self::Operations { ops, .. } => ops.iter().map(|op| (Address::ZERO, op.id)).collect(),
        }
    }
}

/// Decodes a mined batch receipt into per-item outcomes. `contract` is the contract the call went to (the
/// settler, or the escrow) and `items` the (payer, id) of each item in the order sent ([`BatchCall::item_keys`]).
pub fn decode_receipt(
    receipt: &TransactionReceipt,
    call: &BatchCall,
    contract: Address,
    items: &[(Address, B256)],
) -> Result<(MinedTx, BatchOutcome)> {
    let tx = receipt.transaction_hash;
    let (Some(block_number), Some(block_hash)) = (receipt.block_number, receipt.block_hash) else {
        return Err(Error::MalformedReceipt { tx, what: "no block number or hash" });
    };
    let mined = MinedTx { tx_hash: tx, block_number, block_hash };
    if !receipt.status() {
        return Ok((mined, BatchOutcome::Reverted));
    }
    let token = call.token();
    let logs = receipt.inner.logs().iter().filter(|log| log.address() == contract);
    let mut outcomes = Vec::with_capacity(items.len());
    let mut closed: Option<(Option<Address>, U256)> = None;
    for log in logs {
        let Some(item) = decode_item(call, log, tx, &mut closed)? else { continue };
        let (payer, id, outcome) = item;
        let index = outcomes.len();
        let Some(&(expected_payer, expected_id)) = items.get(index) else {
            return Err(Error::ItemCountMismatch { tx, expected: items.len(), got: index + 1 });
        };
        if (payer, id) != (expected_payer, expected_id) {
            let (expected, got) = (Box::new((expected_payer, expected_id)), Box::new((payer, id)));
            return Err(Error::ItemMismatch { tx, index, expected, got });
        }
        outcomes.push(outcome);
    }
    // claimMany has no closing event: its count is the items decoded.
    let closed = closed.or_else(|| {
        matches!(call, BatchCall::Claims { .. } | BatchCall::VaultClaims { .. })
            .then(|| (None, U256::from(outcomes.len())))
    });
    let Some((closed_token, count)) = closed else {
        return Err(Error::MalformedReceipt { tx, what: "no closing batch event" });
    };
    if let Some(closed_token) = closed_token
        && closed_token != token
    {
        return Err(Error::TokenMismatch { tx, expected: token, got: closed_token });
    }
    if outcomes.len() != items.len() || count != U256::from(items.len()) {
        return Err(Error::ItemCountMismatch { tx, expected: items.len(), got: outcomes.len() });
    }
    Ok((mined, BatchOutcome::Items(outcomes)))
}

/// One item's (payer, id, outcome) from `log`, or `None` for a log that is no item's; a closing event is stored in
/// `closed` as (its token, if it names one; its item count).
fn decode_item(
    call: &BatchCall,
    log: &Log,
    tx: B256,
    closed: &mut Option<(Option<Address>, U256)>,
) -> Result<Option<(Address, B256, ItemOutcome)>> {
    let malformed = |what: &'static str| Error::MalformedReceipt { tx, what };
    let data = &log.inner.data;
    let failed = |revert: Bytes| ItemOutcome::Failed { reason: reason::from_revert(&revert), revert };
    let Some(&topic) = log.topic0() else { return Ok(None) };
    let item = match call {
        BatchCall::Settle { .. } => match topic {
            BatchSettler::PaymentSettled::SIGNATURE_HASH => {
                let e = BatchSettler::PaymentSettled::decode_log_data(data)
                    .map_err(|_| malformed("undecodable PaymentSettled"))?;
                (e.payer, e.nonce, ItemOutcome::Settled)
            }
            BatchSettler::PaymentFailed::SIGNATURE_HASH => {
                let e = BatchSettler::PaymentFailed::decode_log_data(data)
                    .map_err(|_| malformed("undecodable PaymentFailed"))?;
                (e.payer, e.nonce, failed(e.reason))
            }
            BatchSettler::BatchSettled::SIGNATURE_HASH => {
                let e = BatchSettler::BatchSettled::decode_log_data(data)
                    .map_err(|_| malformed("undecodable BatchSettled"))?;
                *closed = Some((Some(e.token), e.payments));
                return Ok(None);
            }
            _ => return Ok(None),
        },
        BatchCall::FundJobs { .. } => match topic {
            Escrow::JobFunded::SIGNATURE_HASH => {
                let e = Escrow::JobFunded::decode_log_data(data).map_err(|_| malformed("undecodable JobFunded"))?;
                (e.payer, e.jobId, ItemOutcome::Settled)
            }
            Escrow::JobFundFailed::SIGNATURE_HASH => {
                let e =
                    Escrow::JobFundFailed::decode_log_data(data).map_err(|_| malformed("undecodable JobFundFailed"))?;
                (e.payer, e.jobId, failed(e.reason))
            }
            Escrow::FundBatchSettled::SIGNATURE_HASH => {
                let e = Escrow::FundBatchSettled::decode_log_data(data)
                    .map_err(|_| malformed("undecodable FundBatchSettled"))?;
                *closed = Some((None, e.items));
                return Ok(None);
            }
            _ => return Ok(None),
        },
        BatchCall::PayCredits { .. } | BatchCall::Returns { .. } => match topic {
            Escrow::PaymentCredited::SIGNATURE_HASH => {
                let e = Escrow::PaymentCredited::decode_log_data(data)
                    .map_err(|_| malformed("undecodable PaymentCredited"))?;
                (e.payer, e.nonce, ItemOutcome::Settled)
            }
            Escrow::PaymentCreditFailed::SIGNATURE_HASH => {
                let e = Escrow::PaymentCreditFailed::decode_log_data(data)
                    .map_err(|_| malformed("undecodable PaymentCreditFailed"))?;
                (e.payer, e.nonce, failed(e.reason))
            }
            Escrow::PayBatchSettled::SIGNATURE_HASH => {
                let e = Escrow::PayBatchSettled::decode_log_data(data)
                    .map_err(|_| malformed("undecodable PayBatchSettled"))?;
                *closed = Some((Some(e.token), e.payments));
                return Ok(None);
            }
            _ => return Ok(None),
        },
        BatchCall::Steps { .. } => match topic {
            Escrow::JobCompleted::SIGNATURE_HASH => {
                let e =
                    Escrow::JobCompleted::decode_log_data(data).map_err(|_| malformed("undecodable JobCompleted"))?;
                (Address::ZERO, e.jobId, ItemOutcome::Settled)
            }
            Escrow::JobReleased::SIGNATURE_HASH => {
                let e = Escrow::JobReleased::decode_log_data(data).map_err(|_| malformed("undecodable JobReleased"))?;
                (Address::ZERO, e.jobId, ItemOutcome::Settled)
            }
            Escrow::JobDisputed::SIGNATURE_HASH => {
                let e = Escrow::JobDisputed::decode_log_data(data).map_err(|_| malformed("undecodable JobDisputed"))?;
                (Address::ZERO, e.jobId, ItemOutcome::Settled)
            }
            Escrow::JobRefunded::SIGNATURE_HASH => {
                let e = Escrow::JobRefunded::decode_log_data(data).map_err(|_| malformed("undecodable JobRefunded"))?;
                (Address::ZERO, e.jobId, ItemOutcome::Settled)
            }
            // An arbiter's resolution (ResolveWithSig): without it, a batch holding one could not be matched to its
            // items and stayed in flight, every step in it with it.
            Escrow::JobResolved::SIGNATURE_HASH => {
                let e = Escrow::JobResolved::decode_log_data(data).map_err(|_| malformed("undecodable JobResolved"))?;
                (Address::ZERO, e.jobId, ItemOutcome::Settled)
            }
            Escrow::StepFailed::SIGNATURE_HASH => {
                let e = Escrow::StepFailed::decode_log_data(data).map_err(|_| malformed("undecodable StepFailed"))?;
                (Address::ZERO, e.jobId, failed(e.reason))
            }
            Escrow::StepsApplied::SIGNATURE_HASH => {
                let e =
                    Escrow::StepsApplied::decode_log_data(data).map_err(|_| malformed("undecodable StepsApplied"))?;
                *closed = Some((None, e.steps));
                return Ok(None);
            }
            _ => return Ok(None),
        },
        BatchCall::Claims { .. } => match topic {
            Escrow::Claimed::SIGNATURE_HASH => {
                let e = Escrow::Claimed::decode_log_data(data).map_err(|_| malformed("undecodable Claimed"))?;
                (e.account, B256::ZERO, ItemOutcome::Settled)
            }
            Escrow::ClaimFailed::SIGNATURE_HASH => {
                let e = Escrow::ClaimFailed::decode_log_data(data).map_err(|_| malformed("undecodable ClaimFailed"))?;
                (e.account, B256::ZERO, failed(e.reason))
            }
            _ => return Ok(None),
        },
        BatchCall::Deposits { .. } | BatchCall::Bookings { .. } => match topic {
            BalanceVault::Deposited::SIGNATURE_HASH => {
                let e =
                    BalanceVault::Deposited::decode_log_data(data).map_err(|_| malformed("undecodable Deposited"))?;
                (e.account, e.nonce, ItemOutcome::Settled)
            }
            BalanceVault::DepositFailed::SIGNATURE_HASH => {
                let e = BalanceVault::DepositFailed::decode_log_data(data)
                    .map_err(|_| malformed("undecodable DepositFailed"))?;
                (e.from, e.nonce, failed(e.reason))
            }
            BalanceVault::DepositBatchSettled::SIGNATURE_HASH => {
                let e = BalanceVault::DepositBatchSettled::decode_log_data(data)
                    .map_err(|_| malformed("undecodable DepositBatchSettled"))?;
                *closed = Some((Some(e.token), e.items));
                return Ok(None);
            }
            _ => return Ok(None),
        },
        BatchCall::Debits { .. } => match topic {
            BalanceVault::Debited::SIGNATURE_HASH => {
                let e = BalanceVault::Debited::decode_log_data(data).map_err(|_| malformed("undecodable Debited"))?;
                (e.payer, e.id, ItemOutcome::Settled)
            }
            BalanceVault::DebitFailed::SIGNATURE_HASH => {
                let e = BalanceVault::DebitFailed::decode_log_data(data)
                    .map_err(|_| malformed("undecodable DebitFailed"))?;
                (e.payer, e.id, failed(e.reason))
            }
            BalanceVault::DebitBatchSettled::SIGNATURE_HASH => {
                let e = BalanceVault::DebitBatchSettled::decode_log_data(data)
                    .map_err(|_| malformed("undecodable DebitBatchSettled"))?;
                *closed = Some((Some(e.token), e.items));
                return Ok(None);
            }
            _ => return Ok(None),
        },
        BatchCall::VaultClaims { .. } => match topic {
            BalanceVault::Claimed::SIGNATURE_HASH => {
                let e = BalanceVault::Claimed::decode_log_data(data).map_err(|_| malformed("undecodable Claimed"))?;
                (e.account, B256::ZERO, ItemOutcome::Settled)
            }
            BalanceVault::ClaimFailed::SIGNATURE_HASH => {
                let e = BalanceVault::ClaimFailed::decode_log_data(data)
                    .map_err(|_| malformed("undecodable ClaimFailed"))?;
                (e.account, B256::ZERO, failed(e.reason))
            }
            _ => return Ok(None),
        },
        BatchCall::Charges { .. } => match topic {
            Subscriptions::SubscriptionCharged::SIGNATURE_HASH => {
                let e = Subscriptions::SubscriptionCharged::decode_log_data(data)
                    .map_err(|_| malformed("undecodable SubscriptionCharged"))?;
                (Address::ZERO, e.id, ItemOutcome::Settled)
            }
            Subscriptions::SubscriptionPastDue::SIGNATURE_HASH => {
                let e = Subscriptions::SubscriptionPastDue::decode_log_data(data)
                    .map_err(|_| malformed("undecodable SubscriptionPastDue"))?;
                (Address::ZERO, e.id, ItemOutcome::Settled)
            }
            Subscriptions::SubscriptionExpired::SIGNATURE_HASH => {
                let e = Subscriptions::SubscriptionExpired::decode_log_data(data)
                    .map_err(|_| malformed("undecodable SubscriptionExpired"))?;
                (Address::ZERO, e.id, ItemOutcome::Settled)
            }
            Subscriptions::ChargeFailed::SIGNATURE_HASH => {
                let e = Subscriptions::ChargeFailed::decode_log_data(data)
                    .map_err(|_| malformed("undecodable ChargeFailed"))?;
                (Address::ZERO, e.id, failed(e.reason))
            }
            Subscriptions::ChargeBatchSettled::SIGNATURE_HASH => {
                let e = Subscriptions::ChargeBatchSettled::decode_log_data(data)
                    .map_err(|_| malformed("undecodable ChargeBatchSettled"))?;
                *closed = Some((None, e.items));
                return Ok(None);
            }
            _ => return Ok(None),
        },
        BatchCall::Operations { .. } => match topic {
            Subscriptions::Operated::SIGNATURE_HASH => {
                let e =
                    Subscriptions::Operated::decode_log_data(data).map_err(|_| malformed("undecodable Operated"))?;
                (Address::ZERO, e.id, ItemOutcome::Settled)
            }
            Subscriptions::OperationFailed::SIGNATURE_HASH => {
                let e = Subscriptions::OperationFailed::decode_log_data(data)
                    .map_err(|_| malformed("undecodable OperationFailed"))?;
                (Address::ZERO, e.id, failed(e.reason))
            }
            Subscriptions::OperationBatchSettled::SIGNATURE_HASH => {
                let e = Subscriptions::OperationBatchSettled::decode_log_data(data)
                    .map_err(|_| malformed("undecodable OperationBatchSettled"))?;
                *closed = Some((None, e.items));
                return Ok(None);
            }
            _ => return Ok(None),
        },
    };
    Ok(Some(item))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(payer: u8, arbiter: u8) -> JobTerms {
        JobTerms {
            payer: Address::repeat_byte(payer),
            provider: Address::repeat_byte(0xee),
            arbiter: Address::repeat_byte(arbiter),
            ..Default::default()
        }
    }

    #[test]
    fn signers_are_the_authorizations_and_signed_steps_in_item_order() {
        let token = Address::repeat_byte(0x70);
        let (a, b) = (Address::repeat_byte(0xa1), Address::repeat_byte(0xb2));
        let payments = [a, b, a].map(|from| SettlePayment { from, ..Default::default() }).to_vec();
        assert_eq!(BatchCall::Settle { token, payments }.signers(), [a, b, a]);

        let items = vec![TransferFunding { terms: terms(0xa1, 0), ..Default::default() }];
        assert_eq!(BatchCall::FundJobs { token, items }.signers(), [a]);
        let payments = vec![DirectPayment { payer: b, ..Default::default() }];
        assert_eq!(BatchCall::PayCredits { token, payments: payments.clone() }.signers(), [b]);
        let items = vec![TransferDeposit { from: a, ..Default::default() }];
        assert_eq!(BatchCall::Deposits { token, items }.signers(), [a]);

        // Complete, Release, ReleaseWithSig, DisputeWithSig, Refund, ResolveWithSig.
        let steps = (0..6).map(|kind| Step { kind, terms: terms(0xa1, 0xb2), ..Default::default() }).collect();
        assert_eq!(BatchCall::Steps { token, steps }.signers(), [a, a, b]);

        // Nothing signed: credits from the escrow's surplus, claims, bookings, debits, charges, operations.
        assert!(BatchCall::Returns { token, payments }.signers().is_empty());
        assert!(BatchCall::Claims { token, accounts: vec![a] }.signers().is_empty());
        assert!(BatchCall::Debits { token, debits: vec![Debit::default()] }.signers().is_empty());
    }
}
