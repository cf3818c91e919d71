//! What `clearing dev` prints once the system is up: where everything is, then the next steps to copy (a paid route,
//! a first payment with `clearing pay`, and the check of its audit record with `clearing audit verify`), ending with
//! `Ready.`, the line scripts wait for.

use std::{net::SocketAddr, path::PathBuf};

use alloy::primitives::Address;
use clearing_chain::Deployment;

use super::config_file::ConfigFile;
use crate::config::Config;

/// Test USDC minted to each agent, in whole USDC.
pub(super) const AGENT_MINT_USDC: u64 = 10_000;

/// Anvil's account 9: the payee of the example paid route (a public dev address, as the keys are).
const EXAMPLE_PAY_TO: &str = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720";
/// The port the example paid route listens on.
const EXAMPLE_PORT: u16 = 4021;

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
    /// The demo provider and its services, when the market runs.
    pub(super) demo: Option<super::demo::Demo>,
}

impl Summary {
    pub(super) fn print(&self, config_file: Option<&ConfigFile>) {
        let facilitator = self.facilitator;
        println!();
        println!("Clearing dev is up.");
        println!();
        println!("  chain            {} (chain id {})", self.rpc_url, self.chain_id);
        println!(
            "  facilitator      http://{facilitator}  (POST /verify /settle, GET /supported /health /metrics \
             /openapi.json /audit/records/{{seq}})"
        );
        if self.written.market.enabled {
            println!(
                "  market           http://{facilitator}/v1  (POST /register, GET /services/catalog, ...: docs/MARKET.md)"
            );
        }
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
        if let Some(vault) = self.deployment.balance_vault {
            println!("    BalanceVault     {vault}");
        }
        if let Some(subscriptions) = self.deployment.subscriptions {
            println!("    Subscriptions    {subscriptions}");
        }
        println!();
        println!("  relayer, operator and fee recipient: {} (anvil account 0)", self.relayer);
        println!("  anchorer: {} (anvil account 4, its own key)", self.anchorer);
        if let (true, Some(token)) = (self.written.market.enabled, &self.written.market.arbiter_token) {
            println!("  arbiter token (POST /v1/admin/jobs/{{id}}/resolve, Authorization: Bearer): {}", token.expose());
        }
        println!("  agents, {AGENT_MINT_USDC} USDC each (anvil's public dev keys: never use them on a real chain)");
        for (address, key) in &self.agents {
            println!("    {address}  {key}");
        }
        println!();
        self.print_next_steps(config_file);
        println!();
        println!("Ready. Press Ctrl-C to stop.");
    }

    /// The first payment and its audit check, as commands to copy (README, "First steps", shows the same).
    fn print_next_steps(&self, config_file: Option<&ConfigFile>) {
        let facilitator = self.facilitator;
        let clearing = clearing_command();
        let audit = &self.written.audit;
        let route = format!("http://127.0.0.1:{EXAMPLE_PORT}/weather");
        println!("Next steps, each in another terminal in this directory:");
        println!("  1. a paid route: clearing-paywall's example, GET /weather for 0.01 USDC paid to anvil account 9");
        println!(
            "     FACILITATOR_URL=http://{facilitator} CHAIN_ID={} TOKEN_ADDRESS={} PAY_TO={EXAMPLE_PAY_TO} \
             PORT={EXAMPLE_PORT} cargo run -q -p clearing-paywall --example weather",
            self.chain_id, self.usdc
        );
        if let Some((_, key)) = self.agents.first() {
            println!(
                "  2. pay it as the first agent (prints the body, the amount paid and the settlement transaction)"
            );
            println!("     CLEARING_PAYER_KEY={key} {clearing} pay {route}");
        }
        println!(
            "  3. check its audit record against the chain once it is anchored: the first anchor is written about"
        );
        println!(
            "     {} s after the first payment settles (or once {} records wait); until then /audit/records/0 answers \
             409",
            audit.anchor_every_secs, audit.anchor_every_records
        );
        println!("     until curl -sf http://{facilitator}/audit/records/0 -o record.json; do sleep 5; done");
        match config_file {
            // The run's config names the deployment: its registry, contracts and token are all checked.
            Some(file) => println!("     {clearing} --config {} audit verify record.json", file.path().display()),
            None => println!(
                "     {clearing} audit verify record.json --rpc {} --registry {} --settler {} --escrow {}",
                self.rpc_url, self.deployment.anchor_registry, self.deployment.batch_settler, self.deployment.escrow
            ),
        }
        if let (true, Some((_, key))) = (self.written.market.enabled, self.agents.get(1)) {
            println!("  4. register the second agent as a market provider (0.01 USDC; prints its API key, once)");
            println!(
                "     CLEARING_PAYER_KEY={key} {clearing} pay -X POST http://{facilitator}/v1/register \\\n       \
                 -H 'Content-Type: application/json' -d '{{\"type\":\"provider\",\"name\":\"My provider\"}}'"
            );
        }
        if let (Some(demo), Some((_, key))) = (&self.demo, self.agents.first()) {
            let automated = demo.services.iter().find(|(tier, _, _)| tier.as_str() == "automated_service");
            if let Some((_, service, price)) = automated {
                println!(
                    "  5. buy the demo provider's automated service ({price} USDC into the escrow) as the first agent:"
                );
                println!(
                    "     CLEARING_PAYER_KEY={key} {clearing} pay -X POST http://{facilitator}/v1/services/{}/purchase \\\n       \
                     -H 'Content-Type: application/json' -d '{{\"brief\":{{\"text\":\"hello\"}}}}'",
                    service.0
                );
            }
            println!(
                "     then, as the demo provider (wallet {}, X-API-Key {}): GET /v1/jobs/<job_id>, \
                 POST /v1/jobs/<job_id>/update {{\"status\":\"completed\",\"deliverables\":{{...}}}}, \
                 GET /v1/provider/earnings, POST /v1/provider/claim",
                demo.wallet, demo.api_key
            );
            let listed: Vec<String> =
                demo.services.iter().map(|(tier, id, price)| format!("{tier} {} ({price})", id.0)).collect();
            println!("     demo services: {}", listed.join(", "));
            let (product, price) = demo.product;
            println!(
                "  6. buy the demo product ({price} USDC plus the fee, into the escrow) and download it (its SHA-256 \
                 is in X-Content-SHA256):"
            );
            println!(
                "     CLEARING_PAYER_KEY={key} {clearing} pay -X POST http://{facilitator}/v1/products/{product}/purchase"
            );
            println!(
                "     CLEARING_PAYER_KEY={key} {clearing} pay http://{facilitator}/v1/products/{product}/download"
            );
            let data_api = demo.services.iter().find(|(tier, _, _)| tier.as_str() == "data_api");
            if let (Some((_, service, price)), Some(_)) = (data_api, self.deployment.balance_vault) {
                println!(
                    "  7. a prepaid balance, as the first agent: register (0.01 USDC; prints its API key), deposit 1 USDC,"
                );
                println!(
                    "     make a capped credential with the API key, then buy the data_api service ({price}) with no signature:"
                );
                println!(
                    "     CLEARING_PAYER_KEY={key} {clearing} pay -X POST http://{facilitator}/v1/register \\\n       \
                     -H 'Content-Type: application/json' -d '{{\"type\":\"agent\",\"name\":\"My agent\"}}'"
                );
                println!(
                    "     CLEARING_PAYER_KEY={key} {clearing} pay -X POST http://{facilitator}/v1/balance/deposit \\\n       \
                     -H 'Content-Type: application/json' -d '{{\"amount\":\"1.00\"}}'"
                );
                println!(
                    "     curl -s -X POST http://{facilitator}/v1/balance/credentials -H 'X-API-Key: <api_key>' \\\n       \
                     -H 'Content-Type: application/json' -d '{{\"name\":\"demo\",\"max_per_day\":\"0.50\"}}'"
                );
                println!(
                    "     curl -s -X POST http://{facilitator}/v1/services/{}/purchase -H 'X-BALANCE-AUTH: <token>' \\\n       \
                     -H 'Content-Type: application/json' -d '{{\"brief\":{{\"text\":\"hello\"}}}}'",
                    service.0
                );
                println!("     the demo product from the same balance (unless step 6 bought it: 409 already_owned):");
                println!(
                    "     curl -s -X POST http://{facilitator}/v1/products/{product}/purchase -H 'X-BALANCE-AUTH: <token>'"
                );
                println!("     GET /v1/balance (X-API-Key) shows it; GET /v1/balance/withdrawal hands out the exit.");
                let (plan, price) = demo.plan;
                println!(
                    "  8. subscribe to the demo plan ({price} USDC a month plus the fee, from that balance; 100 word \
                     counts a month without paying):"
                );
                println!(
                    "     curl -s -X POST http://{facilitator}/v1/plans/{}/subscribe -H 'X-API-Key: <api_key>'",
                    plan.0
                );
                println!(
                    "     GET /v1/subscriptions (X-API-Key) shows it active once the chain charged it; then the purchase \
                     above with X-API-Key answers paid_by subscription."
                );
            }
        }
        println!("  health: http://{facilitator}/health   API description: http://{facilitator}/openapi.json");
    }
}

/// How to run this `clearing` from the current directory: `target/debug/clearing` under `script/dev`.
fn clearing_command() -> String {
    let Ok(exe) = std::env::current_exe() else { return "clearing".into() };
    let relative = std::env::current_dir().ok().and_then(|dir| exe.strip_prefix(dir).ok().map(PathBuf::from));
    relative.unwrap_or(exe).display().to_string()
}
