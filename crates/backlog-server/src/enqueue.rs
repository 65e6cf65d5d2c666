//! Producers' `Request`s: protocol job specs to the library's enqueue.

use std::time::Duration;

use backlog::{Client, EnqueueError, InsertOpts, UniqueArgs, UniqueOpts};
use backlog_protocol::{
    Acknowledged, Backoff as WireBackoff, Enqueued, JobSpec, OnConflict as WireOnConflict,
    RejectCode, Rejected, Request, UniqueArgs as WireUniqueArgs, UniqueArgsName,
};

/// Enqueues a request's jobs in one transaction and answers with `Acknowledged` (after the
/// commit) or `Rejected`.
///
/// This is the one place the request's idempotency key (`request_id`) meets the library: job
/// *i* of the request is stored under the library's idempotency key `request_id` (a one-job
/// request) or `request_id/i` (a batch), kept for the library's default window
/// (docs/protocol.md). A resent request therefore stores nothing new and is answered with the
/// same ids and `duplicate: true`. A job with `unique` options is deduplicated by its unique
/// key instead (the library refuses both on one job); its resend is answered with
/// `unique_conflict: true`.
pub(crate) async fn handle(
    client: &Client,
    request: Request,
    max_batch: u32,
) -> Result<Acknowledged, Rejected> {
    let reject = |code, message: String, index: Option<u32>| Rejected {
        request_id: request.request_id.clone(),
        code,
        message,
        index,
        retry_after_ms: None,
    };
    if request.jobs.is_empty() {
        return Err(reject(
            RejectCode::Invalid,
            "a request needs at least one job".into(),
            None,
        ));
    }
    if request.jobs.len() > max_batch as usize {
        return Err(reject(
            RejectCode::TooLarge,
            format!(
                "a request holds at most {max_batch} jobs (Welcome.max_batch), got {}; split it",
                request.jobs.len()
            ),
            None,
        ));
    }
    let mut prepared = Vec::with_capacity(request.jobs.len());
    for (i, spec) in request.jobs.iter().enumerate() {
        let index = Some(i as u32);
        let kind = spec.kind.clone();
        let args = spec.args.clone();
        let mut opts = insert_opts(spec).map_err(|m| reject(RejectCode::Invalid, m, index))?;
        if spec.unique.is_none() {
            opts =
                opts.idempotency_key(idempotency_key(&request.request_id, i, request.jobs.len()));
        }
        let job = client.prepare_raw(&kind, args, opts).map_err(|e| {
            let code = match e {
                EnqueueError::ArgsTooLarge { .. } => RejectCode::TooLarge,
                _ => RejectCode::Invalid,
            };
            reject(code, format!("job {i}: {e}"), index)
        })?;
        prepared.push(job);
    }
    match client.insert_prepared(prepared).await {
        Ok(results) => Ok(Acknowledged {
            request_id: request.request_id.clone(),
            jobs: results
                .into_iter()
                .zip(&request.jobs)
                .map(|(r, spec)| {
                    let keyed = spec.unique.is_none();
                    Enqueued {
                        id: r.id,
                        duplicate: keyed && r.duplicate,
                        unique_conflict: !keyed && r.duplicate,
                    }
                })
                .collect(),
        }),
        Err(e) => {
            tracing::warn!(error = %e, request_id = %request.request_id, "enqueue failed");
            // The storage error does not say whether the commit happened, so the client must
            // treat the outcome as unknown and resend with the same request_id.
            Err(reject(
                RejectCode::OutcomeUnknown,
                format!("the database failed ({e}); resend the request with the same request_id"),
                None,
            ))
        }
    }
}

/// The idempotency key of job `index` of a request of `len` jobs (docs/protocol.md).
pub(crate) fn idempotency_key(request_id: &str, index: usize, len: usize) -> String {
    if len == 1 {
        request_id.to_owned()
    } else {
        format!("{request_id}/{index}")
    }
}

/// The library's options for one job spec; `Err` says which option is wrong.
pub(crate) fn insert_opts(spec: &JobSpec) -> Result<InsertOpts, String> {
    let mut opts = InsertOpts::new();
    if let Some(queue) = &spec.queue {
        opts = opts.queue(queue.clone());
    }
    if let Some(priority) = spec.priority {
        opts = opts.priority(priority);
    }
    match (spec.run_at_ms, spec.run_after_ms) {
        (Some(_), Some(_)) => {
            return Err("run_at_ms and run_after_ms exclude each other; send one".into())
        }
        (Some(ms), None) => {
            let at = chrono::DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| format!("run_at_ms {ms} is not a representable time"))?;
            opts = opts.run_at(at);
        }
        (None, Some(ms)) => opts = opts.run_after(Duration::from_millis(ms)),
        (None, None) => {}
    }
    if let Some(attempts) = spec.max_attempts {
        opts = opts.max_attempts(attempts);
    }
    if let Some(ms) = spec.timeout_ms {
        opts = opts.timeout(Duration::from_millis(ms));
    }
    if let Some(backoff) = &spec.backoff {
        opts = opts.backoff(backoff_of(backoff)?);
    }
    if let Some(unique) = &spec.unique {
        let mut u = UniqueOpts::default();
        match &unique.by_args {
            None | Some(WireUniqueArgs::Named(UniqueArgsName::All)) => {}
            Some(WireUniqueArgs::Named(UniqueArgsName::Ignore)) => u.by_args = UniqueArgs::Ignore,
            Some(WireUniqueArgs::Fields(fields)) => u.by_args = UniqueArgs::Fields(fields.clone()),
        }
        if let Some(by_queue) = unique.by_queue {
            u.by_queue = by_queue;
        }
        u.period = unique.period_ms.map(Duration::from_millis);
        if let Some(states) = &unique.states {
            u.states = states.clone();
        }
        if let Some(on_conflict) = unique.on_conflict {
            u.on_conflict = match on_conflict {
                WireOnConflict::Replace => backlog::OnConflict::Replace,
                _ => backlog::OnConflict::Skip,
            };
        }
        opts = opts.unique(u);
    }
    for tag in &spec.tags {
        opts = opts.tag(tag.clone());
    }
    // jobq's `username` and asset `uuid` are kept queryable in the metadata.
    let mut metadata = match &spec.metadata {
        None => serde_json::Map::new(),
        Some(serde_json::Value::Object(map)) => map.clone(),
        Some(other) => return Err(format!("metadata must be a JSON object, got {other}")),
    };
    if let Some(username) = &spec.username {
        metadata.insert("username".into(), username.clone().into());
    }
    if let Some(uuid) = &spec.uuid {
        metadata.insert("uuid".into(), uuid.to_string().into());
    }
    if spec.metadata.is_some() || !metadata.is_empty() {
        opts = opts.metadata(serde_json::Value::Object(metadata));
    }
    if let Some(fingerprint) = &spec.fingerprint {
        opts = opts.fingerprint(fingerprint.clone());
    }
    Ok(opts)
}

fn backoff_of(wire: &WireBackoff) -> Result<backlog::Backoff, String> {
    Ok(match wire {
        WireBackoff::Exponential {
            base_ms,
            max_ms,
            jitter_permille,
        } => {
            if *jitter_permille > 1000 {
                return Err(format!(
                    "backoff jitter_permille must be 0 to 1000, got {jitter_permille}"
                ));
            }
            backlog::Backoff::Exponential {
                base: Duration::from_millis(*base_ms),
                max: Duration::from_millis(*max_ms),
                jitter: f64::from(*jitter_permille) / 1000.0,
            }
        }
        WireBackoff::Linear { step_ms, max_ms } => backlog::Backoff::Linear {
            step: Duration::from_millis(*step_ms),
            max: Duration::from_millis(*max_ms),
        },
        WireBackoff::Fixed { delay_ms } => {
            backlog::Backoff::Fixed(Duration::from_millis(*delay_ms))
        }
        other => return Err(format!("backoff {other:?} is not supported by this server")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JobSpec {
        JobSpec::new("k", serde_json::json!({}))
    }

    #[test]
    fn contradictory_or_out_of_range_options_say_what_is_wrong() {
        let mut both = spec();
        both.run_at_ms = Some(0);
        both.run_after_ms = Some(1);
        assert!(insert_opts(&both)
            .unwrap_err()
            .contains("exclude each other"));

        let mut jitter = spec();
        jitter.backoff = Some(WireBackoff::Exponential {
            base_ms: 1,
            max_ms: 2,
            jitter_permille: 1001,
        });
        assert!(insert_opts(&jitter)
            .unwrap_err()
            .contains("jitter_permille"));

        let mut metadata = spec();
        metadata.metadata = Some(serde_json::json!([1]));
        assert!(insert_opts(&metadata).unwrap_err().contains("JSON object"));

        let mut far = spec();
        far.run_at_ms = Some(i64::MAX);
        assert!(insert_opts(&far).unwrap_err().contains("representable"));
    }

    #[test]
    fn username_and_uuid_land_in_the_metadata() {
        let mut s = spec();
        s.username = Some("alice".into());
        let opts = insert_opts(&s).unwrap();
        let expected = InsertOpts::new().metadata(serde_json::json!({"username": "alice"}));
        assert_eq!(opts, expected);
        assert_eq!(insert_opts(&spec()).unwrap(), InsertOpts::new());
    }
}
