//! Round trips of every generated message at every valid version, from `Default` and from
//! generated samples with every field of the version populated; truncation of each
//! encoding at every byte; and single-byte corruptions of it.

use proptest::prelude::*;

use super::generated::all_messages;
use super::*;

/// Round-trips one message (`Default` for seed 0, else a sample) at `version`; with
/// `truncate`, also checks that every strict prefix of the encoding fails to decode.
type Check = fn(i16, u64, bool) -> Result<usize, String>;

macro_rules! checks {
    ($($t:ident),* $(,)?) => {
        vec![$((
            stringify!($t),
            $t::VALID_VERSIONS,
            (|version: i16, seed: u64, truncate: bool| -> Result<usize, String> {
                let value = if seed == 0 { $t::default() } else { $t::sample(version, seed) };
                let mut out = Vec::new();
                value
                    .encode(version, &mut out)
                    .map_err(|e| format!("encode {value:?}: {e}"))?;
                let mut buf = &out[..];
                let back = $t::decode(&mut buf, version).map_err(|e| format!("decode: {e}"))?;
                if !buf.is_empty() {
                    return Err(format!("{} trailing bytes", buf.len()));
                }
                if back != value {
                    return Err(format!("round trip changed the value:\n{value:?}\n{back:?}"));
                }
                if truncate {
                    for cut in 0..out.len() {
                        let mut b = &out[..cut];
                        if $t::decode(&mut b, version).is_ok() {
                            return Err(format!("prefix of {cut} bytes decoded"));
                        }
                    }
                    // Corrupted bytes decode to something or fail; they never panic.
                    for i in 0..out.len() {
                        for flip in [0xff, 0x80, 0x01] {
                            let mut bad = out.clone();
                            bad[i] ^= flip;
                            let _ = $t::decode(&mut &bad[..], version);
                        }
                    }
                }
                Ok(out.len())
            }) as Check,
        )),*]
    };
}

fn all() -> Vec<(&'static str, (i16, i16), Check)> {
    all_messages!(checks)
}

#[test]
fn every_message_round_trips_at_every_version() {
    let all = all();
    assert_eq!(all.len(), 60);
    let mut failures = Vec::new();
    for (name, (lo, hi), check) in &all {
        for version in *lo..=*hi {
            let mut biggest = 0;
            for seed in 0..=12u64 {
                match check(version, seed, seed <= 4) {
                    Ok(len) => biggest = biggest.max(len),
                    Err(e) => failures.push(format!("{name} v{version} seed {seed}: {e}")),
                }
            }
            // The samples must actually exercise the fields, not just encode defaults.
            let no_fields = matches!(
                (*name, version),
                ("ListGroupsRequest" | "ApiVersionsRequest", 0..=2)
            );
            if biggest == 0 && !no_fields {
                failures.push(format!(
                    "{name} v{version}: every sample encodes to nothing"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn random_samples_round_trip(which in any::<prop::sample::Index>(), v in any::<u16>(), seed in 1u64..) {
        let all = all();
        let (name, (lo, hi), check) = all[which.index(all.len())];
        let version = lo + (v % (hi - lo + 1) as u16) as i16;
        if let Err(e) = check(version, seed, false) {
            prop_assert!(false, "{} v{}: {}", name, version, e);
        }
    }
}

#[test]
fn header_versions_follow_flexibility() {
    // Metadata became flexible in v9.
    assert_eq!(request_header_version(3, 8), Some(1));
    assert_eq!(request_header_version(3, 9), Some(2));
    assert_eq!(response_header_version(3, 8), Some(0));
    assert_eq!(response_header_version(3, 9), Some(1));
    // ApiVersions: request header by flexibility, response header always v0.
    assert_eq!(request_header_version(18, 2), Some(1));
    assert_eq!(request_header_version(18, 3), Some(2));
    assert_eq!(request_header_version(18, 99), Some(2));
    assert_eq!(response_header_version(18, 3), Some(0));
    // SaslHandshake has no flexible versions.
    assert_eq!(request_header_version(17, 1), Some(1));
    assert_eq!(response_header_version(17, 1), Some(0));
    // ControlledShutdown v0 is the only user of request header v0.
    assert_eq!(request_header_version(7, 0), Some(0));
    assert_eq!(request_header_version(9999, 0), None);
}

#[test]
fn api_table_matches_the_types() {
    assert_eq!(APIS.len(), 29);
    let mut keys: Vec<i16> = APIS.iter().map(|a| a.api_key).collect();
    keys.dedup();
    assert_eq!(keys.len(), APIS.len(), "sorted and unique");
    let md = api_info(MetadataRequest::API_KEY).expect("metadata");
    assert_eq!(md.name, "Metadata");
    assert_eq!(
        (md.min_version, md.max_version),
        MetadataRequest::VALID_VERSIONS
    );
    assert_eq!(md.flexible_min, MetadataRequest::FLEXIBLE_MIN);
    for a in APIS {
        let body = decode_request(a.api_key, a.max_version + 1, &[]);
        assert!(
            matches!(body, Err(DecodeError::UnsupportedVersion { .. })),
            "{}: {body:?}",
            a.name
        );
    }
}

#[test]
fn unknown_tagged_fields_are_skipped() {
    // MetadataRequest v12: topics = [] (compact 0+1), allow auto = 1, include topic ops = 0,
    // then a tagged section with one unknown tag 9 of 3 bytes.
    let body = [0x01, 0x01, 0x00, 0x01, 0x09, 0x03, 0xaa, 0xbb, 0xcc];
    let mut buf = &body[..];
    let m = MetadataRequest::decode(&mut buf, 12).expect("decodes");
    assert!(buf.is_empty());
    assert_eq!(m.topics, Some(vec![]));
    assert!(m.allow_auto_topic_creation);
}

#[test]
fn non_ignorable_fields_cannot_be_dropped() {
    let m = MetadataRequest {
        include_cluster_authorized_operations: true,
        ..MetadataRequest::default()
    };
    let mut out = Vec::new();
    assert_eq!(
        m.encode(12, &mut out),
        Err(EncodeError::UnsupportedField {
            field: "IncludeClusterAuthorizedOperations",
            version: 12
        })
    );
    assert!(m.encode(10, &mut Vec::new()).is_ok());
    // Ignorable fields are dropped silently: TopicId only exists from v10.
    let m = MetadataRequest {
        topics: Some(vec![metadata_request::MetadataRequestTopic {
            topic_id: Uuid([7; 16]),
            name: Some("t".into()),
        }]),
        ..MetadataRequest::default()
    };
    assert!(m.encode(9, &mut Vec::new()).is_ok());
    // Null topics mean "all topics" only from v1.
    let m = MetadataRequest {
        topics: None,
        ..MetadataRequest::default()
    };
    assert!(matches!(
        m.encode(0, &mut Vec::new()),
        Err(EncodeError::NullNotAllowed { .. })
    ));
}
