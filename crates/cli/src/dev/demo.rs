//! The demo provider `clearing dev` seeds: a provider (anvil account 4's wallet, so its claims land on a known
//! account) with one service of each tier, one digital product (a small CSV) and one monthly plan bundling the data_api
//! service, so a newcomer can buy or subscribe at once.

use std::path::Path;

use alloy::primitives::{Address, B256, address};
use clearing_ledger::{
    Ledger,
    market::{
        NewParticipant, NewPlan, NewProduct, NewService, ParticipantId, ParticipantKind, PlanId, PlanInterval,
        PricingModel, ProductFile, ProductId, Registration, ServiceId, ServiceStatus, ServiceType,
    },
};
use clearing_market::{ApiKey, ContentStore, WebhookSecret};
use clearing_storage::LocalDir;
use clearing_x402::Usdc;
use serde_json::json;

/// Anvil account 4 (the default mnemonic's fifth): the demo provider's wallet.
const DEMO_PROVIDER_WALLET: Address = address!("0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65");

/// The demo provider and its services.
#[derive(Debug, Clone)]
pub(super) struct Demo {
    /// Its API key (shown in the summary: a dev database, removed at exit).
    pub(super) api_key: String,
    /// Its wallet.
    pub(super) wallet: Address,
    /// (tier, id, price) of each service.
    pub(super) services: Vec<(ServiceType, ServiceId, Usdc)>,
    /// The demo product's id and listed price (the agent pays it plus the fee).
    pub(super) product: (ProductId, Usdc),
    /// The demo plan's id and the provider's price per month (the subscriber pays it plus the fee).
    pub(super) plan: (PlanId, Usdc),
}

/// Registers the demo provider and lists its three services and its product in `ledger`, the product's file stored
/// under `product_dir`.
pub(super) async fn seed(ledger: &Ledger, product_dir: &Path) -> anyhow::Result<Demo> {
    let key = ApiKey::generate()?;
    let new = NewParticipant {
        id: ParticipantId::random(),
        wallet: DEMO_PROVIDER_WALLET,
        kind: ParticipantKind::Provider,
        name: "Demo provider".into(),
        description: "Seeded by clearing dev: one service of each tier".into(),
        webhook_url: None,
        capabilities: vec!["demo".into()],
        api_key_hash: key.hash(),
        api_key_prefix: key.prefix().to_owned(),
        webhook_secret: WebhookSecret::generate()?.expose().to_owned(),
        // Seeded, not paid for: no payment registered it.
        registration_nonce: B256::ZERO,
    };
    let provider = match ledger.register_participant(&new).await? {
        Registration::Created(participant) | Registration::Existing(participant) => participant,
    };
    let brief = json!({"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}});
    let mut services = Vec::new();
    for (service_type, name, price, delivery) in [
        (ServiceType::DataApi, "Word count", 10_000, "instant"),
        (ServiceType::AutomatedService, "Summarise a text", 500_000, "1-5 minutes"),
        (ServiceType::HumanService, "Edit a text by hand", 900_000, "1 day"),
    ] {
        let service = ledger
            .create_service(&NewService {
                id: ServiceId::random(),
                provider_id: provider.id,
                name: name.into(),
                description: format!("Demo {service_type} seeded by clearing dev"),
                category: "demo".into(),
                tags: vec!["demo".into(), "text".into()],
                price: Usdc::from_atomic(price),
                pricing_model: PricingModel::Fixed,
                service_type,
                fulfillment_type: service_type.fulfillment(),
                input_schema: Some(brief.clone()),
                deliverable_schema: None,
                estimated_delivery: Some(delivery.into()),
                status: ServiceStatus::Active,
            })
            .await?;
        services.push((service_type, service.id, service.price));
    }
    let product = seed_product(ledger, provider.id, product_dir).await?;
    let data_api = services.iter().filter(|(tier, _, _)| *tier == ServiceType::DataApi).map(|(_, id, _)| *id).collect();
    let plan = ledger
        .create_plan(&NewPlan {
            id: PlanId::random(),
            provider_id: provider.id,
            name: "Word count, monthly".into(),
            description: "A demo plan seeded by clearing dev: 100 word counts a month".into(),
            interval: PlanInterval::Monthly,
            price: Usdc::from_atomic(500_000).to_u256(),
            service_ids: data_api,
            max_requests: Some(100),
        })
        .await?;
    let plan = (plan.new.id, Usdc::from_atomic(500_000));
    Ok(Demo { api_key: key.expose().to_owned(), wallet: provider.wallet, services, product, plan })
}

/// A small CSV for sale, stored by its SHA-256 as `POST /v1/products` stores an upload.
async fn seed_product(ledger: &Ledger, provider: ParticipantId, dir: &Path) -> anyhow::Result<(ProductId, Usdc)> {
    let bytes = b"word,count\nclearing,3\nescrow,2\nx402,5\n".to_vec();
    let file = ProductFile {
        sha256: clearing_storage::sha256(&bytes),
        size: bytes.len() as u64,
        name: "demo-words.csv".into(),
        content_type: "text/csv".into(),
    };
    LocalDir::new(dir).put(bytes).await?;
    let product = ledger
        .create_product(&NewProduct {
            id: ProductId::random(),
            provider_id: provider,
            name: "Word counts".into(),
            description: "A demo dataset seeded by clearing dev: words and how often they appear, as CSV".into(),
            category: Some("demo".into()),
            tags: vec!["demo".into(), "dataset".into()],
            price: Usdc::from_atomic(50_000),
            download_limit: Some(3),
            file,
        })
        .await?;
    Ok((product.id, product.price))
}
