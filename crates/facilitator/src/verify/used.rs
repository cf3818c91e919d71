//! Whether someone else's transaction carried a payment: anyone who sees an x402 payment in flight can submit its
//! authorization to the token first. The token then moved exactly what the payer signed (`value` from the payer to
//! `payTo`), and only the gas was someone else's; our own settle is refused "nonce already used". A caller that sells
//! something for a payment to an account (not into a contract, whose booking the transfer alone does not make) can
//! count such a payment as paid, once, from this evidence ([`Verifier::used_by`]).
//!
//! The evidence is the token's own logs in one successful transaction: `AuthorizationUsed(payer, nonce)` (emitted
//! only when an authorization with that nonce moved money; a cancel emits `AuthorizationCanceled`), and next to it
//! `Transfer(payer, payTo, value)`. A payer may sign two authorizations with one nonce; the adjacent transfer says
//! which one the token executed, so a payment that was not the one carried is never counted.

use alloy::{primitives::TxHash, providers::Provider, rpc::types::Filter, sol_types::SolEvent};
use clearing_x402::{PaymentRequest, SignatureCheck};

use super::{
    ReadError, Verifier, WalletSignature,
    guard::{AuthorizationUsed, Transfer},
};

/// How far back the token's logs are searched for the transaction that used an authorization: a front-run comes
/// within seconds of the payment being sent, and one range of this size is one `eth_getLogs` every common RPC
/// provider answers (about 33 minutes on Base).
pub const USED_BY_LOOKBACK_BLOCKS: u64 = 1_000;

/// The transaction that carried a payment, by the token's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsedBy {
    /// The transaction: the token emitted `AuthorizationUsed` and the payment's `Transfer` in it.
    pub transaction: TxHash,
    /// Its block.
    pub block: u64,
}

impl Verifier {
    /// The transaction that moved `request`'s payment, if one did in the last [`USED_BY_LOOKBACK_BLOCKS`] blocks:
    /// its authorization used, and its exact transfer (payer, payTo, value) made, in one successful transaction.
    /// `None` when the payment fails the checks that need no chain (a forgery never matches), when a wallet payer's
    /// signature is not valid by its own ERC-1271 answer, or when no such transaction is found. Whose transaction it
    /// was is not looked at: a payment this facilitator settled is found too, which its queue answers first.
    pub async fn used_by(&self, request: &PaymentRequest) -> Result<Option<UsedBy>, ReadError> {
        let Ok(payment) = self.precheck(request) else { return Ok(None) };
        let (chain_id, token) = (payment.network.chain_id(), payment.domain.token());
        let (payer, authorization) = (payment.payer, &payment.authorization);
        if payment.signature_check == SignatureCheck::NeedsContractCheck {
            let signature = super::token_signature(&payment.signature);
            let verdict = self.wallet_signature(chain_id, token, payer, payment.digest, signature).await?;
            // A wallet with no code signs only by ECDSA, which precheck would have settled.
            if verdict != WalletSignature::Valid {
                return Ok(None);
            }
        }
        let coalescer = self.chains.get(&chain_id).ok_or(ReadError::UnservedChain(chain_id))?;
        let provider = coalescer.provider();
        let rpc = |e: alloy::transports::TransportError| ReadError::Rpc(e.to_string());
        let head = provider.get_block_number().await.map_err(rpc)?;
        let filter = Filter::new()
            .address(token)
            .event_signature(AuthorizationUsed::SIGNATURE_HASH)
            .topic1(payer.into_word())
            .topic2(authorization.nonce)
            .from_block(head.saturating_sub(USED_BY_LOOKBACK_BLOCKS))
            .to_block(head);
        for used in provider.get_logs(&filter).await.map_err(rpc)? {
            let (Some(transaction), Some(index), Some(block)) =
                (used.transaction_hash, used.log_index, used.block_number)
            else {
                continue;
            };
            if used.removed {
                continue;
            }
            let Some(receipt) = provider.get_transaction_receipt(transaction).await.map_err(rpc)? else { continue };
            if !receipt.status() {
                continue;
            }
            let carried = receipt.inner.logs().iter().any(|log| {
                let adjacent = log.log_index.is_some_and(|i| i.abs_diff(index) == 1);
                adjacent
                    && log.address() == token
                    && log.topic0() == Some(&Transfer::SIGNATURE_HASH)
                    && Transfer::decode_log_data(&log.inner.data)
                        .is_ok_and(|t| t.from == payer && t.to == authorization.to && t.value == authorization.value)
            });
            if carried {
                return Ok(Some(UsedBy { transaction, block }));
            }
        }
        Ok(None)
    }
}
