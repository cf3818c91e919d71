//! `clearing claim`: pays an account its whole claimable balance in the escrow, to the account itself, through the
//! relayer's escrow claims (the same queue `POST /v1/provider/claim` uses), and waits for the outcome. A running
//! `clearing serve` (or `clearing dev`) sends it: this command only queues the claim in the ledger and follows it.

use std::time::{Duration, Instant};

use alloy::primitives::Address;
use anyhow::{Context, bail};
use clap::Args;
use clearing_ledger::{Action, Ledger, NewAction, SettlementStatus};

use crate::config::Config;

/// Arguments of `clearing claim`.
#[derive(Debug, Args)]
pub(crate) struct ClaimArgs {
    /// The account whose balance is paid, to itself (a provider's wallet).
    #[arg(long)]
    account: Address,
    /// How long to wait for the claim's transaction, seconds.
    #[arg(long, default_value_t = 60)]
    wait: u64,
}

pub(crate) async fn run(args: ClaimArgs, config: Config) -> anyhow::Result<()> {
    let deployment = config.chain.deployment.context("no [chain.deployment]: run `clearing deploy --write`")?;
    let usdc = config.chain.usdc.as_ref().context("no [chain.usdc]: name the token to claim")?;
    let ledger = Ledger::connect(&config.database.url, 2).await?;
    let new = NewAction {
        chain_id: deployment.chain_id,
        escrow: deployment.escrow,
        asset: usdc.address,
        action: Action::Claim { account: args.account },
    };
    let (action, inserted) = ledger.enqueue_action(&new).await?;
    if inserted {
        println!("claim {} queued for {}", action.id, args.account);
    } else {
        println!("a claim for {} is already under way ({})", args.account, action.id);
    }
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    loop {
        let current = ledger.action(action.id).await?.context("the queued claim disappeared")?;
        match current.status {
            SettlementStatus::Settled | SettlementStatus::Confirmed => {
                let tx = current.tx_hash.map(|tx| tx.to_string()).unwrap_or_default();
                println!("claimed: transaction {tx}");
                return Ok(());
            }
            SettlementStatus::Failed | SettlementStatus::Expired => {
                let reason = current.failure_reason.map_or("unknown", |r| r.as_str());
                bail!("the claim failed on chain ({reason}): nothing to claim, or the token refused the transfer");
            }
            SettlementStatus::Pending | SettlementStatus::Submitted => {}
        }
        if Instant::now() >= deadline {
            bail!(
                "the claim is still {:?} after {} s: is `clearing serve` running against this database?",
                current.status,
                args.wait
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
