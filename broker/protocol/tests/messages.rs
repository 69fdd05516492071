//! Generated Kafka messages against byte layouts written out by hand from Kafka's specs,
//! and decoding of hostile input.

use brook_protocol::messages::{
    api_versions_response, decode_request, decode_request_header, decode_response,
    metadata_request::MetadataRequestTopic, produce_request, request_header_version,
    ApiVersionsRequest, ApiVersionsResponse, DecodeError, MetadataRequest, ProduceRequest,
    RequestBody, RequestHeader, ResponseHeader, Uuid, APIS,
};
use bytes::Bytes;
use proptest::prelude::*;

/// Encodes `$value` at `$version`, compares with `$bytes`, decodes the bytes back, and
/// checks that every strict prefix fails to decode (without panicking).
macro_rules! check_bytes {
    ($t:ty, $value:expr, $version:expr, $bytes:expr) => {{
        let value: $t = $value;
        let expected: &[u8] = &$bytes;
        let mut out = Vec::new();
        value.encode($version, &mut out).expect("encodes");
        assert_eq!(out, expected, "encoding of {value:?}");
        let mut buf = expected;
        let back = <$t>::decode(&mut buf, $version).expect("decodes");
        assert!(buf.is_empty(), "trailing bytes");
        assert_eq!(back, value);
        for cut in 0..expected.len() {
            let mut b = &expected[..cut];
            assert!(
                <$t>::decode(&mut b, $version).is_err(),
                "prefix {cut} decoded"
            );
        }
    }};
}

#[test]
fn request_header_v1() {
    check_bytes!(
        RequestHeader,
        RequestHeader {
            request_api_key: 3,
            request_api_version: 1,
            correlation_id: 7,
            client_id: Some("cli".into()),
        },
        1,
        [
            0x00, 0x03, // request_api_key: int16 3 (Metadata)
            0x00, 0x01, // request_api_version: int16 1
            0x00, 0x00, 0x00, 0x07, // correlation_id: int32 7
            0x00, 0x03, b'c', b'l', b'i', // client_id: nullable string, int16 length 3
        ]
    );
    // A null client id is length -1.
    check_bytes!(
        RequestHeader,
        RequestHeader {
            request_api_key: 0,
            request_api_version: 3,
            correlation_id: -1,
            client_id: None,
        },
        1,
        [0x00, 0x00, 0x00, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
    );
}

#[test]
fn request_header_v2() {
    check_bytes!(
        RequestHeader,
        RequestHeader {
            request_api_key: 18,
            request_api_version: 3,
            correlation_id: 1,
            client_id: Some("cli".into()),
        },
        2,
        [
            0x00, 0x12, // request_api_key: int16 18 (ApiVersions)
            0x00, 0x03, // request_api_version: int16 3
            0x00, 0x00, 0x00, 0x01, // correlation_id: int32 1
            // client_id keeps the int16 length even in v2 ("flexibleVersions": "none")
            0x00, 0x03, b'c', b'l', b'i', //
            0x00, // tagged fields: none
        ]
    );
}

#[test]
fn response_headers() {
    check_bytes!(
        ResponseHeader,
        ResponseHeader { correlation_id: 9 },
        0,
        [0x00, 0x00, 0x00, 0x09]
    );
    check_bytes!(
        ResponseHeader,
        ResponseHeader { correlation_id: 9 },
        1,
        [0x00, 0x00, 0x00, 0x09, 0x00] // + empty tagged fields
    );
}

#[test]
fn api_versions_request_v3() {
    check_bytes!(
        ApiVersionsRequest,
        ApiVersionsRequest {
            client_software_name: "brook".into(),
            client_software_version: "0.1.0".into(),
        },
        3,
        [
            0x06, b'b', b'r', b'o', b'o', b'k', // compact string: varint len+1 = 6, "brook"
            0x06, b'0', b'.', b'1', b'.', b'0', // compact string: 6, "0.1.0"
            0x00, // tagged fields: none
        ]
    );
    // v0-v2 have no fields at all, and the client software fields are ignorable.
    let mut out = Vec::new();
    ApiVersionsRequest {
        client_software_name: "brook".into(),
        client_software_version: "0.1.0".into(),
    }
    .encode(2, &mut out)
    .expect("ignorable fields are dropped");
    assert!(out.is_empty());
}

#[test]
fn api_versions_response_v3_with_a_tagged_field() {
    check_bytes!(
        ApiVersionsResponse,
        ApiVersionsResponse {
            error_code: 0,
            api_keys: vec![api_versions_response::ApiVersion {
                api_key: 18,
                min_version: 0,
                max_version: 4,
            }],
            throttle_time_ms: 0,
            finalized_features_epoch: 5,
            ..ApiVersionsResponse::default()
        },
        3,
        [
            0x00, 0x00, // error_code: int16 0
            0x02, // api_keys: compact array, varint len+1 = 2
            0x00, 0x12, 0x00, 0x00, 0x00, 0x04, // api_key 18, min 0, max 4
            0x00, // (ApiVersion) tagged fields: none
            0x00, 0x00, 0x00, 0x00, // throttle_time_ms: int32 0
            0x01, // tagged fields: 1 field
            0x01, 0x08, // tag 1 (FinalizedFeaturesEpoch), size 8
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, // int64 5
        ]
    );
}

#[test]
fn metadata_request_v1() {
    check_bytes!(
        MetadataRequest,
        MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some("foo".into()),
                ..MetadataRequestTopic::default()
            }]),
            ..MetadataRequest::default()
        },
        1,
        [
            0x00, 0x00, 0x00, 0x01, // topics: int32 count 1
            0x00, 0x03, b'f', b'o', b'o', // name: int16 length 3, "foo"
        ]
    );
    // From v1 a null array asks for all topics.
    check_bytes!(
        MetadataRequest,
        MetadataRequest {
            topics: None,
            ..MetadataRequest::default()
        },
        1,
        [0xff, 0xff, 0xff, 0xff]
    );
}

#[test]
fn metadata_request_v12() {
    let mut id = [0u8; 16];
    id[15] = 0x2a;
    check_bytes!(
        MetadataRequest,
        MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                topic_id: Uuid(id),
                name: Some("foo".into()),
            }]),
            allow_auto_topic_creation: true,
            include_cluster_authorized_operations: false,
            include_topic_authorized_operations: true,
        },
        12,
        [
            0x02, // topics: compact array, varint count+1 = 2
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // topic_id: uuid (16 bytes)
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, //
            0x04, b'f', b'o', b'o', // name: compact nullable string, varint len+1 = 4
            0x00, // (topic) tagged fields: none
            0x01, // allow_auto_topic_creation: true
            // include_cluster_authorized_operations: only in v8-10
            0x01, // include_topic_authorized_operations: true
            0x00, // tagged fields: none
        ]
    );
}

#[test]
fn produce_request_v3() {
    check_bytes!(
        ProduceRequest,
        ProduceRequest {
            transactional_id: None,
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![produce_request::TopicProduceData {
                name: "t".into(),
                partition_data: vec![produce_request::PartitionProduceData {
                    index: 0,
                    records: Some(Bytes::from_static(&[1, 2, 3])),
                }],
            }],
        },
        3,
        [
            0xff, 0xff, // transactional_id: nullable string, null (-1)
            0xff, 0xff, // acks: int16 -1
            0x00, 0x00, 0x75, 0x30, // timeout_ms: int32 30000
            0x00, 0x00, 0x00, 0x01, // topic_data: int32 count 1
            0x00, 0x01, b't', // name: int16 length 1, "t"
            0x00, 0x00, 0x00, 0x01, // partition_data: int32 count 1
            0x00, 0x00, 0x00, 0x00, // index: int32 0
            0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x03, // records: int32 length 3 + bytes
        ]
    );
}

/// The `kafka-protocol` 0.18 crate aborts on this 4-byte MetadataRequest body: it
/// pre-allocates an array of 0x7fffffff topics. We must return an error.
#[test]
fn huge_array_count_is_an_error_not_an_abort() {
    let body = [0x7f, 0xff, 0xff, 0xff];
    for version in 0..=12 {
        let r = decode_request(MetadataRequest::API_KEY, version, &body);
        assert!(r.is_err(), "v{version}: {r:?}");
    }
    assert!(matches!(
        decode_request(3, 1, &body),
        Err(DecodeError::ArrayTooLong {
            count: 0x7fff_ffff,
            remaining: 0
        })
    ));
}

#[test]
fn a_whole_request_frame() {
    // Header v2 (ApiVersions v3 is flexible) followed by the body.
    let mut frame = Vec::new();
    let header = RequestHeader {
        request_api_key: ApiVersionsRequest::API_KEY,
        request_api_version: 3,
        correlation_id: 42,
        client_id: Some("kcat".into()),
    };
    let version = request_header_version(18, 3).expect("known api");
    assert_eq!(version, 2);
    header.encode(version, &mut frame).expect("header");
    let body = ApiVersionsRequest {
        client_software_name: "kcat".into(),
        client_software_version: "1.7".into(),
    };
    body.encode(3, &mut frame).expect("body");
    let mut buf = &frame[..];
    let h = decode_request_header(&mut buf).expect("header decodes");
    assert_eq!(h, header);
    let b = decode_request(h.request_api_key, h.request_api_version, buf).expect("body");
    assert_eq!(b, RequestBody::ApiVersions(body));
}

/// Bodies encoded by kafka-python 2.0.2 (an implementation independent of ours; the
/// script that produced them is in the comment below). Each must decode, and re-encode to
/// the same bytes.
///
/// ```text
/// from kafka.protocol.metadata import MetadataRequest
/// MetadataRequest[1](topics=['foo', 'bar']).encode().hex()   # and so on for each API
/// ```
const KAFKA_PYTHON_BODIES: &[(&str, i16, i16, &str)] = &[
    ("req", 3, 1, "000000020003666f6f0003626172"),
    ("req", 3, 4, "ffffffff00"),
    ("resp", 3, 5, "00000001000000010000000100016800002384000172000163000000010000000100000001740000000001000000000000000000010000000100000001000000010000000100000000"),
    ("req", 0, 3, "ffffffff0000753000000001000174000000010000000000000003010203"),
    ("resp", 0, 5, "0000000100017400000001000000000000000000000000000affffffffffffffff000000000000000000000000"),
    ("req", 1, 4, "ffffffff000001f400000001000003e8010000000100017400000001000000000000000000000005000003e8"),
    ("resp", 1, 4, "000000000000000100017400000001000000000000000000000000000a00000000000000090000000100000000000000010000000000000002000000020001"),
    ("req", 11, 2, "000167000027100000753000000008636f6e73756d657200000001000572616e6765000000020001"),
    ("resp", 11, 2, "00000000000000000001000572616e676500016d00016d0000000100016d0000000101"),
    ("req", 14, 1, "0001670000000100016d0000000100016d0000000102"),
    ("req", 12, 1, "0001670000000100016d"),
    ("req", 13, 1, "00016700016d"),
    ("req", 8, 2, "0001670000000100016dffffffffffffffff000000010001740000000100000000000000000000000500046d657461"),
    ("req", 9, 2, "000167ffffffff"),
    ("resp", 9, 3, "000000000000000100017400000001000000000000000000000005000000000000"),
    ("req", 10, 1, "00016700"),
    ("req", 2, 2, "ffffffff00000000010001740000000100000000ffffffffffffffff"),
    ("resp", 2, 2, "000000000000000100017400000001000000000000ffffffffffffffff0000000000000007"),
    ("req", 19, 1, "000000010001740000000300010000000000000001000e636c65616e75702e706f6c6963790007636f6d70616374000003e800"),
    ("req", 32, 1, "0000000102000174ffffffff01"),
    ("resp", 18, 1, "00000000000200000000000800030000000900000000"),
    ("req", 15, 1, "00000001000167"),
    ("resp", 16, 1, "000000000000000000010001670008636f6e73756d6572"),
    ("req", 20, 1, "00000001000174000003e8"),
    ("req", 37, 0, "0000000100017400000004ffffffff000003e800"),
    ("req", 17, 1, "0005504c41494e"),
];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn kafka_python_bodies_round_trip() {
    for &(kind, api_key, version, hex) in KAFKA_PYTHON_BODIES {
        let body = unhex(hex);
        let mut again = Vec::new();
        if kind == "req" {
            let m = decode_request(api_key, version, &body)
                .unwrap_or_else(|e| panic!("request {api_key} v{version}: {e}"));
            m.encode(version, &mut again).expect("re-encodes");
        } else {
            let m = decode_response(api_key, version, &body)
                .unwrap_or_else(|e| panic!("response {api_key} v{version}: {e}"));
            m.encode(version, &mut again).expect("re-encodes");
        }
        assert_eq!(again, body, "{kind} {api_key} v{version}");
    }
}

#[test]
fn kafka_python_metadata_request_fields() {
    let body = unhex(KAFKA_PYTHON_BODIES[1].3);
    let Ok(RequestBody::Metadata(m)) = decode_request(3, 4, &body) else {
        panic!("metadata v4 decodes");
    };
    assert_eq!(m.topics, None);
    assert!(!m.allow_auto_topic_creation);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Arbitrary bytes as any request or response body: a value or an error, never a panic.
    #[test]
    fn arbitrary_bodies_never_panic(
        which in any::<prop::sample::Index>(),
        v in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let api = APIS[which.index(APIS.len())];
        let version = api.min_version + (v as i16 % (api.max_version - api.min_version + 1));
        let _ = decode_request(api.api_key, version, &body);
        let _ = decode_response(api.api_key, version, &body);
        let mut buf = &body[..];
        let _ = decode_request_header(&mut buf);
    }
}
