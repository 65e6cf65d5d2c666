//! The job filter of the list, count and bulk actions, read from a query string so that every
//! view is a shareable URL: `state=discarded&queue=mail&args.user.id=42&limit=50`.

use backlog_storage::{JobSearchParams, JsonMatch};
use backlog_types::{JobId, JobState};
use chrono::{DateTime, Utc};

use crate::ApiError;

/// Largest page.
pub(crate) const MAX_LIMIT: u32 = 500;
/// Page size when none is given.
pub(crate) const DEFAULT_LIMIT: u32 = 50;

/// The parameters every filter understands, for error messages.
const KNOWN: &str = "state, queue, kind, priority, tag, id, fingerprint, created_after, \
                     created_before, args.<path>, meta.<path>, before, limit";

/// Values of a repeatable parameter: repeated keys and commas both add values.
fn push_list(out: &mut Vec<String>, value: &str) {
    out.extend(
        value
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
    );
}

fn time(key: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "{key}={value:?} is not an RFC 3339 time ({e}); write e.g. 2026-01-31T12:00:00Z"
            ))
        })
}

/// A JSON-path criterion: `args.user.id=42` (see [`JsonMatch::parse`]).
fn json_match(key: &str, path: &str, value: &str) -> Result<JsonMatch, ApiError> {
    JsonMatch::parse(path, value).map_err(|e| ApiError::BadRequest(format!("{key}: {e}")))
}

/// Reads a filter from query pairs; `Err` says which parameter was wrong and how to fix it.
pub(crate) fn parse(pairs: &[(String, String)]) -> Result<JobSearchParams, ApiError> {
    let mut p = JobSearchParams {
        limit: DEFAULT_LIMIT,
        ..Default::default()
    };
    let mut states = Vec::new();
    let mut ids = Vec::new();
    for (key, value) in pairs {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match key.as_str() {
            "state" => push_list(&mut states, value),
            "queue" => push_list(&mut p.queues, value),
            "kind" => push_list(&mut p.kinds, value),
            "tag" => push_list(&mut p.tags, value),
            "id" => push_list(&mut ids, value),
            "fingerprint" => p.fingerprint = Some(value.to_owned()),
            "priority" => {
                p.priority = Some(value.parse().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "priority={value:?} is not a number between -32768 and 32767"
                    ))
                })?)
            }
            "created_after" => p.created_after = Some(time(key, value)?),
            "created_before" => p.created_before = Some(time(key, value)?),
            "before" => {
                p.before_id = Some(value.parse().map_err(|_| {
                    ApiError::BadRequest(format!("before={value:?} is not a job id"))
                })?)
            }
            "limit" => {
                let limit: u32 = value.parse().map_err(|_| {
                    ApiError::BadRequest(format!("limit={value:?} is not a positive number"))
                })?;
                if limit == 0 || limit > MAX_LIMIT {
                    return Err(ApiError::BadRequest(format!(
                        "limit={limit} is out of range: use 1 to {MAX_LIMIT}"
                    )));
                }
                p.limit = limit;
            }
            other => {
                if let Some(path) = other.strip_prefix("args.") {
                    p.args = Some(json_match(other, path, value)?);
                } else if let Some(path) = other.strip_prefix("meta.") {
                    p.metadata = Some(json_match(other, path, value)?);
                } else {
                    return Err(ApiError::BadRequest(format!(
                        "unknown filter parameter `{other}`; known: {KNOWN}"
                    )));
                }
            }
        }
    }
    for s in states {
        p.states.push(
            s.parse::<JobState>()
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        );
    }
    for id in ids {
        p.ids.push(id.parse::<JobId>().map_err(|_| {
            ApiError::BadRequest(format!("id={id:?} is not a job id (a whole number)"))
        })?);
    }
    Ok(p)
}

/// Pairs of a query string (`a=1&b=2`), percent-decoded.
pub(crate) fn pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(query)
        .map_err(|e| ApiError::BadRequest(format!("malformed query string: {e}")))
}

/// The query string of a filter's criteria (without paging), for links.
pub(crate) fn to_query(pairs: &[(String, String)]) -> String {
    let kept: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(k, v)| k != "before" && !v.trim().is_empty())
        .collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Result<JobSearchParams, ApiError> {
        parse(&pairs(s).unwrap())
    }

    #[test]
    fn reads_every_parameter() {
        let p = q(
            "state=discarded,retryable&queue=mail&kind=send&tag=a&tag=b&id=3,4&priority=2\
                   &fingerprint=fp&created_after=2026-01-01T00:00:00Z&args.user.id=42\
                   &meta.tenant=acme&before=99&limit=10",
        )
        .unwrap();
        assert_eq!(p.states, [JobState::Discarded, JobState::Retryable]);
        assert_eq!(p.queues, ["mail"]);
        assert_eq!(p.tags, ["a", "b"]);
        assert_eq!(p.ids, [3, 4]);
        assert_eq!(p.priority, Some(2));
        assert_eq!(p.before_id, Some(99));
        assert_eq!(p.limit, 10);
        let args = p.args.unwrap();
        assert_eq!(args.path, ["user", "id"]);
        assert_eq!(args.value, serde_json::json!(42));
        assert_eq!(p.metadata.unwrap().value, serde_json::json!("acme"));
    }

    #[test]
    fn explains_bad_input() {
        let msg = |s| q(s).unwrap_err().to_string();
        assert!(msg("state=done").contains("unknown job state `done`"));
        assert!(msg("colour=red").contains("unknown filter parameter `colour`"));
        assert!(msg("limit=0").contains("out of range"));
        assert!(msg("created_after=yesterday").contains("RFC 3339"));
        assert!(msg("id=x").contains("not a job id"));
        assert!(msg("args..x=1").contains("JSON path"));
    }
}
