//! Payer signatures: 65-byte ECDSA (parsed with k256, recovered with libsecp256k1), contract-wallet bytes (ERC-1271, checked on
//! chain by the caller) and EIP-6492 wrappers (detected so the caller can refuse them).

use std::fmt;

use alloy_primitives::{Address, B256, Bytes, b256, keccak256};
use alloy_sol_types::SolValue;
use k256::ecdsa::Signature;

use crate::{Error, Result};

/// Length of an ECDSA signature r‖s‖v.
pub const ECDSA_SIGNATURE_LEN: usize = 65;

/// secp256k1n / 2: the largest s a signature may have (EIP-2; FiatToken's `ECRecover.recover` rejects larger s,
/// as does the `ecrecover` wrapper of OpenZeppelin's `ECDSA`).
pub const SECP256K1N_HALF: B256 = b256!("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");

/// The suffix that marks an EIP-6492 wrapped signature (EIP-6492, `magicBytes`).
pub const EIP6492_MAGIC: B256 = b256!("6492649264926492649264926492649264926492649264926492649264926492");

/// An ECDSA signature r‖s‖v with v normalised to a y parity; s is low (EIP-2) and r, s are in range.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EcdsaSignature {
    r: B256,
    s: B256,
    y_parity: bool,
}

impl EcdsaSignature {
    /// Parses 65 bytes r‖s‖v. v may be 27/28 (Ethereum) or 0/1 (y parity); s must be at most secp256k1n/2 and
    /// r, s must be non-zero and below the curve order.
    pub fn from_bytes(bytes: &[u8; ECDSA_SIGNATURE_LEN]) -> Result<Self> {
        let r = B256::from_slice(&bytes[..32]);
        let s = B256::from_slice(&bytes[32..64]);
        let y_parity = match bytes[64] {
            0 | 27 => false,
            1 | 28 => true,
            v => return Err(Error::SignatureV(v)),
        };
        // Big-endian byte strings of equal length compare as the numbers they encode.
        if s > SECP256K1N_HALF {
            return Err(Error::SignatureHighS);
        }
        // Range-check r and s the way recovery will (non-zero, below the order).
        Signature::from_scalars(r.0, s.0).map_err(|_| Error::SignatureScalar)?;
        Ok(Self { r, s, y_parity })
    }

    /// r.
    pub const fn r(&self) -> B256 {
        self.r
    }

    /// s (low).
    pub const fn s(&self) -> B256 {
        self.s
    }

    /// The y parity of the signature's R point.
    pub const fn y_parity(&self) -> bool {
        self.y_parity
    }

    /// v as FiatToken's `(v, r, s)` overloads want it: 27 or 28.
    pub const fn v(&self) -> u8 {
        27 + self.y_parity as u8
    }

    /// The 65 bytes r‖s‖v with v = 27/28 (what the `bytes signature` overloads accept).
    pub fn to_bytes(&self) -> [u8; ECDSA_SIGNATURE_LEN] {
        let mut out = [0u8; ECDSA_SIGNATURE_LEN];
        out[..32].copy_from_slice(self.r.as_slice());
        out[32..64].copy_from_slice(self.s.as_slice());
        out[64] = self.v();
        out
    }

    /// Recovers the signer of `prehash` (an EIP-712 digest) with libsecp256k1 (about 41 µs against k256 0.14's
    /// 72 µs on one core of a 2-core AMD EPYC VM): the address is the last 20 bytes of keccak256 of the uncompressed public key without its 0x04
    /// prefix. Allocation-free.
    pub fn recover(&self, prehash: &B256) -> Result<Address> {
        use secp256k1::{
            Message, SECP256K1,
            ecdsa::{RecoverableSignature, RecoveryId},
        };
        let mut compact = [0u8; 64];
        compact[..32].copy_from_slice(self.r.as_slice());
        compact[32..].copy_from_slice(self.s.as_slice());
        let recovery_id = if self.y_parity { RecoveryId::One } else { RecoveryId::Zero };
        let signature =
            RecoverableSignature::from_compact(&compact, recovery_id).map_err(|_| Error::SignatureScalar)?;
        let key = SECP256K1.recover_ecdsa(Message::from_digest(prehash.0), &signature).map_err(|_| Error::Recovery)?;
        let hash = keccak256(&key.serialize_uncompressed()[1..]);
        Ok(Address::from_slice(&hash[12..]))
    }
}

impl fmt::Debug for EcdsaSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EcdsaSignature(<65 bytes>)")
    }
}

/// An EIP-6492 signature: `abi.encode(factory, factoryCalldata, innerSignature) ‖ magic`, made by a wallet
/// that may not be deployed yet; verifying it means calling `factory` with `factoryCalldata` first.
#[derive(Clone, PartialEq, Eq)]
pub struct Eip6492Signature {
    /// The factory that deploys the wallet.
    pub factory: Address,
    /// The call that deploys it.
    pub factory_calldata: Bytes,
    /// The signature the deployed wallet's `isValidSignature` checks.
    pub inner: Bytes,
}

impl fmt::Debug for Eip6492Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Eip6492Signature")
            .field("factory", &self.factory)
            .field("factory_calldata", &format_args!("<{} bytes>", self.factory_calldata.len()))
            .field("inner", &format_args!("<{} bytes>", self.inner.len()))
            .finish()
    }
}

/// What kind of signature a payer sent.
#[derive(Clone, PartialEq, Eq)]
pub enum PayerSignature {
    /// 65 bytes r‖s‖v, valid as ECDSA: recoverable here.
    Ecdsa(EcdsaSignature),
    /// Opaque bytes for a contract wallet's ERC-1271 `isValidSignature`; only the chain can check them.
    Contract(Bytes),
    /// An EIP-6492 wrapper (counterfactual wallet).
    Eip6492(Eip6492Signature),
}

/// The longest payer signature taken: a passkey wallet's WebAuthn signature inside an EIP-6492 wrapper with its
/// factory's deploy calldata fits in a few kilobytes. Anything longer is refused at verify, before it is queued: a
/// settlement batch is one transaction, which nodes refuse past 128 KiB, and every item of it waits on that one.
pub const MAX_SIGNATURE_LEN: usize = 8_192;

impl PayerSignature {
    /// Classifies signature bytes: 65 bytes must be valid ECDSA ([`EcdsaSignature::from_bytes`]); longer bytes
    /// ending in [`EIP6492_MAGIC`] are an EIP-6492 wrapper (which must decode); other longer bytes are a
    /// contract signature; shorter ones are an error.
    ///
    /// A 65-byte signature that fails here may still be valid for a contract wallet (FiatToken uses only
    /// ERC-1271 when the signer has code); [`crate::verify_exact`] treats it so when told the payer has code.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_SIGNATURE_LEN {
            return Err(Error::SignatureLength(bytes.len()));
        }
        match <&[u8; ECDSA_SIGNATURE_LEN]>::try_from(bytes) {
            Ok(exact) => EcdsaSignature::from_bytes(exact).map(Self::Ecdsa),
            Err(_) if bytes.len() < ECDSA_SIGNATURE_LEN => Err(Error::SignatureLength(bytes.len())),
            Err(_) => match bytes.strip_suffix(EIP6492_MAGIC.as_slice()) {
                Some(wrapped) => {
                    let (factory, factory_calldata, inner) =
                        <(Address, Bytes, Bytes)>::abi_decode_params(wrapped).map_err(|_| Error::Eip6492Wrapper)?;
                    Ok(Self::Eip6492(Eip6492Signature { factory, factory_calldata, inner }))
                }
                None => Ok(Self::Contract(Bytes::copy_from_slice(bytes))),
            },
        }
    }

    /// Whether `bytes` end in the EIP-6492 magic suffix (without decoding the wrapper).
    pub fn is_eip6492(bytes: &[u8]) -> bool {
        bytes.len() > EIP6492_MAGIC.len() && bytes.ends_with(EIP6492_MAGIC.as_slice())
    }
}

impl fmt::Debug for PayerSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ecdsa(s) => f.debug_tuple("Ecdsa").field(s).finish(),
            Self::Contract(b) => write!(f, "Contract(<{} bytes>)", b.len()),
            Self::Eip6492(s) => f.debug_tuple("Eip6492").field(s).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{U256, address, hex};

    use super::*;

    // The first eip712 vector of tests/vectors: digest, signature and signer.
    const DIGEST: B256 = b256!("43b67b6f5499e3e75d0d3f097552d21671e278e2dfe51df6dd52a9702ae80ff5");
    const SIG: [u8; 65] = hex!(
        "9dcac852855b9268eff924ff0e7992096c0d3e0b7d691385fbde12b5e4e4dc024965c72f3c54c7634687958127a93f1c68dac486d1c4638ed86b4623bf664cd01c"
    );
    const SIGNER: Address = address!("5B14ED61fbb646cEd04971501BcdC68e19384881");

    /// secp256k1n.
    const N: U256 = U256::from_be_slice(&hex!("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"));

    #[test]
    fn recovers_the_vector_signer_with_either_v_form() {
        let sig = EcdsaSignature::from_bytes(&SIG).unwrap();
        assert_eq!(sig.v(), 28);
        assert_eq!(sig.recover(&DIGEST).unwrap(), SIGNER);
        let mut zero_one = SIG;
        zero_one[64] = 1;
        assert_eq!(EcdsaSignature::from_bytes(&zero_one).unwrap(), sig);
        assert_eq!(sig.to_bytes(), SIG);
        let mut flipped = SIG;
        flipped[64] = 27;
        assert_ne!(EcdsaSignature::from_bytes(&flipped).unwrap().recover(&DIGEST).ok(), Some(SIGNER));
    }

    #[test]
    fn rejects_bad_v_high_s_and_zero_scalars() {
        for v in [2u8, 26, 29, 35, 255] {
            let mut bad = SIG;
            bad[64] = v;
            assert!(matches!(EcdsaSignature::from_bytes(&bad), Err(Error::SignatureV(got)) if got == v));
        }
        // The malleable twin (n - s, v flipped) recovers the same key but is refused, as FiatToken refuses it.
        let s = U256::from_be_slice(&SIG[32..64]);
        let mut twin = SIG;
        twin[32..64].copy_from_slice(&(N - s).to_be_bytes::<32>());
        twin[64] = 27;
        assert!(matches!(EcdsaSignature::from_bytes(&twin), Err(Error::SignatureHighS)));
        let mut half = SIG;
        half[32..64].copy_from_slice(SECP256K1N_HALF.as_slice());
        assert!(EcdsaSignature::from_bytes(&half).is_ok());
        let mut zero_r = SIG;
        zero_r[..32].fill(0);
        assert!(matches!(EcdsaSignature::from_bytes(&zero_r), Err(Error::SignatureScalar)));
        let mut big_r = SIG;
        big_r[..32].fill(0xff);
        assert!(matches!(EcdsaSignature::from_bytes(&big_r), Err(Error::SignatureScalar)));
    }

    #[test]
    fn classifies_by_length_and_suffix() {
        assert!(matches!(PayerSignature::parse(&SIG), Ok(PayerSignature::Ecdsa(_))));
        assert!(matches!(PayerSignature::parse(&SIG[..64]), Err(Error::SignatureLength(64))));
        assert!(matches!(PayerSignature::parse(&[]), Err(Error::SignatureLength(0))));
        let huge = vec![0x11; MAX_SIGNATURE_LEN + 1];
        assert!(matches!(PayerSignature::parse(&huge), Err(Error::SignatureLength(8_193))));
        assert!(matches!(PayerSignature::parse(&huge[..MAX_SIGNATURE_LEN]), Ok(PayerSignature::Contract(_))));
        let long = [SIG.as_slice(), &[0u8; 30]].concat();
        assert!(matches!(PayerSignature::parse(&long), Ok(PayerSignature::Contract(b)) if b.len() == 95));

        let factory = address!("0000000000000000000000000000000000006492");
        let calldata = Bytes::from_static(&[0xde, 0xad]);
        let inner = Bytes::copy_from_slice(&SIG);
        let wrapped = [(factory, calldata.clone(), inner.clone()).abi_encode_params(), EIP6492_MAGIC.to_vec()].concat();
        assert!(PayerSignature::is_eip6492(&wrapped));
        match PayerSignature::parse(&wrapped).unwrap() {
            PayerSignature::Eip6492(s) => {
                assert_eq!((s.factory, s.factory_calldata, s.inner), (factory, calldata, inner));
            }
            other => panic!("{other:?}"),
        }
        let garbage = [[7u8; 40].as_slice(), EIP6492_MAGIC.as_slice()].concat();
        assert!(matches!(PayerSignature::parse(&garbage), Err(Error::Eip6492Wrapper)));
        assert!(!PayerSignature::is_eip6492(EIP6492_MAGIC.as_slice()));
    }
}
