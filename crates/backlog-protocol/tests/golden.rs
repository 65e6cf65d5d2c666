//! Golden vectors: every sample message encoded, checked in under `tests/golden/`, and a set
//! of invalid inputs with the error code each must produce (`tests/golden/invalid/`). The
//! Python client's tests read the same files and must agree.
//!
//! `BACKLOG_REGENERATE_GOLDEN=1 cargo test -p backlog-protocol --test golden` rewrites them
//! (review the diff: a changed vector is a wire change).

mod samples;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use backlog_protocol::{decode, encode, Limits, MessageType};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn regenerating() -> bool {
    std::env::var_os("BACKLOG_REGENERATE_GOLDEN").is_some_and(|v| v == "1")
}

#[test]
fn every_sample_matches_its_golden_vector() {
    let mut covered = BTreeSet::new();
    for (name, message) in samples::samples() {
        let bytes = encode(&message).unwrap();
        let path = dir().join(format!("{name}.cbor"));
        if regenerating() {
            std::fs::write(&path, &bytes).unwrap();
        }
        let golden = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (regenerate the vectors)", path.display()));
        assert_eq!(
            bytes, golden,
            "{name}: encoding differs from the golden vector"
        );
        assert_eq!(
            decode(&golden, &Limits::default()).unwrap(),
            message,
            "{name}"
        );
        covered.insert(message.message_type().as_str());
    }
    let all: BTreeSet<_> = MessageType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(covered, all, "every message type needs a golden vector");
}

/// `(name, expected error code, bytes)`: inputs every decoder must refuse with that code.
fn invalid_inputs() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let hello = encode(&samples::samples()[1].1).unwrap();
    let order = encode(
        &samples::samples()
            .into_iter()
            .find(|(n, _)| *n == "order")
            .unwrap()
            .1,
    )
    .unwrap();
    let mut deep = Vec::new();
    // {"v": 1, "type": "Progress", "job_id": 1, "lease": h'00..', "progress": [[[[...]]]]}
    deep.extend([0xa5, 0x61, b'v', 0x01, 0x64, b't', b'y', b'p', b'e', 0x68]);
    deep.extend(b"Progress");
    deep.extend([0x66]);
    deep.extend(b"job_id");
    deep.push(0x01);
    deep.extend([0x65]);
    deep.extend(b"lease");
    deep.push(0x50);
    deep.extend([0u8; 16]);
    deep.extend([0x68]);
    deep.extend(b"progress");
    deep.extend(std::iter::repeat_n(0x81, 500));
    deep.push(0x00);
    vec![
        ("empty", "malformed", vec![]),
        ("top_level_array", "malformed", vec![0x82, 0x01, 0x02]),
        (
            "truncated_hello",
            "malformed",
            hello[..hello.len() - 3].to_vec(),
        ),
        (
            "trailing_bytes",
            "malformed",
            [hello.clone(), vec![0x00]].concat(),
        ),
        // {"type": "Hello"}
        (
            "missing_version",
            "malformed",
            [&[0xa1, 0x64][..], b"type", &[0x65], b"Hello"].concat(),
        ),
        // {"v": 2, "type": "Hello"}
        (
            "version_2",
            "unsupported_version",
            [
                &[0xa2, 0x61, b'v', 0x02, 0x64][..],
                b"type",
                &[0x65],
                b"Hello",
            ]
            .concat(),
        ),
        // {"v": 1, "type": "Launch"}
        (
            "unknown_type",
            "unknown_type",
            [
                &[0xa2, 0x61, b'v', 0x01, 0x64][..],
                b"type",
                &[0x66],
                b"Launch",
            ]
            .concat(),
        ),
        // {"v": 1, "type": "Hello"} without the role
        (
            "hello_without_role",
            "malformed",
            [
                &[0xa2, 0x61, b'v', 0x01, 0x64][..],
                b"type",
                &[0x65],
                b"Hello",
            ]
            .concat(),
        ),
        // a worker Hello without kinds: {"v":1,"type":"Hello","role":"worker","worker_id":"w"}
        (
            "worker_without_kinds",
            "invalid",
            [
                &[0xa4, 0x61, b'v', 0x01, 0x64][..],
                b"type",
                &[0x65],
                b"Hello",
                &[0x64],
                b"role",
                &[0x66],
                b"worker",
                &[0x69],
                b"worker_id",
                &[0x61, b'w'],
            ]
            .concat(),
        ),
        // the order with its 16-byte lease token cut to 15 bytes
        ("short_lease_token", "malformed", {
            let at = order.windows(17).position(|w| w[0] == 0x50).unwrap();
            let mut bytes = order.clone();
            bytes[at] = 0x4f;
            bytes.remove(at + 1);
            bytes
        }),
        ("nested_500_deep", "too_deep", deep),
        // a map claiming 2^64-1 entries
        (
            "huge_map_length",
            "malformed",
            vec![0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
    ]
}

#[test]
fn invalid_inputs_give_their_error_codes() {
    let dir = dir().join("invalid");
    if regenerating() {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (name, code, bytes) in invalid_inputs() {
        let path = dir.join(format!("{name}.{code}.cbor"));
        if regenerating() {
            std::fs::write(&path, &bytes).unwrap();
        }
        let golden = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (regenerate the vectors)", path.display()));
        assert_eq!(bytes, golden, "{name}");
        let err = decode(&golden, &Limits::default()).unwrap_err();
        assert_eq!(err.code().as_str(), code, "{name}: {err}");
    }
}
