//! Signs EIP-3009 `TransferWithAuthorization`s for tests, as a wallet would (shared by the chain and
//! facilitator test binaries; the x402 crate will own the production digests).

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol,
    sol_types::{Eip712Domain, SolStruct},
};

sol! {
    /// FiatToken v2.2's `TransferWithAuthorization` typed data.
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

/// One authorization's terms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Authorization {
    pub(crate) to: Address,
    pub(crate) value: U256,
    pub(crate) valid_after: u64,
    pub(crate) valid_before: u64,
    pub(crate) nonce: B256,
}

/// The 65-byte r‖s‖v signature of `payer` over `auth` for the token at `token` named "USDC", version "2".
pub(crate) fn sign_transfer(payer: &PrivateKeySigner, token: Address, chain_id: u64, auth: &Authorization) -> Bytes {
    let domain =
        Eip712Domain::new(Some("USDC".into()), Some("2".into()), Some(U256::from(chain_id)), Some(token), None);
    let typed = TransferWithAuthorization {
        from: payer.address(),
        to: auth.to,
        value: auth.value,
        validAfter: U256::from(auth.valid_after),
        validBefore: U256::from(auth.valid_before),
        nonce: auth.nonce,
    };
    let signature = payer.sign_hash_sync(&typed.eip712_signing_hash(&domain)).expect("local signing cannot fail");
    Bytes::from(signature.as_bytes().to_vec())
}

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_secs()
}
