//! Who may do what: HTTP Basic credentials (compared in constant time) or an authorization hook
//! of the application's own, each giving an [`Identity`] with a [`Role`]. Health endpoints are
//! exempt; every other request needs an identity, and writes need [`Role::Admin`].

use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

/// What an identity may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read every page and endpoint; change nothing.
    ReadOnly,
    /// Read and act: retry, cancel, delete, pause, edit schedules, enqueue (when enabled).
    Admin,
}

/// The caller, as named in the audit log of write actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// A name for logs (a user name, an email, a service).
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// An application's own authorization: decides from the request's head (headers, cookies,
/// extensions set by an outer layer) who the caller is; `None` refuses the request (401).
pub trait Authorize: Send + Sync + 'static {
    /// The caller's identity, or `None` to refuse.
    fn authorize(&self, request: &Parts) -> Option<Identity>;
}

impl<F> Authorize for F
where
    F: Fn(&Parts) -> Option<Identity> + Send + Sync + 'static,
{
    fn authorize(&self, request: &Parts) -> Option<Identity> {
        self(request)
    }
}

/// One user of HTTP Basic authentication.
#[derive(Clone)]
pub struct BasicUser {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// What this user may do.
    pub role: Role,
}

impl std::fmt::Debug for BasicUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicUser")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

/// How callers are authenticated.
#[derive(Clone, Default)]
pub enum Auth {
    /// Nobody is asked: every caller is an admin named `anonymous`. Only for a dashboard bound
    /// to 127.0.0.1 (the default of `backlog serve`) or mounted behind the application's own
    /// authentication.
    #[default]
    None,
    /// HTTP Basic with these users.
    Basic(Vec<BasicUser>),
    /// The application decides.
    Hook(Arc<dyn Authorize>),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic(users) => f.debug_tuple("Basic").field(users).finish(),
            Auth::Hook(_) => f.write_str("Hook(..)"),
        }
    }
}

impl Auth {
    /// The caller's identity, or `None` when the request must be refused.
    pub(crate) fn identify(&self, parts: &Parts) -> Option<Identity> {
        match self {
            Auth::None => Some(Identity {
                name: "anonymous".into(),
                role: Role::Admin,
            }),
            Auth::Basic(users) => {
                let (user, password) = basic_credentials(&parts.headers)?;
                // Check every user, so the time taken does not tell which name exists.
                let mut found = None;
                for candidate in users {
                    let ok = constant_time_eq(candidate.user.as_bytes(), user.as_bytes())
                        & constant_time_eq(candidate.password.as_bytes(), password.as_bytes());
                    if ok && found.is_none() {
                        found = Some(Identity {
                            name: candidate.user.clone(),
                            role: candidate.role,
                        });
                    }
                }
                found
            }
            Auth::Hook(hook) => hook.authorize(parts),
        }
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    let longest = a.len().max(b.len());
    for i in 0..longest {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

/// `Authorization: Basic base64(user:password)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Standard base64 with padding; `None` on any other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let produced = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        for i in 0..produced {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_base64() {
        assert_eq!(
            base64_decode("YWRtaW46czNjcmV0").as_deref(),
            Some(&b"admin:s3cret"[..])
        );
        assert_eq!(base64_decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("YWI=").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64_decode("!!!!"), None);
    }

    #[test]
    fn compares_in_constant_time() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
