use alloy::{
    network::EthereumWallet,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};

use crate::{Error, Result};

/// The provider every crate uses: type-erased so callers never spell the filler stack.
pub type ChainProvider = DynProvider;

/// A read-only provider for `rpc_url`.
pub fn connect(rpc_url: &str) -> Result<ChainProvider> {
    let url = parse_url(rpc_url)?;
    Ok(ProviderBuilder::new().connect_http(url).erased())
}

/// A provider for `rpc_url` that signs and sends transactions from `signer`, filling nonce, gas and fees.
pub fn connect_with_signer(rpc_url: &str, signer: PrivateKeySigner) -> Result<ChainProvider> {
    let url = parse_url(rpc_url)?;
    Ok(ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(url).erased())
}

fn parse_url(rpc_url: &str) -> Result<alloy::transports::http::reqwest::Url> {
    rpc_url.parse().map_err(|e| Error::InvalidUrl { url: rpc_url.to_owned(), reason: format!("{e}") })
}
