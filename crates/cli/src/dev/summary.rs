//! What `clearing dev` prints once the system is up: where everything is, ending with `Ready.`, the line scripts
//! wait for.

use std::net::SocketAddr;

use alloy::primitives::Address;
use clearing_chain::Deployment;

use super::config_file::ConfigFile;
use crate::config::Config;

/// Test USDC minted to each agent, in whole USDC.
pub(super) const AGENT_MINT_USDC: u64 = 10_000;

/// What the summary prints.
#[derive(Debug)]
pub(super) struct Summary {
    pub(super) rpc_url: String,
    pub(super) chain_id: u64,
    /// The run's database URL without its password.
    pub(super) database: String,
    pub(super) usdc: Address,
    pub(super) deployment: Deployment,
    pub(super) relayer: Address,
    pub(super) anchorer: Address,
    /// Each agent's address and (public, anvil) key.
    pub(super) agents: Vec<(Address, &'static str)>,
    /// Where the facilitator listens.
    pub(super) facilitator: SocketAddr,
    /// The run's whole configuration: what the system runs with, and the config file's contents.
    pub(super) written: Config,
}

impl Summary {
    pub(super) fn print(&self, config_file: Option<&ConfigFile>) {
        let facilitator = self.facilitator;
        println!();
        println!("Clearing dev is up.");
        println!();
        println!("  chain            {} (chain id {})", self.rpc_url, self.chain_id);
        println!(
            "  facilitator      http://{facilitator}  (POST /verify /settle, GET /supported /metrics /audit/records/{{seq}})"
        );
        println!("  database         {}", self.database);
        match config_file {
            Some(file) => match file.displaced_from() {
                None => println!("  config           {}", file.path().display()),
                Some(asked) => println!(
                    "  config           {}  ({} belongs to another running clearing dev)",
                    file.path().display(),
                    asked.display()
                ),
            },
            None => println!("  config           (none)"),
        }
        println!();
        println!("  contracts");
        println!("    USDC (MockUSDC)  {}", self.usdc);
        println!("    BatchSettler     {}", self.deployment.batch_settler);
        println!("    Escrow           {}", self.deployment.escrow);
        println!("    AnchorRegistry   {}", self.deployment.anchor_registry);
        println!();
        println!("  relayer, operator and fee recipient: {} (anvil account 0)", self.relayer);
        println!("  anchorer: {} (anvil account 4, its own key)", self.anchorer);
        println!("  agents, {AGENT_MINT_USDC} USDC each (anvil's public dev keys: never use them on a real chain)");
        for (address, key) in &self.agents {
            println!("    {address}  {key}");
        }
        println!();
        println!("Ready. Press Ctrl-C to stop.");
    }
}
