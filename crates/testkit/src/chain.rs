//! Anvil from the repository's `node_modules`, MockUSDC and the suite deployed on it, and its accounts.

use std::path::PathBuf;

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, B256, TxHash, U256},
    providers::{Provider, ext::AnvilApi},
    signers::local::PrivateKeySigner,
};
use clearing_chain::{
    ChainProvider, DeployConfig, Deployment, SettlePayment, connect, connect_with_signer, contracts::MockUSDC,
    deploy_mock_usdc, deploy_suite, mint_mock_usdc,
};
use clearing_indexer::{Indexer, IndexerConfig, Targets};
use clearing_ledger::Ledger;
use clearing_x402::TokenDomain;

/// Anvil account 0: deploys MockUSDC (so owns it: pause, blacklist) and the suite, and holds every role of the
/// suite but the anchorer's (the escrow's operator and fee recipient, the usual arbiter, the registry's admin).
pub const DEPLOYER: usize = 0;
/// Anvil account 2: the only account `AnchorRegistry` takes roots from.
pub const ANCHORER: usize = 2;
/// Anvil account 9: mints MockUSDC (anyone may) and submits authorizations, so that no account a test gives
/// another role (a relayer whose nonces a batcher owns, say) sends anything it did not ask for.
pub const MINTER: usize = 9;
/// MockUSDC's EIP-712 domain name, as USDC's on Base Sepolia.
pub const TOKEN_NAME: &str = "USDC";
/// MockUSDC's EIP-712 domain version, as FiatToken v2.2's.
pub const TOKEN_VERSION: &str = "2";

/// The anvil `npm ci` installs in the repository.
pub fn anvil_binary() -> PathBuf {
    let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/anvil");
    assert!(binary.exists(), "{} is missing: run `npm ci`", binary.display());
    binary
}

/// A fresh anvil on a free port, nothing deployed.
pub fn anvil() -> AnvilInstance {
    spawn(None)
}

fn spawn(genesis_timestamp: Option<u64>) -> AnvilInstance {
    let anvil = Anvil::at(anvil_binary());
    match genesis_timestamp {
        Some(timestamp) => anvil.args(["--timestamp", &timestamp.to_string()]).spawn(),
        None => anvil.spawn(),
    }
}

/// How to start a [`Chain`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ChainOptions {
    /// The genesis block's timestamp (`anvil --timestamp`), for a chain that must stand at a fixed time; now when
    /// `None`.
    pub genesis_timestamp: Option<u64>,
    /// The anvil account that is the escrow's operator, for a test whose relayer books escrow jobs (the relayer must
    /// be the operator); [`DEPLOYER`] when `None`.
    pub escrow_operator: Option<usize>,
}

/// A fresh anvil with MockUSDC and the suite (BatchSettler, Escrow, AnchorRegistry) deployed; killed when dropped.
#[derive(Debug)]
pub struct Chain {
    /// The node.
    pub anvil: AnvilInstance,
    /// Reads and anvil's own methods (mine, snapshot, revert). It signs nothing: send through
    /// [`Chain::as_account`].
    pub provider: ChainProvider,
    /// The suite.
    pub deployment: Deployment,
    /// MockUSDC (its proxy, as USDC's): account 0's first deployment, so at the address the chain-31337 reference
    /// vectors were signed for.
    pub token: Address,
    /// Anvil's chain id (31337).
    pub chain_id: u64,
}

impl Chain {
    /// A chain started now.
    pub async fn start() -> Self {
        Self::start_with(ChainOptions::default()).await
    }

    /// A chain started as `options` say.
    pub async fn start_with(options: ChainOptions) -> Self {
        let anvil = spawn(options.genesis_timestamp);
        let deployer_key = PrivateKeySigner::from(anvil.keys()[DEPLOYER].clone());
        let deployer = connect_with_signer(&anvil.endpoint(), deployer_key.clone()).unwrap();
        // MockUSDC first: the token is then account 0's first CREATE address whatever the suite becomes.
        let token = deploy_mock_usdc(&deployer, TOKEN_NAME).await.unwrap();
        let anchorer = PrivateKeySigner::from(anvil.keys()[ANCHORER].clone()).address();
        let mut config = DeployConfig { anchorer, ..DeployConfig::single_operator(deployer_key.address()) };
        if let Some(operator) = options.escrow_operator {
            config.operator = PrivateKeySigner::from(anvil.keys()[operator].clone()).address();
        }
        let deployment = deploy_suite(&deployer, &config).await.unwrap();
        let provider = connect(&anvil.endpoint()).unwrap();
        let chain_id = deployment.chain_id;
        Self { anvil, provider, deployment, token, chain_id }
    }

    /// The JSON-RPC endpoint.
    pub fn endpoint(&self) -> String {
        self.anvil.endpoint()
    }

    /// Anvil account `index`'s key.
    pub fn key(&self, index: usize) -> PrivateKeySigner {
        PrivateKeySigner::from(self.anvil.keys()[index].clone())
    }

    /// Anvil account `index`'s address.
    pub fn address(&self, index: usize) -> Address {
        self.anvil.addresses()[index]
    }

    /// A provider sending as anvil account `index`: a new one each call, which reads the account's nonce from
    /// the node. A provider remembers the nonces it used, so one kept across another provider's transactions from
    /// the same account, or across a revert, sends a stale nonce (or waits for a block number it saw before).
    pub fn as_account(&self, index: usize) -> ChainProvider {
        connect_with_signer(&self.endpoint(), self.key(index)).unwrap()
    }

    /// MockUSDC's EIP-712 domain.
    pub fn domain(&self) -> TokenDomain {
        TokenDomain::new(self.chain_id, self.token, TOKEN_NAME, TOKEN_VERSION)
    }

    /// Mints `amount` atomic units of MockUSDC to `to` (sent by [`MINTER`]).
    pub async fn mint(&self, to: Address, amount: u64) {
        mint_mock_usdc(&self.as_account(MINTER), self.token, to, U256::from(amount)).await.unwrap();
    }

    /// A fresh payer holding `balance` (nothing is minted for 0).
    pub async fn payer(&self, balance: u64) -> PrivateKeySigner {
        let payer = PrivateKeySigner::random();
        if balance > 0 {
            self.mint(payer.address(), balance).await;
        }
        payer
    }

    /// `who`'s MockUSDC balance.
    pub async fn balance(&self, who: Address) -> U256 {
        MockUSDC::new(self.token, &self.provider).balanceOf(who).call().await.unwrap()
    }

    /// Submits `payment`'s `transferWithAuthorization` to MockUSDC (sent by [`MINTER`]; anyone may), as a
    /// settlement elsewhere would, and waits for it to be mined.
    pub async fn transfer_with_authorization(&self, payment: &SettlePayment) -> TxHash {
        let usdc = MockUSDC::new(self.token, self.as_account(MINTER));
        let p = payment.clone();
        let call =
            usdc.transferWithAuthorization_0(p.from, p.to, p.value, p.validAfter, p.validBefore, p.nonce, p.signature);
        let receipt = call.send().await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status(), "transferWithAuthorization of {} reverted", payment.nonce);
        receipt.transaction_hash
    }

    /// Mines `blocks` blocks, with whatever is pending.
    pub async fn mine(&self, blocks: u64) {
        if blocks > 0 {
            self.provider.anvil_mine(Some(blocks), None).await.unwrap();
        }
    }

    /// Turns mining on each transaction on or off (off: a transaction waits for [`Chain::mine`]).
    pub async fn set_automine(&self, on: bool) {
        let _: serde_json::Value = self.provider.raw_request("evm_setAutomine".into(), (on,)).await.unwrap();
    }

    /// The head's number.
    pub async fn head(&self) -> u64 {
        self.provider.get_block_number().await.unwrap()
    }

    /// The head's hash.
    pub async fn head_hash(&self) -> B256 {
        let head = self.head().await;
        self.provider.get_block_by_number(head.into()).await.unwrap().expect("the head block").header.hash
    }

    /// What an indexer of this chain follows: the suite and the token.
    pub fn targets(&self) -> Targets {
        let d = &self.deployment;
        Targets {
            chain_id: d.chain_id,
            start_block: d.start_block,
            batch_settler: d.batch_settler,
            escrow: d.escrow,
            anchor_registry: d.anchor_registry,
            balance_vault: d.balance_vault,
            subscriptions: d.subscriptions,
            token: Some(self.token),
        }
    }

    /// An indexer of this chain into `ledger`, reading through `rpc_url` (the node's endpoint, or a proxy of it).
    pub async fn indexer_through(&self, rpc_url: &str, ledger: &Ledger, config: &IndexerConfig) -> Indexer {
        Indexer::new(ledger.clone(), connect(rpc_url).unwrap(), self.targets(), config).await.unwrap()
    }

    /// Indexes the chain into `ledger` up to the head, confirming blocks `confirmations` deep; returns the head.
    pub async fn index(&self, ledger: &Ledger, confirmations: u64) -> u64 {
        let config = IndexerConfig { confirmations: Some(confirmations), ..IndexerConfig::default() };
        let indexer = self.indexer_through(&self.endpoint(), ledger, &config).await;
        indexer.sync_to(self.head().await).await.unwrap().block_number
    }
}
