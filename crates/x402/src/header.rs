//! HTTP header codecs: every x402 header value is base64 (standard alphabet, padded) of UTF-8 JSON.

use base64::{
    Engine,
    alphabet::STANDARD,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{Result, X402Version};

/// v1: the payment a client retries with (base64 JSON `PaymentPayloadV1`).
pub const X_PAYMENT: &str = "X-PAYMENT";
/// v1: the settlement result on the paid response (base64 JSON `SettleResponse`).
pub const X_PAYMENT_RESPONSE: &str = "X-PAYMENT-RESPONSE";
/// v2: the 402 response's requirements (base64 JSON `PaymentRequiredV2`).
pub const PAYMENT_REQUIRED: &str = "PAYMENT-REQUIRED";
/// v2: the payment a client retries with (base64 JSON `PaymentPayloadV2`).
pub const PAYMENT_SIGNATURE: &str = "PAYMENT-SIGNATURE";
/// v2: the settlement result on the paid response (base64 JSON `SettleResponse`).
pub const PAYMENT_RESPONSE: &str = "PAYMENT-RESPONSE";

/// The header a settlement result rides in on the paid response, in the payment's protocol `version`.
pub const fn response_header(version: X402Version) -> &'static str {
    match version {
        X402Version::V1 => X_PAYMENT_RESPONSE,
        X402Version::V2 => PAYMENT_RESPONSE,
    }
}

/// Decoding accepts the standard alphabet with or without padding (clients differ); encoding always pads.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes `value` as a header value: base64 (standard, padded) of its compact JSON.
pub fn encode_header<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let json = serde_json::to_vec(value)?;
    Ok(general_purpose::STANDARD.encode(json))
}

/// Decodes a header value: base64 (standard alphabet; surrounding ASCII whitespace ignored) of UTF-8 JSON.
pub fn decode_header<T: DeserializeOwned>(value: impl AsRef<[u8]>) -> Result<T> {
    let bytes = LENIENT.decode(value.as_ref().trim_ascii())?;
    let text = std::str::from_utf8(&bytes)?;
    Ok(serde_json::from_str(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn round_trip_is_padded_standard_base64() {
        let value = serde_json::json!({"a": "ü?>"});
        let header = encode_header(&value).unwrap();
        assert_eq!(header, general_purpose::STANDARD.encode("{\"a\":\"ü?>\"}"));
        assert!(header.len().is_multiple_of(4));
        let back: serde_json::Value = decode_header(&header).unwrap();
        assert_eq!(back, value);
        let unpadded = header.trim_end_matches('=');
        assert_eq!(decode_header::<serde_json::Value>(unpadded).unwrap(), value);
        assert_eq!(decode_header::<serde_json::Value>(format!(" {header}\t")).unwrap(), value);
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(decode_header::<serde_json::Value>("not base64!"), Err(Error::Base64(_))));
        assert!(matches!(decode_header::<serde_json::Value>("eyJh-_"), Err(Error::Base64(_))));
        let not_utf8 = general_purpose::STANDARD.encode([0xff, 0xfe]);
        assert!(matches!(decode_header::<serde_json::Value>(not_utf8), Err(Error::Utf8(_))));
        let not_json = general_purpose::STANDARD.encode("{\"a\":");
        match decode_header::<serde_json::Value>(not_json) {
            Err(Error::Json(e)) => assert!(e.to_string().contains("EOF"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
