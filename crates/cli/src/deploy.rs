//! `clearing deploy`

use std::path::Path;

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use anyhow::Context;
use clap::Args;
use clearing_chain::{DeployConfig, deploy_suite};

use crate::config::Config;

/// Arguments of `clearing deploy`. Every role defaults to the relayer's address.
#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// Receives the escrow's platform fee.
    #[arg(long)]
    fee_recipient: Option<Address>,
    /// The escrow's fee cap, in basis points of a job's amount.
    #[arg(long, default_value_t = DeployConfig::DEFAULT_MAX_FEE_BPS)]
    max_fee_bps: u16,
    /// The marketplace operator, which may mark escrow jobs completed.
    #[arg(long)]
    operator: Option<Address>,
    /// Administers the anchor registry.
    #[arg(long)]
    anchor_admin: Option<Address>,
    /// The only account allowed to anchor roots; default the `[audit] anchorer_key` account, else the relayer
    /// (which then must not be the key that anchors: give the anchorer its own key and `setAnchorer`).
    #[arg(long)]
    anchorer: Option<Address>,
    /// Seconds from an agent's withdrawal request to its withdrawal from the balance vault (1 to 2,592,000).
    #[arg(long, default_value_t = DeployConfig::DEFAULT_WITHDRAWAL_DELAY)]
    withdrawal_delay: u64,
    /// Record the deployment in the config file.
    #[arg(long)]
    write: bool,
}

pub(crate) async fn run(args: DeployArgs, config: Config, config_path: &Path) -> anyhow::Result<()> {
    let key = config
        .relayer
        .private_key
        .as_ref()
        .context("no relayer key: set CLEARING_RELAYER_KEY or [relayer] private_key")?;
    let signer: PrivateKeySigner = key.expose().parse().context("the relayer key is not a hex private key")?;
    let relayer = signer.address();
    let provider = clearing_chain::connect_with_signer(&config.chain.rpc_url, signer)?;
    let deploy_config = DeployConfig {
        fee_recipient: args.fee_recipient.unwrap_or(relayer),
        max_fee_bps: args.max_fee_bps,
        operator: args.operator.unwrap_or(relayer),
        anchor_admin: args.anchor_admin.unwrap_or(relayer),
        anchorer: match (args.anchorer, &config.audit.anchorer_key) {
            (Some(anchorer), _) => anchorer,
            (None, Some(key)) => {
                key.expose().parse::<PrivateKeySigner>().context("the anchorer key is not a hex private key")?.address()
            }
            (None, None) => relayer,
        },
        withdrawal_delay: args.withdrawal_delay,
    };
    let deployment = deploy_suite(&provider, &deploy_config).await?;
    println!("{}", toml::to_string_pretty(&deployment)?);
    if args.write {
        let file = Config::file_with_deployment(config_path, deployment)?;
        std::fs::write(config_path, file).with_context(|| format!("writing {}", config_path.display()))?;
        println!("recorded in {}", config_path.display());
    }
    Ok(())
}
