//! Header decoding and encoding against the reference clients' headers.

use clearing_x402::{
    PaymentPayloadV1, PaymentPayloadV2, PaymentRequest, PaymentRequiredV1, PaymentRequiredV2, PaymentRequirementsV1,
    decode_header, encode_header,
};
use serde_json::Value;

use crate::vectors::{VECTORS, v1_request_json, v2_request_json};

#[test]
fn v2_payment_required_round_trips_byte_for_byte() {
    for v in &VECTORS.x402v2 {
        let decoded: PaymentRequiredV2 = decode_header(&v.payment_required_header).unwrap();
        assert_eq!(serde_json::to_value(&decoded).unwrap(), v.payment_required);
        // Our key order is the reference client's, so the header is reproduced exactly.
        let encoded = encode_header(&decoded).unwrap();
        assert_eq!(encoded, v.payment_required_header);
        assert_eq!(decode_header::<PaymentRequiredV2>(&encoded).unwrap(), decoded);
    }
}

#[test]
fn v2_payment_signature_round_trips_byte_for_byte() {
    for v in &VECTORS.x402v2 {
        let decoded: PaymentPayloadV2 = decode_header(&v.payment_signature_header).unwrap();
        assert_eq!(serde_json::to_value(&decoded).unwrap(), v.payment_payload);
        // `accepted` echoes the chosen requirement verbatim.
        assert_eq!(serde_json::to_value(&decoded.accepted).unwrap(), v.payment_required["accepts"][0]);
        let encoded = encode_header(&decoded).unwrap();
        assert_eq!(encoded, v.payment_signature_header);
        assert_eq!(decode_header::<PaymentPayloadV2>(&encoded).unwrap(), decoded);
        let payload = decoded.payload.exact_evm().unwrap();
        assert_eq!(payload.authorization.from, v.payer);
    }
}

#[test]
fn v1_x_payment_round_trips_byte_for_byte() {
    for v in &VECTORS.x402v1 {
        let decoded: PaymentPayloadV1 = decode_header(&v.x_payment_header).unwrap();
        assert_eq!(serde_json::to_value(&decoded).unwrap(), v.payment_payload);
        let encoded = encode_header(&decoded).unwrap();
        assert_eq!(encoded, v.x_payment_header);
        assert_eq!(decode_header::<PaymentPayloadV1>(&encoded).unwrap(), decoded);
        assert_eq!(decoded.payload.exact_evm().unwrap().authorization.from, v.payer);
    }
}

#[test]
fn v1_bodies_and_requirements_round_trip() {
    for v in &VECTORS.x402v1 {
        // The vector stores the body as a JSON object, not as text, so equality is of JSON values.
        let body: PaymentRequiredV1 = serde_json::from_value(v.payment_required.clone()).unwrap();
        assert_eq!(serde_json::to_value(&body).unwrap(), v.payment_required);
        let requirements: PaymentRequirementsV1 = serde_json::from_value(v.payment_requirements.clone()).unwrap();
        assert_eq!(body.accepts[0], requirements);
        // Lower-case payTo survives: the wire types keep the client's text.
        assert_eq!(serde_json::to_value(&requirements).unwrap(), v.payment_requirements);
    }
}

#[test]
fn facilitator_requests_of_every_vector_round_trip() {
    let bodies = VECTORS.x402v2.iter().map(v2_request_json).chain(VECTORS.x402v1.iter().map(v1_request_json));
    for body in bodies {
        let text = serde_json::to_string(&body).unwrap();
        let request = PaymentRequest::from_json(&text).unwrap();
        assert_eq!(serde_json::to_value(&request).unwrap(), body);
        assert_eq!(serde_json::from_str::<PaymentRequest>(&text).unwrap(), request);
        assert_eq!(serde_json::from_value::<PaymentRequest>(body).unwrap(), request);
        let through_header: Value = decode_header(encode_header(&request).unwrap()).unwrap();
        assert_eq!(PaymentRequest::from_json(&through_header.to_string()).unwrap(), request);
    }
}
