//! Fuzz-style tests: random messages round-trip; truncated, mutated, deeply nested and
//! lying inputs give typed errors and never panic or allocate by a declared length.

mod samples;

use backlog_protocol::*;
use backlog_types::Priority;
use serde_json::json;

/// xorshift64*: deterministic, so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn text(&mut self) -> String {
        const CHARS: &[char] = &['a', 'Z', '0', '_', '-', ' ', 'é', '✓', '😀', '"', '\\'];
        (0..self.below(12))
            .map(|_| CHARS[self.below(CHARS.len() as u64) as usize])
            .collect()
    }
    fn json(&mut self, depth: u32) -> serde_json::Value {
        match self.below(if depth > 3 { 5 } else { 7 }) {
            0 => serde_json::Value::Null,
            1 => json!(self.below(2) == 1),
            2 => json!(self.next() as i64),
            3 => json!((self.next() >> 11) as f64 / 1024.0 - 1e12),
            4 => json!(self.text()),
            5 => (0..self.below(4)).map(|_| self.json(depth + 1)).collect(),
            _ => serde_json::Value::Object(
                (0..self.below(4))
                    .map(|_| (self.text(), self.json(depth + 1)))
                    .collect(),
            ),
        }
    }
    fn opt<T>(&mut self, f: impl FnOnce(&mut Rng) -> T) -> Option<T> {
        (self.below(2) == 1).then(|| f(self))
    }
    fn token(&mut self) -> LeaseToken {
        LeaseToken(core::array::from_fn(|_| self.next() as u8))
    }
    fn held(&mut self) -> Held {
        Held {
            job_id: self.next() as i64,
            lease: self.token(),
        }
    }
}

/// A random message of every type in turn, with random optional fields.
fn random_message(rng: &mut Rng, i: usize) -> Message {
    match MessageType::ALL[i % MessageType::ALL.len()] {
        MessageType::Request => Request {
            request_id: format!("r{}", rng.next()),
            jobs: (0..1 + rng.below(3))
                .map(|_| {
                    let mut job = JobSpec::new(rng.text() + "k", rng.json(0));
                    job.queue = rng.opt(|r| r.text());
                    job.priority = rng.opt(|r| Priority(r.next() as i16));
                    job.run_after_ms = rng.opt(|r| r.next());
                    job.max_attempts = rng.opt(|r| r.next() as i32);
                    job.tags = (0..rng.below(3)).map(|_| rng.text()).collect();
                    job.metadata = rng.opt(|r| json!({"m": r.json(0)}));
                    job.uuid = rng.opt(|r| Uuid(*r.token().as_bytes()));
                    job.after = (0..rng.below(3))
                        .map(|_| Dependency::Index(rng.next() as u32))
                        .collect();
                    job
                })
                .collect(),
            workflow: rng.opt(|r| WorkflowSpec { name: r.text() }),
            batch: None,
        }
        .into(),
        MessageType::Order => Order {
            job_id: rng.next() as i64,
            lease: rng.token(),
            kind: rng.text(),
            queue: rng.text(),
            args: rng.json(0),
            attempt: rng.next() as i32,
            max_attempts: rng.next() as i32,
            priority: rng.next() as i16,
            lease_ms: rng.next(),
            timeout_ms: rng.opt(|r| r.next()),
            created_at_ms: rng.next() as i64,
            tags: (0..rng.below(3)).map(|_| rng.text()).collect(),
            metadata: rng.opt(|r| json!({"m": r.json(0)})),
            username: rng.opt(|r| r.text()),
            uuid: None,
        }
        .into(),
        MessageType::Heartbeat => Heartbeat {
            held: (0..rng.below(5)).map(|_| rng.held()).collect(),
            capacity: rng.opt(|r| r.next() as u32),
        }
        .into(),
        MessageType::Completed => Completed {
            job_id: rng.next() as i64,
            lease: rng.token(),
            duration_us: rng.next(),
            result: rng.opt(|r| json!([r.json(0)])),
        }
        .into(),
        MessageType::Failed => Failed {
            job_id: rng.next() as i64,
            lease: rng.token(),
            action: FailAction::Discard,
            delay_ms: rng.opt(|r| r.next()),
            error: Some(ErrorInfo {
                kind: rng.opt(|r| r.text()),
                message: rng.text(),
                backtrace: rng.opt(|r| r.text()),
                panicked: rng.below(2) == 1,
            }),
            duration_us: rng.next(),
        }
        .into(),
        MessageType::Progress => Progress {
            job_id: rng.next() as i64,
            lease: rng.token(),
            progress: json!({"p": rng.json(0)}),
        }
        .into(),
        // The other types have no free-form content: the samples cover them.
        other => samples::samples()
            .into_iter()
            .find(|(_, m)| m.message_type() == other)
            .map(|(_, m)| m)
            .unwrap(),
    }
}

#[test]
fn random_messages_round_trip() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for i in 0..3_000 {
        let message = random_message(&mut rng, i);
        let bytes = encode(&message).unwrap();
        let back = decode(&bytes, &Limits::default())
            .unwrap_or_else(|e| panic!("iteration {i}: {e}\n{message:?}"));
        assert_eq!(back, message, "iteration {i}");
    }
}

#[test]
fn every_truncation_of_every_sample_is_an_error() {
    for (name, message) in samples::samples() {
        let bytes = encode(&message).unwrap();
        for end in 0..bytes.len() {
            let err = decode(&bytes[..end], &Limits::default())
                .expect_err(&format!("{name} cut at {end} decoded"));
            assert_eq!(
                err.code(),
                ErrorCode::Malformed,
                "{name} cut at {end}: {err}"
            );
        }
    }
}

#[test]
fn mutated_bytes_never_panic() {
    let mut rng = Rng(0xfeed_beef_0000_0042);
    let samples: Vec<Vec<u8>> = samples::samples()
        .iter()
        .map(|(_, m)| encode(m).unwrap())
        .collect();
    let mut errors = 0;
    for _ in 0..20_000 {
        let mut bytes = samples[rng.below(samples.len() as u64) as usize].clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len() as u64) as usize;
            match rng.below(3) {
                0 => bytes[at] = rng.next() as u8,
                1 => bytes[at] ^= 1 << rng.below(8),
                _ => bytes.insert(at, rng.next() as u8),
            }
        }
        // Either a message (a mutation may stay valid) or a typed error; the point is no panic.
        if let Err(err) = decode(&bytes, &Limits::default()) {
            errors += 1;
            assert!(!err.to_string().is_empty());
        }
    }
    assert!(
        errors > 10_000,
        "most mutations must be refused, {errors} were"
    );
}

#[test]
fn declared_lengths_are_not_trusted() {
    let huge = [0x1b, 0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    // Each head claims about 2^62 items or bytes but the input ends: preallocating by the
    // claim would abort the test process.
    for major in [0x40u8, 0x60, 0x80, 0xa0] {
        let mut args = vec![major | 0x1b];
        args.extend(&huge[1..]);
        let mut bytes = encode(&Message::Progress(Progress {
            job_id: 1,
            lease: LeaseToken([0; 16]),
            progress: json!(null),
        }))
        .unwrap();
        bytes.pop(); // the null progress value
        bytes.extend(&args);
        let err = decode(&bytes, &Limits::default()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Malformed, "major {major:#x}: {err}");
    }
}

#[test]
fn size_is_checked_before_parsing() {
    let limits = Limits {
        max_message_bytes: 16,
        ..Limits::default()
    };
    // Not even CBOR: only the size is looked at.
    let err = decode(&[0xff; 17], &limits).unwrap_err();
    assert_eq!(err, DecodeError::TooLarge { len: 17, max: 16 });
    assert_eq!(err.code(), ErrorCode::TooLarge);
}

#[test]
fn nesting_beyond_the_limit_is_too_deep_in_args_maps_and_tags() {
    let limits = Limits {
        max_depth: 32,
        ..Limits::default()
    };
    let mut nested = json!(1);
    for _ in 0..40 {
        nested = json!({ "a": nested });
    }
    let message = Message::Progress(Progress {
        job_id: 1,
        lease: LeaseToken([0; 16]),
        progress: nested,
    });
    let bytes = encode(&message).unwrap();
    assert_eq!(
        decode(&bytes, &limits).unwrap_err().code(),
        ErrorCode::TooDeep
    );
    assert_eq!(decode(&bytes, &Limits::default()).unwrap(), message);

    // 10,000 nested tags in place of the progress value.
    let mut bytes = encode(&Message::Progress(Progress {
        job_id: 1,
        lease: LeaseToken([0; 16]),
        progress: json!(null),
    }))
    .unwrap();
    bytes.pop();
    bytes.extend(std::iter::repeat_n(0xc6, 10_000));
    bytes.push(0x00);
    assert_eq!(
        decode(&bytes, &limits).unwrap_err().code(),
        ErrorCode::TooDeep
    );
}

#[test]
fn depth_limit_counts_the_message_map() {
    // The message map is level 1, `progress` holds the rest: 32 levels pass, 33 do not (the
    // Python client's test checks the same boundary).
    let nested = |levels: usize| {
        let mut value = json!(1);
        for _ in 0..levels {
            value = json!([value]);
        }
        encode(&Message::Progress(Progress {
            job_id: 1,
            lease: LeaseToken([0; 16]),
            progress: value,
        }))
        .unwrap()
    };
    let limits = Limits {
        max_depth: 32,
        ..Limits::default()
    };
    assert!(decode(&nested(31), &limits).is_ok());
    assert_eq!(
        decode(&nested(32), &limits).unwrap_err().code(),
        ErrorCode::TooDeep
    );
}

/// A sample with one field replaced by `value` (CBOR), decoded.
fn with_field(sample: &str, field: &str, value: ciborium::Value) -> Result<Message, DecodeError> {
    let message = samples::samples()
        .into_iter()
        .find(|(n, _)| *n == sample)
        .unwrap()
        .1;
    let mut map: ciborium::Value = ciborium::from_reader(&encode(&message).unwrap()[..]).unwrap();
    if let ciborium::Value::Map(fields) = &mut map {
        for (k, v) in fields.iter_mut() {
            if k.as_text() == Some(field) {
                *v = value.clone();
            }
        }
    }
    let mut bytes = Vec::new();
    ciborium::into_writer(&map, &mut bytes).unwrap();
    decode(&bytes, &Limits::default())
}

#[test]
fn wrong_types_are_malformed_and_name_the_message() {
    use ciborium::Value as V;
    let cases = [
        ("order", "job_id", V::Text("3000".into())),
        (
            "order",
            "lease",
            V::Text("00112233445566778899aabbccddeeff".into()),
        ),
        ("order", "args", V::Bytes(vec![1, 2, 3])),
        ("order", "args", V::Float(f64::NAN)),
        (
            "order",
            "args",
            V::Map(vec![(V::Integer(1.into()), V::Null)]),
        ),
        (
            "order",
            "args",
            V::Tag(0, Box::new(V::Text("2026-01-01".into()))),
        ),
        ("order", "attempt", V::Integer(u64::MAX.into())),
        ("heartbeat", "held", V::Map(vec![])),
        ("failed_retry", "action", V::Text("explode".into())),
    ];
    for (sample, field, value) in cases {
        let err = with_field(sample, field, value.clone()).unwrap_err();
        assert_eq!(
            err.code(),
            ErrorCode::Malformed,
            "{sample}.{field} = {value:?}: {err}"
        );
        assert!(err.to_reply().re.is_some(), "{err}");
    }
    let err = with_field("order", "v", V::Text("1".into())).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Malformed);
}

#[test]
fn priorities_accept_jobq_names_and_refuse_out_of_range_numbers() {
    use ciborium::Value as V;
    let job = |priority: V| {
        let spec = V::Map(vec![
            (V::Text("kind".into()), V::Text("test".into())),
            (V::Text("args".into()), V::Null),
            (V::Text("priority".into()), priority),
        ]);
        with_field("request_one", "jobs", V::Array(vec![spec]))
    };
    let priority = |m: Message| match m {
        Message::Request(r) => r.jobs[0].priority,
        _ => None,
    };
    assert_eq!(
        priority(job(V::Text("high".into())).unwrap()),
        Some(Priority::HIGH)
    );
    assert_eq!(
        priority(job(V::Text("low".into())).unwrap()),
        Some(Priority::LOW)
    );
    assert_eq!(
        priority(job(V::Integer((-5).into())).unwrap()),
        Some(Priority(-5))
    );
    assert!(job(V::Text("urgent".into())).is_err());
    assert!(job(V::Integer(40_000.into())).is_err());
}

#[test]
fn decode_errors_map_to_error_replies() {
    let err = DecodeError::UnsupportedVersion { version: 9 };
    let reply = err.to_reply();
    assert_eq!(reply.code, ErrorCode::UnsupportedVersion);
    assert_eq!(reply.supported_versions, vec![PROTOCOL_VERSION]);
    // The reply itself is a message that encodes.
    let bytes = encode(&Message::Error(reply.clone())).unwrap();
    assert_eq!(
        decode(&bytes, &Limits::default()).unwrap(),
        Message::Error(reply)
    );
}

#[test]
fn unknown_fields_are_ignored_for_forward_compatibility() {
    let message = with_field("heartbeat", "held", ciborium::Value::Array(vec![])).unwrap();
    let mut map: ciborium::Value = ciborium::from_reader(&encode(&message).unwrap()[..]).unwrap();
    if let ciborium::Value::Map(fields) = &mut map {
        fields.push(("added_in_1_1".into(), ciborium::Value::Bool(true)));
    }
    let mut bytes = Vec::new();
    ciborium::into_writer(&map, &mut bytes).unwrap();
    assert_eq!(decode(&bytes, &Limits::default()).unwrap(), message);
}

#[test]
fn encoding_refuses_json_deeper_than_any_receiver_accepts() {
    let mut deep = json!(1);
    for _ in 0..100_000 {
        deep = serde_json::Value::Array(vec![deep]);
    }
    let message = Message::Progress(Progress {
        job_id: 1,
        lease: LeaseToken([0; 16]),
        progress: deep,
    });
    let err = encode(&message).unwrap_err();
    assert!(err.to_string().contains("deeper than 128"), "{err}");
    // serde_json's own drop of a 100,000-level value recurses; unwind it iteratively.
    let Message::Progress(Progress { mut progress, .. }) = message else {
        unreachable!()
    };
    while let serde_json::Value::Array(mut items) = progress {
        progress = items.pop().unwrap_or_default();
    }
}
