//! The marketplace's tables (`migrations/0006_market.sql`): participants ([`participants`]), the services they list
//! ([`services`]) and the catalog read over them ([`catalog`], and one-word searches from a kept term index:
//! [`search_terms`]; what changed in it, for a process's own search index: [`catalog_changes`]); jobs ([`jobs`],
//! `0009`), digital products with their purchases (`0012`, [`products`]; bought from a balance, `0017`,
//! [`product_sales`]), prepaid balances with their credentials and debits (`0013`, [`balances`]; payments into the
//! vault or the escrow someone front-ran, recovered from their transfers, `0023`, [`front_runs`]; fee payments someone
//! front-ran, counted once, `0024`, [`front_run_fees`]) and the automated_service jobs they pay for, held until
//! delivered (`0018`, [`balance_jobs`]), and plans with their subscriptions on the chain's Subscriptions contract
//! (`0014`, [`plans`], [`subscriptions`]).
//!
//! The enums here are the marketplace's vocabulary as stored: each has one snake_case name, the same in the database,
//! in JSON and in the API's documentation, so nothing translates between spellings. Rows are decoded here (with
//! [`crate::decode`]'s helpers): a stored value no domain value fits is [`crate::Error::Corrupt`].

mod balance_jobs;
mod balances;
#[cfg(test)]
mod bounded_reads;
mod catalog;
mod catalog_changes;
pub(crate) mod debits;
mod front_run_fees;
pub(crate) mod front_runs;
mod jobs;
mod participants;
mod plans;
mod product_sales;
mod products;
mod search_terms;
mod services;
mod subscriptions;

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use balance_jobs::{BalanceJobDecision, BalanceJobPurchase, EndedHold};
pub use balances::{
    Balance, BalanceAccount, BalanceCredential, BalanceDebit, CredentialId, DebitDecision, DebitRequest, HistoryEntry,
    NewCredential,
};
pub use catalog::{CatalogEntry, CatalogPage, CatalogQuery, CatalogSort, ProviderFilter};
pub use catalog_changes::{CatalogChanges, Listing, ListingHorizon, ListingVersion};
pub use debits::DebitQueue;
pub use front_run_fees::CarriedFee;
pub use front_runs::{FrontRunRecipient, FrontRunRecovery};
pub use jobs::{BalanceHold, EscrowState, Job, JobChainEvent, NewJob, ProviderStatus, Reaction, RefundCause};
pub use participants::{NewParticipant, Participant, ProfileUpdate, Registration};
pub use plans::{NewPlan, Plan, PlanId, PlanInterval, PlanUpdate};
pub use product_sales::BalanceSale;
pub use products::{
    DownloadCount, NewProduct, NewProductPurchase, Product, ProductFile, ProductId, ProductPage, ProductPurchase,
    ProductQuery, ProductUpdate, PurchaseInsert, PurchasePayment, PurchaseState,
};
pub use services::{NewService, OwnedWrite, Service, ServiceUpdate};
pub use subscriptions::{
    ChargeQueued, CoveredUse, DueCharge, NewSubscription, OperationDecision, OperationKind, SubscribeDecision,
    SubscriptionView,
};

/// A participant's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParticipantId(pub Uuid);

/// A service's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceId(pub Uuid);

impl ParticipantId {
    /// A fresh random id (UUID v4).
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl ServiceId {
    /// A fresh random id (UUID v4).
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Declares a stored enum: its variants with their one name, `as_str`, `parse` and `ALL`.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant.
            pub const ALL: &[Self] = &[$(Self::$variant,)+];

            /// Its name, as stored and on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// The variant named `text`.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_enum! {
    /// What a participant does in the market.
    ParticipantKind {
        /// Buys services.
        Agent = "agent",
        /// Lists services and fulfils them.
        Provider = "provider",
    }
}

stored_enum! {
    /// How a service is priced.
    PricingModel {
        /// Bought at the listed price.
        Fixed = "fixed",
        /// Priced per job by the provider's quote.
        QuoteRequired = "quote_required",
    }
}

stored_enum! {
    /// A service's tier.
    ServiceType {
        /// Instant lookups, cents to a dollar.
        DataApi = "data_api",
        /// Automated processing in minutes.
        AutomatedService = "automated_service",
        /// Work by people, hours to days.
        HumanService = "human_service",
    }
}

stored_enum! {
    /// How a service is delivered.
    FulfillmentType {
        /// At once, in the answer.
        Instant = "instant",
        /// By the provider's automation.
        Automated = "automated",
        /// By a person.
        Human = "human",
    }
}

stored_enum! {
    /// Whether a service shows in the catalog.
    ServiceStatus {
        /// Listed.
        Active = "active",
        /// Hidden from everyone but its provider.
        Inactive = "inactive",
    }
}

impl ServiceType {
    /// The one fulfilment each tier has (the table's `market_services_tier` check).
    pub const fn fulfillment(self) -> FulfillmentType {
        match self {
            Self::DataApi => FulfillmentType::Instant,
            Self::AutomatedService => FulfillmentType::Automated,
            Self::HumanService => FulfillmentType::Human,
        }
    }
}

impl FulfillmentType {
    /// The tier delivered this way.
    pub const fn service_type(self) -> ServiceType {
        match self {
            Self::Instant => ServiceType::DataApi,
            Self::Automated => ServiceType::AutomatedService,
            Self::Human => ServiceType::HumanService,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_is_the_same_everywhere() {
        for kind in ServiceType::ALL {
            assert_eq!(ServiceType::parse(kind.as_str()), Some(*kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(kind.fulfillment().service_type(), *kind);
        }
        for model in PricingModel::ALL {
            assert_eq!(serde_json::to_value(model).unwrap(), model.as_str());
        }
        assert_eq!(PricingModel::parse("quote_required"), Some(PricingModel::QuoteRequired));
        assert_eq!(ParticipantKind::parse("Agent"), None);
    }
}
