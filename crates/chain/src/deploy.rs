use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::{
    ChainProvider, Error, Result,
    contracts::{AnchorRegistry, BalanceVault, BatchSettler, Escrow, MockUSDC, MockUSDCProxy, Subscriptions},
};

/// The parameters fixed at deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeployConfig {
    /// Receives the escrow's platform fee (as a claimable balance).
    pub fee_recipient: Address,
    /// The escrow's fee cap in basis points of a job's amount (500 = 5%).
    pub max_fee_bps: u16,
    /// The marketplace operator, which may mark escrow jobs completed.
    pub operator: Address,
    /// Administers the anchor registry (may change the anchorer).
    pub anchor_admin: Address,
    /// The only account allowed to anchor Merkle roots.
    pub anchorer: Address,
    /// Seconds from an agent's withdrawal request to its withdrawal from the balance vault: the operator's time to
    /// post the debits it accepted before the request (1 to 30 days).
    pub withdrawal_delay: u64,
}

impl DeployConfig {
    /// The escrow fee cap the marketplace's 5% fee needs.
    pub const DEFAULT_MAX_FEE_BPS: u16 = 500;
    /// A day: the balance vault's intended withdrawal delay.
    pub const DEFAULT_WITHDRAWAL_DELAY: u64 = 86_400;

    /// Every role held by `operator`, with the default fee cap: the shape of a dev or test deployment.
    pub const fn single_operator(operator: Address) -> Self {
        Self {
            fee_recipient: operator,
            max_fee_bps: Self::DEFAULT_MAX_FEE_BPS,
            operator,
            anchor_admin: operator,
            anchorer: operator,
            withdrawal_delay: Self::DEFAULT_WITHDRAWAL_DELAY,
        }
    }
}

/// Where the suite lives on one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Deployment {
    /// The chain the suite was deployed to.
    pub chain_id: u64,
    /// The chain head before the first deployment transaction: an indexer that starts here misses nothing.
    pub start_block: u64,
    /// The `BatchSettler` contract.
    pub batch_settler: Address,
    /// The `Escrow` contract.
    pub escrow: Address,
    /// The `AnchorRegistry` contract.
    pub anchor_registry: Address,
    /// The `BalanceVault` contract (prepaid balances); absent from a deployment made before it existed, which then
    /// serves no balance routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_vault: Option<Address>,
    /// The `Subscriptions` contract charging the vault's balances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriptions: Option<Address>,
}

/// Deploys `BatchSettler`, `Escrow`, `AnchorRegistry`, `BalanceVault` and `Subscriptions` from the provider's signer,
/// checks each has code, and names the subscription contract the vault's charger (once, for good).
pub async fn deploy_suite(provider: &ChainProvider, config: &DeployConfig) -> Result<Deployment> {
    let chain_id = provider.get_chain_id().await?;
    let start_block = provider.get_block_number().await?;

    let batch_settler = *BatchSettler::deploy(provider.clone()).await?.address();
    ensure_code(provider, "BatchSettler", batch_settler).await?;
    info!(%batch_settler, "deployed BatchSettler");

    let escrow =
        *Escrow::deploy(provider.clone(), config.fee_recipient, config.max_fee_bps, config.operator).await?.address();
    ensure_code(provider, "Escrow", escrow).await?;
    info!(%escrow, "deployed Escrow");

    let anchor_registry =
        *AnchorRegistry::deploy(provider.clone(), config.anchor_admin, config.anchorer).await?.address();
    ensure_code(provider, "AnchorRegistry", anchor_registry).await?;
    info!(%anchor_registry, "deployed AnchorRegistry");

    let vault = BalanceVault::deploy(
        provider.clone(),
        config.fee_recipient,
        config.max_fee_bps,
        config.operator,
        U256::from(config.withdrawal_delay),
    )
    .await?;
    let balance_vault = *vault.address();
    ensure_code(provider, "BalanceVault", balance_vault).await?;
    info!(%balance_vault, "deployed BalanceVault");

    let subscriptions = *Subscriptions::deploy(provider.clone(), balance_vault).await?.address();
    ensure_code(provider, "Subscriptions", subscriptions).await?;
    let pending = vault.setCharger(subscriptions).send().await?;
    let tx = *pending.tx_hash();
    let receipt = pending.get_receipt().await.map_err(|source| Error::Receipt { tx, source })?;
    if !receipt.status() {
        return Err(Error::Reverted { tx });
    }
    info!(%subscriptions, "deployed Subscriptions, the vault's charger");

    Ok(Deployment {
        chain_id,
        start_block,
        batch_settler,
        escrow,
        anchor_registry,
        balance_vault: Some(balance_vault),
        subscriptions: Some(subscriptions),
    })
}

/// Deploys a `MockUSDC` whose EIP-712 domain name is `name` ("USDC" as on Base Sepolia, "USD Coin" as on Base) and
/// returns the token's address: its proxy, as USDC's. One transaction deploys the proxy, the implementation and the
/// signature checker and initializes the token (owner: the provider's signer), so the token is the signer's next
/// CREATE address.
pub async fn deploy_mock_usdc(provider: &ChainProvider, name: &str) -> Result<Address> {
    let token = *MockUSDCProxy::deploy(provider.clone(), name.to_owned()).await?.address();
    ensure_code(provider, "MockUSDC", token).await?;
    info!(%token, name, "deployed MockUSDC");
    Ok(token)
}

/// Mints `amount` (atomic units) of a `MockUSDC` to `to` and waits for the receipt.
pub async fn mint_mock_usdc(provider: &ChainProvider, token: Address, to: Address, amount: U256) -> Result<()> {
    let pending = MockUSDC::new(token, provider.clone()).mint(to, amount).send().await?;
    let tx = *pending.tx_hash();
    let receipt = pending.get_receipt().await.map_err(|source| Error::Receipt { tx, source })?;
    if !receipt.status() {
        return Err(Error::Reverted { tx });
    }
    Ok(())
}

async fn ensure_code(provider: &ChainProvider, contract: &'static str, address: Address) -> Result<()> {
    if provider.get_code_at(address).await?.is_empty() {
        return Err(Error::NoCode { contract, address });
    }
    Ok(())
}
