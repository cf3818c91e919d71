//! Whether someone else's transaction carried a payment: anyone who sees an x402 payment in flight can submit its
//! authorization to the token first. The token then moved exactly what the payer signed (`value` from the payer to
//! `payTo`), and only the gas was someone else's; our own settle is refused "nonce already used". A caller that sells
//! something for a payment to an account (not into a contract, whose booking the transfer alone does not make) can
//! count such a payment as paid, once, from this evidence ([`Verifier::used_by`]).
//!
//! The evidence is the token's own logs in one successful transaction: `AuthorizationUsed(payer, nonce)` (emitted
//! only when an authorization with that nonce moved money; a cancel emits `AuthorizationCanceled`), and as the very
//! next log `Transfer(payer, payTo, value)`, which the token emits right after it. A payer may sign two authorizations
//! with one nonce; that transfer says which one the token executed, so a payment that was not the one carried is never
//! counted, and one transfer never vouches for two authorizations.

use alloy::{
    primitives::{Address, TxHash},
    providers::Provider,
    rpc::types::{Filter, Log},
    sol_types::SolEvent,
};
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
            let expected = Transfer { from: payer, to: authorization.to, value: authorization.value };
            if carried(receipt.inner.logs(), index, token, &expected) {
                return Ok(Some(UsedBy { transaction, block }));
            }
        }
        Ok(None)
    }
}

/// Whether `logs` (one transaction's) hold `expected`, emitted by `token` as the log right after the
/// `AuthorizationUsed` at `used_index`: the token emits the transfer right after marking the authorization used
/// (FiatToken v2.2's `_markAuthorizationAsUsed`, then `_transfer`), so any other transfer belongs to something else.
fn carried(logs: &[Log], used_index: u64, token: Address, expected: &Transfer) -> bool {
    logs.iter().any(|log| {
        log.log_index == Some(used_index + 1)
            && log.address() == token
            && log.topic0() == Some(&Transfer::SIGNATURE_HASH)
            && Transfer::decode_log_data(&log.inner.data)
                .is_ok_and(|t| t.from == expected.from && t.to == expected.to && t.value == expected.value)
    })
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, B256, LogData, U256};

    use super::*;

    fn log(index: u64, address: Address, data: LogData) -> Log {
        Log { inner: alloy::primitives::Log { address, data }, log_index: Some(index), ..Log::default() }
    }

    #[test]
    fn only_the_transfer_right_after_the_authorization_carries_it() {
        let (token, payer, fee) = (Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3));
        let to_fee = Transfer { from: payer, to: fee, value: U256::from(10_000) };
        let to_self = Transfer { from: payer, to: payer, value: U256::ZERO };
        let used =
            |nonce: u8| AuthorizationUsed { authorizer: payer, nonce: B256::repeat_byte(nonce) }.encode_log_data();
        // One transaction carrying two authorizations: N1 paid the fee, N2 paid the payer itself.
        let logs = vec![
            log(4, token, used(1)),
            log(5, token, to_fee.encode_log_data()),
            log(6, token, used(2)),
            log(7, token, to_self.encode_log_data()),
        ];
        assert!(carried(&logs, 4, token, &to_fee), "N1 carried the fee");
        // A payment to the fee recipient signed under N2 was not carried: the transfer before N2's log is N1's.
        assert!(!carried(&logs, 6, token, &to_fee));
        assert!(carried(&logs, 6, token, &to_self));
        // Another contract's log, or other terms, never count.
        let elsewhere = vec![log(4, token, used(1)), log(5, Address::repeat_byte(9), to_fee.encode_log_data())];
        assert!(!carried(&elsewhere, 4, token, &to_fee));
        let more = Transfer { value: U256::from(20_000), ..to_fee.clone() };
        assert!(!carried(&logs, 4, token, &more));
    }
}
