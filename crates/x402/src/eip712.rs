//! EIP-712 digests of EIP-3009 authorizations.
//!
//! The types come from `sol!`, and [`TokenDomain`] computes its separator through alloy's [`Eip712Domain`].
//! The per-payment digest is on the hot path, so it does not go through `SolStruct::eip712_signing_hash`
//! (which re-hashes the domain and the type string and allocates the encoded data each call): it hashes the
//! seven 32-byte words of `hashStruct` in a stack buffer against the cached separator. Tests pin that path to
//! `eip712_signing_hash` and to every third-party vector.

use std::{fmt, sync::Arc};

use alloy_primitives::{Address, B256, U256, b256, keccak256};
use alloy_sol_types::{Eip712Domain, sol};

use crate::ExactEvmAuthorization;

sol! {
    /// EIP-3009 `TransferWithAuthorization`: anyone may submit it (the `exact` scheme's authorization).
    #[derive(Debug, PartialEq, Eq)]
    struct TransferWithAuthorization {
        /// Payer.
        address from;
        /// Payee.
        address to;
        /// Atomic units.
        uint256 value;
        /// Valid strictly after this unix time.
        uint256 validAfter;
        /// Valid strictly before this unix time.
        uint256 validBefore;
        /// Unique per payer.
        bytes32 nonce;
    }

    /// EIP-3009 `ReceiveWithAuthorization`: only the payee (`to == msg.sender`) may submit it.
    #[derive(Debug, PartialEq, Eq)]
    struct ReceiveWithAuthorization {
        /// Payer.
        address from;
        /// Payee, which must be the caller.
        address to;
        /// Atomic units.
        uint256 value;
        /// Valid strictly after this unix time.
        uint256 validAfter;
        /// Valid strictly before this unix time.
        uint256 validBefore;
        /// Unique per payer.
        bytes32 nonce;
    }
}

/// `keccak256("TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256
/// validBefore,bytes32 nonce)")` (EIP-3009; FiatToken v2.2 `EIP3009.sol`).
pub const TRANSFER_WITH_AUTHORIZATION_TYPEHASH: B256 =
    b256!("7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267");

/// `keccak256("ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256
/// validBefore,bytes32 nonce)")` (EIP-3009; FiatToken v2.2 `EIP3009.sol`).
pub const RECEIVE_WITH_AUTHORIZATION_TYPEHASH: B256 =
    b256!("d099cc98ef71107a616c4f0f941f04c322d8e254fe26b3c6668db87aae413de8");

/// `keccak256("CancelAuthorization(address authorizer,bytes32 nonce)")` (EIP-3009).
pub const CANCEL_AUTHORIZATION_TYPEHASH: B256 =
    b256!("158b0a9edf7a828aad02f63cd515c68ef2f50ba807396f6d12842833a1597429");

/// Which EIP-3009 message an authorization is signed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthorizationKind {
    /// `transferWithAuthorization` (x402 `exact`).
    Transfer,
    /// `receiveWithAuthorization` (Clearing's contracts pulling funds).
    Receive,
}

impl AuthorizationKind {
    /// The EIP-712 typehash of this message.
    pub const fn typehash(self) -> B256 {
        match self {
            Self::Transfer => TRANSFER_WITH_AUTHORIZATION_TYPEHASH,
            Self::Receive => RECEIVE_WITH_AUTHORIZATION_TYPEHASH,
        }
    }
}

/// A token's EIP-712 domain `{name, version, chainId, verifyingContract}` with its separator computed once.
///
/// Build one per (chain, token, name, version) and keep it: it is cheap to clone (the strings are shared)
/// and [`crate::VerifyOptions::with_domains`] takes a slice of them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenDomain {
    chain_id: u64,
    token: Address,
    name: Arc<str>,
    version: Arc<str>,
    separator: B256,
}

impl TokenDomain {
    /// The domain of `token` on `chain_id` named `name`, version `version` (FiatToken: version "2"; the name is
    /// "USD Coin" on Base, "USDC" on Base Sepolia).
    pub fn new(chain_id: u64, token: Address, name: &str, version: &str) -> Self {
        let separator = Self::eip712_domain_of(chain_id, token, name, version).separator();
        Self { chain_id, token, name: name.into(), version: version.into(), separator }
    }

    fn eip712_domain_of(chain_id: u64, token: Address, name: &str, version: &str) -> Eip712Domain {
        Eip712Domain::new(
            Some(name.to_owned().into()),
            Some(version.to_owned().into()),
            Some(U256::from(chain_id)),
            Some(token),
            None,
        )
    }

    /// The same domain as alloy's [`Eip712Domain`].
    pub fn eip712_domain(&self) -> Eip712Domain {
        Self::eip712_domain_of(self.chain_id, self.token, &self.name, &self.version)
    }

    /// The chain id.
    pub const fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The token (the domain's `verifyingContract`).
    pub const fn token(&self) -> Address {
        self.token
    }

    /// The domain's `name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The domain's `version`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The domain separator (`hashStruct(EIP712Domain)`).
    pub const fn separator(&self) -> B256 {
        self.separator
    }

    /// Whether this is the domain of (chain, token, name, version).
    pub fn is(&self, chain_id: u64, token: Address, name: &str, version: &str) -> bool {
        self.chain_id == chain_id && self.token == token && *self.name == *name && *self.version == *version
    }

    /// The digest a payer signs for `authorization` as `kind`. Allocation-free.
    pub fn digest(&self, kind: AuthorizationKind, authorization: &ExactEvmAuthorization) -> B256 {
        let mut words = [0u8; 7 * 32];
        words[..32].copy_from_slice(kind.typehash().as_slice());
        words[32 + 12..64].copy_from_slice(authorization.from.as_slice());
        words[64 + 12..96].copy_from_slice(authorization.to.as_slice());
        words[96..128].copy_from_slice(&authorization.value.to_be_bytes::<32>());
        words[128..160].copy_from_slice(&authorization.valid_after.to_be_bytes::<32>());
        words[160..192].copy_from_slice(&authorization.valid_before.to_be_bytes::<32>());
        words[192..].copy_from_slice(authorization.nonce.as_slice());
        let struct_hash = keccak256(words);

        let mut message = [0u8; 2 + 32 + 32];
        message[..2].copy_from_slice(b"\x19\x01");
        message[2..34].copy_from_slice(self.separator.as_slice());
        message[34..].copy_from_slice(struct_hash.as_slice());
        keccak256(message)
    }

    /// The `TransferWithAuthorization` digest (what an x402 `exact` payer signs).
    pub fn transfer_digest(&self, authorization: &ExactEvmAuthorization) -> B256 {
        self.digest(AuthorizationKind::Transfer, authorization)
    }

    /// The `ReceiveWithAuthorization` digest.
    pub fn receive_digest(&self, authorization: &ExactEvmAuthorization) -> B256 {
        self.digest(AuthorizationKind::Receive, authorization)
    }
}

impl fmt::Debug for TokenDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenDomain")
            .field("chain_id", &self.chain_id)
            .field("token", &self.token)
            .field("name", &&*self.name)
            .field("version", &&*self.version)
            .field("separator", &self.separator)
            .finish()
    }
}

impl From<&ExactEvmAuthorization> for TransferWithAuthorization {
    fn from(a: &ExactEvmAuthorization) -> Self {
        Self {
            from: a.from,
            to: a.to,
            value: a.value,
            validAfter: a.valid_after,
            validBefore: a.valid_before,
            nonce: a.nonce,
        }
    }
}

impl From<&ExactEvmAuthorization> for ReceiveWithAuthorization {
    fn from(a: &ExactEvmAuthorization) -> Self {
        Self {
            from: a.from,
            to: a.to,
            value: a.value,
            validAfter: a.valid_after,
            validBefore: a.valid_before,
            nonce: a.nonce,
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::address;
    use alloy_sol_types::SolStruct;

    use super::*;

    fn authorization() -> ExactEvmAuthorization {
        ExactEvmAuthorization {
            from: address!("5B14ED61fbb646cEd04971501BcdC68e19384881"),
            to: address!("545cad5f0cf552A4B74E70a30724E3cEaa7DaB7F"),
            value: U256::from(3_755_457_476u64),
            valid_after: U256::from(1_700_016_155u64),
            valid_before: U256::from(1_800_031_517u64),
            nonce: b256!("93a766e18145a173dc5fd3ee405a19bd69cac066f01d037965e61ae2aa2d21d1"),
        }
    }

    #[test]
    fn typehashes_match_facts_and_sol() {
        let a = authorization();
        assert_eq!(TransferWithAuthorization::from(&a).eip712_type_hash(), TRANSFER_WITH_AUTHORIZATION_TYPEHASH);
        assert_eq!(ReceiveWithAuthorization::from(&a).eip712_type_hash(), RECEIVE_WITH_AUTHORIZATION_TYPEHASH);
        assert_eq!(keccak256("CancelAuthorization(address authorizer,bytes32 nonce)"), CANCEL_AUTHORIZATION_TYPEHASH);
    }

    #[test]
    fn fast_digest_equals_sol_signing_hash() {
        // The first eip712 vector of tests/vectors (Base "USD Coin").
        let domain = TokenDomain::new(8453, address!("833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"), "USD Coin", "2");
        let a = authorization();
        let expected = b256!("43b67b6f5499e3e75d0d3f097552d21671e278e2dfe51df6dd52a9702ae80ff5");
        assert_eq!(domain.transfer_digest(&a), expected);
        assert_eq!(TransferWithAuthorization::from(&a).eip712_signing_hash(&domain.eip712_domain()), expected);
        assert_eq!(
            domain.receive_digest(&a),
            ReceiveWithAuthorization::from(&a).eip712_signing_hash(&domain.eip712_domain())
        );
        assert_ne!(domain.receive_digest(&a), expected);
    }

    #[test]
    fn domain_identity() {
        let token = address!("036CbD53842c5426634e7929541eC2318f3dCF7e");
        let d = TokenDomain::new(84532, token, "USDC", "2");
        assert!(d.is(84532, token, "USDC", "2"));
        assert!(!d.is(84532, token, "USD Coin", "2"));
        assert!(!d.is(8453, token, "USDC", "2"));
        assert_ne!(d.separator(), TokenDomain::new(84532, token, "USDC", "1").separator());
        assert_eq!(d.clone(), d);
    }
}
