//! A provider's earnings in the escrow, from the indexer's projections at confirmation depth only: what the chain
//! holds for it (funded jobs not yet paid out), what it may claim (credited, not claimed) and what it claimed.

use alloy::primitives::{Address, B256, U256};
use sqlx::Row as _;

use crate::{Ledger, Result, decode::Fields, encode::int, index::MAIN_INDEXER};

/// One change of a claimable balance: a credit (a release, a resolution's share, a direct credit) or a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceEntry {
    /// `credit` or `claim`.
    pub kind: &'static str,
    /// Atomic units, always positive.
    pub amount: U256,
    /// The job credited from, for a job's payout.
    pub job_id: Option<B256>,
    /// Where a claim was paid.
    pub claimed_to: Option<Address>,
    /// The transaction.
    pub tx_hash: B256,
    /// Its block.
    pub block_number: u64,
}

/// What the escrow holds, owes and paid an account in one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earnings {
    /// Funded jobs of the account as provider, not yet paid out: their amounts less fees.
    pub held: U256,
    /// Credited and not yet claimed: the account's claimable balance.
    pub pending: U256,
    /// Claimed, all time.
    pub settled: U256,
    /// The newest balance changes, newest first.
    pub recent: Vec<BalanceEntry>,
}

impl Ledger {
    /// `account`'s earnings in `token` on `escrow`, counting only what the indexer confirmed.
    pub async fn earnings(
        &self,
        chain_id: u64,
        escrow: Address,
        token: Address,
        account: Address,
        recent: u32,
    ) -> Result<Earnings> {
        let confirmed: i64 = sqlx::query_scalar(
            "SELECT coalesce(confirmed_block, -1) FROM indexer_checkpoints WHERE chain_id = $1 AND indexer = $2",
        )
        .bind(int(chain_id))
        .bind(MAIN_INDEXER)
        .fetch_optional(&self.pool)
        .await?
        .unwrap_or(-1);
        let row = sqlx::query(ESCROW_EARNINGS_SQL)
            .bind(int(chain_id))
            .bind(escrow.as_slice())
            .bind(token.as_slice())
            .bind(account.as_slice())
            .bind(confirmed)
            .fetch_one(&self.pool)
            .await?;
        let f = Fields::of("earnings", &row);
        let (held, pending, settled) = (f.number("held")?, f.number("pending")?, f.number("settled")?);
        let rows = sqlx::query(
            "SELECT c.delta::text AS delta, c.job_id, c.claimed_to, l.tx_hash, c.block_number
             FROM escrow_balance_changes c
             JOIN chain_logs l ON l.chain_id = c.chain_id AND l.block_number = c.block_number
                              AND l.log_index = c.log_index
             WHERE c.chain_id = $1 AND c.escrow = $2 AND c.token = $3 AND c.account = $4 AND c.block_number <= $5
             ORDER BY c.block_number DESC, c.log_index DESC, c.part DESC LIMIT $6",
        )
        .bind(int(chain_id))
        .bind(escrow.as_slice())
        .bind(token.as_slice())
        .bind(account.as_slice())
        .bind(confirmed)
        .bind(i64::from(recent))
        .fetch_all(&self.pool)
        .await?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            let f = Fields::of("escrow_balance_changes", row);
            let delta: String = row.try_get("delta")?;
            let claimed_to = f.get::<Option<Vec<u8>>>("claimed_to")?;
            let (kind, magnitude) = match delta.strip_prefix('-') {
                Some(magnitude) => ("claim", magnitude.to_owned()),
                None => ("credit", delta.clone()),
            };
            entries.push(BalanceEntry {
                kind,
                amount: crate::decode::number("escrow_balance_changes", "delta", &magnitude)?,
                job_id: f.opt_b256("job_id")?,
                claimed_to: claimed_to.map(|_| f.address("claimed_to")).transpose()?,
                tx_hash: f.b256("tx_hash")?,
                block_number: f.u64("block_number")?,
            });
        }
        Ok(Earnings { held, pending, settled, recent: entries })
    }
}

/// What an account earned in the balance vault: from balance purchases (debits) and subscription charges, as the
/// vault credited them (confirmed), and what the market accepted and the vault has not applied yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VaultEarnings {
    /// Balance purchases applied on chain: their amounts less fees, all time.
    pub from_purchases: U256,
    /// Subscription charges: their prices less fees, all time.
    pub from_subscriptions: U256,
    /// Claimed out of the vault, all time.
    pub claimed: U256,
    /// Claimable now: purchases + subscriptions - claimed.
    pub claimable: U256,
    /// Balance purchases the market accepted that the vault has not applied yet (less fees), not counting held ones.
    pub accepted: U256,
    /// Balance-paid jobs whose money is held until the provider delivers (less fees): paid once delivered, given
    /// back to the agent if the provider fails or the hold's deadline passes.
    pub held: U256,
}

impl Ledger {
    /// `account`'s earnings in `token` in `vault`, confirmed by the indexer, and what is accepted and on its way.
    pub async fn vault_earnings(
        &self,
        chain_id: u64,
        vault: Address,
        token: Address,
        account: Address,
    ) -> Result<VaultEarnings> {
        let row = sqlx::query(VAULT_EARNINGS_SQL)
            .bind(int(chain_id))
            .bind(vault.as_slice())
            .bind(token.as_slice())
            .bind(account.as_slice())
            .bind(MAIN_INDEXER)
            .fetch_one(&self.pool)
            .await?;
        let f = Fields::of("vault_events", &row);
        let (from_purchases, from_subscriptions, claimed): (U256, U256, U256) =
            (f.number("purchases")?, f.number("subscriptions")?, f.number("claimed")?);
        Ok(VaultEarnings {
            from_purchases,
            from_subscriptions,
            claimed,
            claimable: from_purchases.saturating_add(from_subscriptions).saturating_sub(claimed),
            accepted: f.number("accepted")?,
            held: f.number("held")?,
        })
    }
}

/// [`Ledger::vault_earnings`]' query: `$1` to `$3` the vault's chain, address and token, `$4` the provider, `$5` the
/// indexer. It reads the provider's own events and claims (`vault_events_provider`, `vault_events_claims`) and the
/// debits in flight to it (`escrow_actions_open_credits`, by the provider word of their terms), never every event or
/// debit of the vault. What it was paid is summed from its events: as many rows as its sales.
pub(crate) const VAULT_EARNINGS_SQL: &str = "WITH confirmed AS (
         SELECT coalesce(max(confirmed_block), -1) AS height FROM indexer_checkpoints
         WHERE chain_id = $1 AND indexer = $5),
     events AS (
         SELECT e.kind, e.amount, e.fee FROM vault_events e, confirmed c
         WHERE e.chain_id = $1 AND e.vault = $2 AND e.token = $3 AND e.provider = $4 AND e.block_number <= c.height
         UNION ALL
         SELECT e.kind, e.amount, e.fee FROM vault_events e, confirmed c
         WHERE e.chain_id = $1 AND e.vault = $2 AND e.token = $3 AND e.account = $4 AND e.kind = 'claimed'
           AND e.provider IS DISTINCT FROM $4 AND e.block_number <= c.height),
     open AS (
         SELECT d.amount - d.fee AS net, a.held_until IS NOT NULL AS held
         FROM escrow_actions a, LATERAL (
             SELECT d.amount, d.fee FROM balance_debits d WHERE d.action_id = a.id AND d.provider = $4 LIMIT 1) d
         WHERE a.chain_id = $1 AND a.escrow = $2 AND a.asset = $3 AND substring(a.terms FROM 77 FOR 20) = $4
           AND a.kind = 'vault_debit' AND a.status IN ('pending', 'submitted'))
     SELECT
         (SELECT coalesce(sum(amount - fee), 0)::text FROM events WHERE kind = 'debited') AS purchases,
         (SELECT coalesce(sum(amount - fee), 0)::text FROM events WHERE kind = 'charged') AS subscriptions,
         (SELECT coalesce(sum(amount), 0)::text FROM events WHERE kind = 'claimed') AS claimed,
         (SELECT coalesce(sum(net), 0)::text FROM open WHERE NOT held) AS accepted,
         (SELECT coalesce(sum(net), 0)::text FROM open WHERE held) AS held";

/// [`Ledger::earnings`]' sums: `$1` to `$3` the escrow's chain, address and token, `$4` the account, `$5` the confirmed
/// height. `held` reads the provider's own jobs (`escrow_jobs_provider`), not every job of the escrow; `pending` and
/// `settled` sum the account's balance changes, as many rows as its credits and claims.
pub(crate) const ESCROW_EARNINGS_SQL: &str = "SELECT
     (SELECT coalesce(sum(j.amount - j.fee), 0)::text FROM escrow_jobs j
      WHERE j.chain_id = $1 AND j.escrow = $2 AND j.token = $3 AND j.provider = $4 AND j.block_number <= $5
        AND (SELECT e.status FROM escrow_job_events e
             WHERE e.chain_id = j.chain_id AND e.escrow = j.escrow AND e.job_id = j.job_id
               AND e.block_number <= $5
             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) IN ('funded', 'completed', 'disputed')
     ) AS held,
     (SELECT coalesce(sum(delta), 0)::text FROM escrow_balance_changes
      WHERE chain_id = $1 AND escrow = $2 AND token = $3 AND account = $4 AND block_number <= $5) AS pending,
     (SELECT coalesce(sum(-delta), 0)::text FROM escrow_balance_changes
      WHERE chain_id = $1 AND escrow = $2 AND token = $3 AND account = $4 AND block_number <= $5
        AND claimed_to IS NOT NULL) AS settled";
