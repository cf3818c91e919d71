//! EIP-3009 authorizations signed as a wallet signs them, through `clearing-x402`'s digests: the settle-level
//! payments BatchSettler takes and the `receiveWithAuthorization` an escrow job is funded with.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
};
use clearing_chain::SettlePayment;
use clearing_x402::{ExactEvmAuthorization, TokenDomain};

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_secs()
}

/// 32 bytes no other call of this process returns, nor another process's (the process id and the time are in
/// them): for nonces and salts that must differ across chain reverts too.
pub fn unique() -> B256 {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    keccak256([n.to_be_bytes().as_slice(), &now().to_be_bytes(), &std::process::id().to_be_bytes()].concat())
}

/// `payer`'s 65-byte r‖s‖v signature of `authorization` as a `TransferWithAuthorization` of `domain`'s token.
pub fn sign_transfer(payer: &PrivateKeySigner, domain: &TokenDomain, authorization: &ExactEvmAuthorization) -> Bytes {
    sign_digest(payer, domain.transfer_digest(authorization))
}

/// `payer`'s signature of `authorization` as a `ReceiveWithAuthorization` (what the escrow's `fund` pulls with).
pub fn sign_receive(payer: &PrivateKeySigner, domain: &TokenDomain, authorization: &ExactEvmAuthorization) -> Bytes {
    sign_digest(payer, domain.receive_digest(authorization))
}

fn sign_digest(payer: &PrivateKeySigner, digest: B256) -> Bytes {
    payer.sign_hash_sync(&digest).expect("signing a digest with a local key").as_bytes().to_vec().into()
}

/// `authorization` with its signature, as `BatchSettler.settle` takes it.
pub fn settle_payment(authorization: &ExactEvmAuthorization, signature: Bytes) -> SettlePayment {
    SettlePayment {
        from: authorization.from,
        to: authorization.to,
        value: authorization.value,
        validAfter: authorization.valid_after,
        validBefore: authorization.valid_before,
        nonce: authorization.nonce,
        signature,
    }
}

/// `payer`'s signed transfer of `value` to `to` for `domain`'s token, valid from the epoch until `valid_before`.
pub fn transfer(
    payer: &PrivateKeySigner,
    domain: &TokenDomain,
    to: Address,
    value: U256,
    valid_before: u64,
    nonce: B256,
) -> SettlePayment {
    let authorization = ExactEvmAuthorization {
        from: payer.address(),
        to,
        value,
        valid_after: U256::ZERO,
        valid_before: U256::from(valid_before),
        nonce,
    };
    settle_payment(&authorization, sign_transfer(payer, domain, &authorization))
}
