//! The answers the paywall writes itself: 402 (both protocol versions at once), 502, and the settlement header.

use axum::{
    Json,
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use clearing_x402::{Price, SettleResponse, X402Version, encode_header};
use serde::Serialize;

/// `PAYMENT-REQUIRED`, as the lower-case [`HeaderName`] the `http` crate stores.
pub(crate) const PAYMENT_REQUIRED: HeaderName = HeaderName::from_static("payment-required");
/// `PAYMENT-SIGNATURE`.
pub(crate) const PAYMENT_SIGNATURE: HeaderName = HeaderName::from_static("payment-signature");
/// `PAYMENT-RESPONSE`.
pub(crate) const PAYMENT_RESPONSE: HeaderName = HeaderName::from_static("payment-response");
/// `X-PAYMENT`.
pub(crate) const X_PAYMENT: HeaderName = HeaderName::from_static("x-payment");
/// `X-PAYMENT-RESPONSE`.
pub(crate) const X_PAYMENT_RESPONSE: HeaderName = HeaderName::from_static("x-payment-response");

/// The `error` of the 502 the paywall answers when the facilitator cannot be reached or answers nonsense.
pub const FACILITATOR_ERROR: &str = "facilitator_error";

/// The header carrying a settlement result in `version`.
pub(crate) const fn response_header(version: X402Version) -> HeaderName {
    match version {
        X402Version::V1 => X_PAYMENT_RESPONSE,
        X402Version::V2 => PAYMENT_RESPONSE,
    }
}

fn header_value<T: Serialize>(value: &T) -> HeaderValue {
    let encoded = encode_header(value).expect("x402 response types always serialise");
    HeaderValue::try_from(encoded).expect("base64 is a valid header value")
}

/// A 402 for `resource` saying `error`, readable by either protocol version: the v1 JSON body
/// `{x402Version:1, error, accepts}` (`accepts` empty when the network has no v1 name) and the v2
/// `PAYMENT-REQUIRED` header. A failed settlement rides along in the payment-response header of its version.
pub(crate) fn payment_required(
    price: &Price,
    resource: &str,
    error: &str,
    settlement: Option<(X402Version, &SettleResponse)>,
) -> Response {
    let challenge = price.challenge(resource, error);
    let mut response = (StatusCode::PAYMENT_REQUIRED, Json(challenge.v1)).into_response();
    let headers = response.headers_mut();
    headers.insert(PAYMENT_REQUIRED, header_value(&challenge.v2));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some((version, settle)) = settlement {
        headers.insert(response_header(version), header_value(settle));
    }
    response
}

/// Adds the settlement result to a paid response, in the header of `version`.
pub(crate) fn attach_settlement(response: &mut Response, version: X402Version, settle: &SettleResponse) {
    response.headers_mut().insert(response_header(version), header_value(settle));
}

#[derive(Serialize)]
struct FacilitatorErrorBody {
    error: &'static str,
    message: &'static str,
}

/// The opaque 502 answered when the facilitator is unreachable or its answer unreadable; the detail is logged.
pub(crate) fn facilitator_error() -> Response {
    let body = FacilitatorErrorBody {
        error: FACILITATOR_ERROR,
        message: "the payment facilitator could not be reached or gave no usable answer; the resource was not served",
    };
    (StatusCode::BAD_GATEWAY, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_the_wire_names() {
        let pairs = [
            (PAYMENT_REQUIRED, clearing_x402::PAYMENT_REQUIRED),
            (PAYMENT_SIGNATURE, clearing_x402::PAYMENT_SIGNATURE),
            (PAYMENT_RESPONSE, clearing_x402::PAYMENT_RESPONSE),
            (X_PAYMENT, clearing_x402::X_PAYMENT),
            (X_PAYMENT_RESPONSE, clearing_x402::X_PAYMENT_RESPONSE),
        ];
        for (name, wire) in pairs {
            assert_eq!(name, HeaderName::from_bytes(wire.as_bytes()).unwrap(), "{wire}");
        }
    }
}
