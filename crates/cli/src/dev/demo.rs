//! The demo provider `clearing dev` seeds: a provider (anvil account 4's wallet, so its claims land on a known
//! account) with one service of each tier, so a newcomer can buy one at once.

use alloy::primitives::{Address, B256, address};
use clearing_ledger::{
    Ledger,
    market::{
        NewParticipant, NewService, ParticipantId, ParticipantKind, PricingModel, Registration, ServiceId,
        ServiceStatus, ServiceType,
    },
};
use clearing_market::{ApiKey, WebhookSecret};
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
}

/// Registers the demo provider and lists its three services in `ledger`.
pub(super) async fn seed(ledger: &Ledger) -> anyhow::Result<Demo> {
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
    Ok(Demo { api_key: key.expose().to_owned(), wallet: provider.wallet, services })
}
