//! The bulk inserts of one batch: one `INSERT ... SELECT FROM unnest(...)` per table, `ON CONFLICT DO NOTHING` so a
//! replayed batch changes nothing.

use alloy::primitives::{B256, U256};
use sqlx::{Postgres, Transaction};

use super::rows::{
    Anchor, BalanceChange, BlockRef, CreditParty, EscrowCredit, EscrowJob, FundFailure, JobEvent, LogPosition,
    PaymentOutcome, RawLog, SettlerPayment, SubscriptionEvent, VaultEvent,
};
use crate::{Result, encode::int};

pub(super) type Tx = Transaction<'static, Postgres>;

pub(super) async fn insert_blocks(tx: &mut Tx, chain_id: u64, blocks: &[BlockRef]) -> Result<()> {
    if blocks.is_empty() {
        return Ok(());
    }
    let numbers: Vec<i64> = blocks.iter().map(|b| int(b.number)).collect();
    let hashes: Vec<&[u8]> = blocks.iter().map(|b| b.hash.as_slice()).collect();
    let parents: Vec<&[u8]> = blocks.iter().map(|b| b.parent_hash.as_slice()).collect();
    let times: Vec<i64> = blocks.iter().map(|b| int(b.timestamp)).collect();
    sqlx::query(
        "INSERT INTO chain_blocks (chain_id, number, hash, parent_hash, timestamp)
         SELECT $1, * FROM unnest($2::bigint[], $3::bytea[], $4::bytea[], $5::bigint[])
         ON CONFLICT (chain_id, number) DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&parents)
    .bind(&times)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn insert_logs(tx: &mut Tx, chain_id: u64, logs: &[RawLog]) -> Result<()> {
    if logs.is_empty() {
        return Ok(());
    }
    let (numbers, hashes, indexes, txs) = positions(logs.iter().map(|l| &l.position));
    let tx_indexes: Vec<i64> = logs.iter().map(|l| int(l.tx_index)).collect();
    let addresses: Vec<&[u8]> = logs.iter().map(|l| l.address.as_slice()).collect();
    let topic =
        |i: usize| -> Vec<Option<&[u8]>> { logs.iter().map(|l| l.topics.get(i).map(|t| t.as_slice())).collect() };
    let data: Vec<&[u8]> = logs.iter().map(|l| l.data.as_ref()).collect();
    sqlx::query(
        "INSERT INTO chain_logs
             (chain_id, block_number, block_hash, log_index, tx_hash, tx_index, address, topics, data)
         SELECT $1, u.n, u.h, u.i, u.tx, u.txi, u.a, array_remove(ARRAY[u.t0, u.t1, u.t2, u.t3], NULL), u.d
         FROM unnest($2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bigint[], $7::bytea[],
                     $8::bytea[], $9::bytea[], $10::bytea[], $11::bytea[], $12::bytea[])
              AS u(n, h, i, tx, txi, a, t0, t1, t2, t3, d)
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&indexes)
    .bind(&txs)
    .bind(&tx_indexes)
    .bind(&addresses)
    .bind(topic(0))
    .bind(topic(1))
    .bind(topic(2))
    .bind(topic(3))
    .bind(&data)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn insert_payments(tx: &mut Tx, chain_id: u64, rows: &[SettlerPayment]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (numbers, hashes, indexes, txs) = positions(rows.iter().map(|r| &r.position));
    let settlers: Vec<&[u8]> = rows.iter().map(|r| r.settler.as_slice()).collect();
    let payers: Vec<&[u8]> = rows.iter().map(|r| r.payer.as_slice()).collect();
    let nonces: Vec<&[u8]> = rows.iter().map(|r| r.nonce.as_slice()).collect();
    let mut settled = Vec::with_capacity(rows.len());
    let mut tokens = Vec::with_capacity(rows.len());
    let mut pay_tos = Vec::with_capacity(rows.len());
    let mut values = Vec::with_capacity(rows.len());
    let mut reasons = Vec::with_capacity(rows.len());
    for row in rows {
        match &row.outcome {
            PaymentOutcome::Settled { token, pay_to, value } => {
                settled.push(true);
                tokens.push(Some(token.as_slice()));
                pay_tos.push(Some(pay_to.as_slice()));
                values.push(Some(value.to_string()));
                reasons.push(None);
            }
            PaymentOutcome::Failed { reason } => {
                settled.push(false);
                tokens.push(None);
                pay_tos.push(None);
                values.push(None);
                reasons.push(Some(reason.as_ref()));
            }
        }
    }
    sqlx::query(
        "INSERT INTO settler_payments (chain_id, block_number, block_hash, log_index, tx_hash, settler, payer, nonce,
                                       settled, token, pay_to, value, failure_reason)
         SELECT $1, u.n, u.h, u.i, u.tx, u.s, u.p, u.nonce, u.ok, u.t, u.payee, u.v::numeric, u.r
         FROM unnest($2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bytea[], $8::bytea[],
                     $9::bool[], $10::bytea[], $11::bytea[], $12::text[], $13::bytea[])
              AS u(n, h, i, tx, s, p, nonce, ok, t, payee, v, r)
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&indexes)
    .bind(&txs)
    .bind(&settlers)
    .bind(&payers)
    .bind(&nonces)
    .bind(&settled)
    .bind(&tokens)
    .bind(&pay_tos)
    .bind(&values)
    .bind(&reasons)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn insert_jobs(tx: &mut Tx, chain_id: u64, rows: &[EscrowJob]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (numbers, hashes, indexes, txs) = positions(rows.iter().map(|r| &r.position));
    let bytes = |f: fn(&EscrowJob) -> &[u8]| -> Vec<&[u8]> { rows.iter().map(f).collect() };
    let text = |f: fn(&EscrowJob) -> String| -> Vec<String> { rows.iter().map(f).collect() };
    sqlx::query(
        "INSERT INTO escrow_jobs (chain_id, block_number, block_hash, log_index, tx_hash, escrow, job_id, payer,
                                  provider, token, amount, fee, arbiter, funding_deadline, completion_deadline,
                                  review_window, salt)
         SELECT $1, u.n, u.h, u.i, u.tx, u.e, u.j, u.p, u.pr, u.t, u.a::numeric, u.f::numeric, u.ar,
                u.fd::numeric, u.cd::numeric, u.rw::numeric, u.s
         FROM unnest($2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bytea[], $8::bytea[],
                     $9::bytea[], $10::bytea[], $11::text[], $12::text[], $13::bytea[], $14::text[], $15::text[],
                     $16::text[], $17::bytea[])
              AS u(n, h, i, tx, e, j, p, pr, t, a, f, ar, fd, cd, rw, s)
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&indexes)
    .bind(&txs)
    .bind(bytes(|r| r.escrow.as_slice()))
    .bind(bytes(|r| r.job_id.0.as_slice()))
    .bind(bytes(|r| r.payer.as_slice()))
    .bind(bytes(|r| r.provider.as_slice()))
    .bind(bytes(|r| r.token.as_slice()))
    .bind(text(|r| r.amount.to_string()))
    .bind(text(|r| r.fee.to_string()))
    .bind(bytes(|r| r.arbiter.as_slice()))
    .bind(text(|r| r.funding_deadline.to_string()))
    .bind(text(|r| r.completion_deadline.to_string()))
    .bind(text(|r| r.review_window.to_string()))
    .bind(bytes(|r| r.salt.as_slice()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn insert_job_events(tx: &mut Tx, chain_id: u64, rows: &[JobEvent]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (numbers, hashes, indexes, txs) = positions(rows.iter().map(|r| &r.position));
    let escrows: Vec<&[u8]> = rows.iter().map(|r| r.escrow.as_slice()).collect();
    let jobs: Vec<&[u8]> = rows.iter().map(|r| r.job_id.0.as_slice()).collect();
    let statuses: Vec<&str> = rows.iter().map(|r| r.status.as_sql()).collect();
    let amount = |f: fn(&JobEvent) -> Option<U256>| -> Vec<Option<String>> {
        rows.iter().map(|r| f(r).map(|v| v.to_string())).collect()
    };
    let bps: Vec<Option<i32>> = rows.iter().map(|r| r.provider_bps.map(i32::from)).collect();
    sqlx::query(
        "INSERT INTO escrow_job_events (chain_id, block_number, block_hash, log_index, tx_hash, escrow, job_id, status,
                                        completed_at, review_ends_at, provider_bps, payer_amount, provider_amount,
                                        fee_amount)
         SELECT $1, u.n, u.h, u.i, u.tx, u.e, u.j, u.s::escrow_status, u.c::numeric, u.r::numeric, u.b,
                u.pa::numeric, u.pr::numeric, u.f::numeric
         FROM unnest($2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bytea[], $8::text[],
                     $9::text[], $10::text[], $11::int[], $12::text[], $13::text[], $14::text[])
              AS u(n, h, i, tx, e, j, s, c, r, b, pa, pr, f)
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&indexes)
    .bind(&txs)
    .bind(&escrows)
    .bind(&jobs)
    .bind(&statuses)
    .bind(amount(|r| r.completed.map(|c| c.0)))
    .bind(amount(|r| r.completed.map(|c| c.1)))
    .bind(&bps)
    .bind(amount(|r| r.payer_amount))
    .bind(amount(|r| r.provider_amount))
    .bind(amount(|r| r.fee_amount))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn insert_fund_failures(tx: &mut Tx, chain_id: u64, rows: &[FundFailure]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (numbers, hashes, indexes, txs) = positions(rows.iter().map(|r| &r.position));
    let escrows: Vec<&[u8]> = rows.iter().map(|r| r.escrow.as_slice()).collect();
    let jobs: Vec<&[u8]> = rows.iter().map(|r| r.job_id.0.as_slice()).collect();
    let payers: Vec<&[u8]> = rows.iter().map(|r| r.payer.as_slice()).collect();
    let reasons: Vec<&[u8]> = rows.iter().map(|r| r.reason.as_ref()).collect();
    sqlx::query(
        "INSERT INTO escrow_fund_failures (chain_id, block_number, block_hash, log_index, tx_hash, escrow, job_id,
                                           payer, reason)
         SELECT $1, * FROM unnest($2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bytea[],
                                  $8::bytea[], $9::bytea[])
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&indexes)
    .bind(&txs)
    .bind(&escrows)
    .bind(&jobs)
    .bind(&payers)
    .bind(&reasons)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn insert_credits(tx: &mut Tx, chain_id: u64, rows: &[EscrowCredit]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (numbers, hashes, indexes, txs) = positions(rows.iter().map(|r| &r.position));
    let escrows: Vec<&[u8]> = rows.iter().map(|r| r.escrow.as_slice()).collect();
    let tokens: Vec<&[u8]> = rows.iter().map(|r| r.token.as_slice()).collect();
    let payers: Vec<&[u8]> = rows.iter().map(|r| r.payer.as_slice()).collect();
    let nonces: Vec<&[u8]> = rows.iter().map(|r| r.nonce.as_slice()).collect();
    let providers: Vec<&[u8]> = rows.iter().map(|r| r.provider.as_slice()).collect();
    let provider_amounts: Vec<String> = rows.iter().map(|r| r.provider_amount.to_string()).collect();
    let fee_amounts: Vec<String> = rows.iter().map(|r| r.fee_amount.to_string()).collect();
    sqlx::query(
        "INSERT INTO escrow_credits (chain_id, block_number, block_hash, log_index, tx_hash, escrow, token, payer,
                                     nonce, provider, provider_amount, fee_amount)
         SELECT $1, n, h, i, t, e, tok, p, nc, pr, pa::numeric, fa::numeric
         FROM unnest($2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bytea[], $8::bytea[],
                     $9::bytea[], $10::bytea[], $11::text[], $12::text[]) AS u(n, h, i, t, e, tok, p, nc, pr, pa, fa)
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&indexes)
    .bind(&txs)
    .bind(&escrows)
    .bind(&tokens)
    .bind(&payers)
    .bind(&nonces)
    .bind(&providers)
    .bind(&provider_amounts)
    .bind(&fee_amounts)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn insert_vault_events(tx: &mut Tx, chain_id: u64, rows: &[VaultEvent]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (numbers, _, indexes, txs) = positions(rows.iter().map(|r| &r.position));
    let vaults: Vec<&[u8]> = rows.iter().map(|r| r.vault.as_slice()).collect();
    let tokens: Vec<&[u8]> = rows.iter().map(|r| r.token.as_slice()).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_sql()).collect();
    let accounts: Vec<&[u8]> = rows.iter().map(|r| r.account.as_slice()).collect();
    let providers: Vec<Option<&[u8]>> = rows.iter().map(|r| r.provider.as_ref().map(|a| a.as_slice())).collect();
    let amounts: Vec<String> = rows.iter().map(|r| r.amount.to_string()).collect();
    let fees: Vec<String> = rows.iter().map(|r| r.fee.to_string()).collect();
    let references: Vec<Option<&[u8]>> = rows.iter().map(|r| r.reference.as_ref().map(B256::as_slice)).collect();
    let unlocks: Vec<Option<i64>> = rows.iter().map(|r| r.unlock_at.map(int)).collect();
    sqlx::query(
        "INSERT INTO vault_events (chain_id, block_number, log_index, tx_hash, vault, token, kind, account, provider,
                                   amount, fee, reference, unlock_at)
         SELECT $1, n, i, t, v, tok, k, a, p, am::numeric, f::numeric, r, u
         FROM unnest($2::bigint[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[], $7::text[], $8::bytea[],
                     $9::bytea[], $10::text[], $11::text[], $12::bytea[], $13::bigint[])
              AS x(n, i, t, v, tok, k, a, p, am, f, r, u)
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&indexes)
    .bind(&txs)
    .bind(&vaults)
    .bind(&tokens)
    .bind(&kinds)
    .bind(&accounts)
    .bind(&providers)
    .bind(&amounts)
    .bind(&fees)
    .bind(&references)
    .bind(&unlocks)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn insert_subscription_events(tx: &mut Tx, chain_id: u64, rows: &[SubscriptionEvent]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (numbers, _, indexes, txs) = positions(rows.iter().map(|r| &r.position));
    let contracts: Vec<&[u8]> = rows.iter().map(|r| r.contract.as_slice()).collect();
    let ids: Vec<&[u8]> = rows.iter().map(|r| r.subscription_id.as_slice()).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_sql()).collect();
    let periods: Vec<Option<i64>> = rows.iter().map(|r| r.period.map(int)).collect();
    let ats: Vec<Option<i64>> = rows.iter().map(|r| r.at.map(int)).collect();
    let actors: Vec<Option<&[u8]>> = rows.iter().map(|r| r.actor.as_ref().map(|a| a.as_slice())).collect();
    sqlx::query(
        "INSERT INTO subscription_events (chain_id, block_number, log_index, tx_hash, contract, subscription_id, kind,
                                          period, at, actor)
         SELECT $1, n, i, t, c, s, k, p, a, w
         FROM unnest($2::bigint[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[], $7::text[], $8::bigint[],
                     $9::bigint[], $10::bytea[])
              AS x(n, i, t, c, s, k, p, a, w)
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&indexes)
    .bind(&txs)
    .bind(&contracts)
    .bind(&ids)
    .bind(&kinds)
    .bind(&periods)
    .bind(&ats)
    .bind(&actors)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Credits name a job and a party: the token and the account come from the job's terms, written earlier in the
/// same transaction or in an earlier one (a job's events all follow its `JobFunded`).
pub(super) async fn insert_balance_changes(tx: &mut Tx, chain_id: u64, rows: &[BalanceChange]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let n = rows.len();
    let (mut numbers, mut indexes, mut parts) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut escrows, mut jobs, mut parties) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut tokens, mut accounts, mut tos) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let mut deltas = Vec::with_capacity(n);
    for row in rows {
        match row {
            BalanceChange::Credit { position, part, escrow, job_id, party, amount } => {
                numbers.push(int(position.block_number));
                indexes.push(int(position.log_index));
                parts.push(i16::from(*part));
                escrows.push(escrow.as_slice());
                jobs.push(Some(job_id.0.as_slice()));
                let (name, account) = match party {
                    CreditParty::Payer => ("payer", None),
                    CreditParty::Provider => ("provider", None),
                    CreditParty::FeeRecipient(fee) => ("fee", Some(fee.as_slice())),
                };
                parties.push(name);
                tokens.push(None);
                accounts.push(account);
                tos.push(None);
                deltas.push(amount.to_string());
            }
            BalanceChange::Direct { position, part, escrow, token, account, amount } => {
                numbers.push(int(position.block_number));
                indexes.push(int(position.log_index));
                parts.push(i16::from(*part));
                escrows.push(escrow.as_slice());
                jobs.push(None);
                parties.push("direct");
                tokens.push(Some(token.as_slice()));
                accounts.push(Some(account.as_slice()));
                tos.push(None);
                deltas.push(amount.to_string());
            }
            BalanceChange::Claim { position, escrow, token, account, to, amount } => {
                numbers.push(int(position.block_number));
                indexes.push(int(position.log_index));
                parts.push(0);
                escrows.push(escrow.as_slice());
                jobs.push(None);
                parties.push("claim");
                tokens.push(Some(token.as_slice()));
                accounts.push(Some(account.as_slice()));
                tos.push(Some(to.as_slice()));
                deltas.push(format!("-{amount}"));
            }
        }
    }
    sqlx::query(
        "INSERT INTO escrow_balance_changes (chain_id, block_number, log_index, part, escrow, token, account, delta,
                                             job_id, claimed_to)
         SELECT $1, u.n, u.i, u.part, u.e, coalesce(u.t, j.token),
                CASE u.party WHEN 'payer' THEN j.payer WHEN 'provider' THEN j.provider ELSE u.a END,
                u.d::numeric, u.j, u.recipient
         FROM unnest($2::bigint[], $3::bigint[], $4::smallint[], $5::bytea[], $6::bytea[], $7::text[], $8::bytea[],
                     $9::bytea[], $10::bytea[], $11::text[]) AS u(n, i, part, e, j, party, t, a, recipient, d)
         LEFT JOIN escrow_jobs j ON j.chain_id = $1 AND j.escrow = u.e AND j.job_id = u.j
         WHERE u.party IN ('claim', 'direct') OR j.job_id IS NOT NULL
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&indexes)
    .bind(&parts)
    .bind(&escrows)
    .bind(&jobs)
    .bind(&parties)
    .bind(&tokens)
    .bind(&accounts)
    .bind(&tos)
    .bind(&deltas)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn insert_anchors(tx: &mut Tx, chain_id: u64, rows: &[Anchor]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (numbers, hashes, indexes, txs) = positions(rows.iter().map(|r| &r.position));
    let registries: Vec<&[u8]> = rows.iter().map(|r| r.registry.as_slice()).collect();
    let anchor_indexes: Vec<String> = rows.iter().map(|r| r.index.to_string()).collect();
    let roots: Vec<&[u8]> = rows.iter().map(|r| r.root.as_slice()).collect();
    let firsts: Vec<String> = rows.iter().map(|r| r.first_seq.to_string()).collect();
    let lasts: Vec<String> = rows.iter().map(|r| r.last_seq.to_string()).collect();
    sqlx::query(
        "INSERT INTO anchors (chain_id, block_number, block_hash, log_index, tx_hash, registry, anchor_index, root,
                              first_seq, last_seq)
         SELECT $1, u.n, u.h, u.i, u.tx, u.r, u.x::numeric, u.root, u.f::numeric, u.l::numeric
         FROM unnest($2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[], $7::text[], $8::bytea[],
                     $9::text[], $10::text[]) AS u(n, h, i, tx, r, x, root, f, l)
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&indexes)
    .bind(&txs)
    .bind(&registries)
    .bind(&anchor_indexes)
    .bind(&roots)
    .bind(&firsts)
    .bind(&lasts)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

type Positions<'a> = (Vec<i64>, Vec<&'a [u8]>, Vec<i64>, Vec<&'a [u8]>);

fn positions<'a>(iter: impl Iterator<Item = &'a LogPosition>) -> Positions<'a> {
    let (mut numbers, mut hashes, mut indexes, mut txs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in iter {
        numbers.push(int(p.block_number));
        hashes.push(p.block_hash.as_slice());
        indexes.push(int(p.log_index));
        txs.push(p.tx_hash.as_slice());
    }
    (numbers, hashes, indexes, txs)
}
