//! Request guards and response headers: authentication, CSRF refusal of cross-site
//! state-changing requests, and the security headers (CSP with a per-response nonce, nosniff,
//! no-store, frame-ancestors 'none', no indexing).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::Role;
use crate::state::AppState;
use crate::ApiError;

/// A random nonce for this response's inline script, also in its CSP header.
#[derive(Debug, Clone)]
pub(crate) struct Nonce(pub(crate) String);

fn new_nonce() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// Sets the security headers on every response.
pub(crate) async fn headers(mut request: Request, next: Next) -> Response {
    let nonce = new_nonce();
    request.extensions_mut().insert(Nonce(nonce.clone()));
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
    response
}

/// Whether the method changes state.
fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses a state-changing request that another site could have sent: a `Sec-Fetch-Site`
/// other than `same-origin`/`none`, an `Origin` whose host is not this `Host`, or a body type
/// an HTML form can send (the API takes JSON only, which a cross-site page cannot send
/// without a CORS preflight this server never grants).
pub(crate) fn check_cross_site(request: &Request<Body>) -> Result<(), ApiError> {
    if !is_write(request.method()) {
        return Ok(());
    }
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if site != "same-origin" && site != "none" {
            return Err(ApiError::CrossSite(format!(
                "refused a state-changing request from another site (Sec-Fetch-Site: {site})"
            )));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
        if origin == "null" || host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
            return Err(ApiError::CrossSite(format!(
                "refused a state-changing request from origin {origin:?} (this host is {host:?})"
            )));
        }
    }
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        if ct.starts_with("application/x-www-form-urlencoded")
            || ct.starts_with("multipart/form-data")
            || ct.starts_with("text/plain")
        {
            return Err(ApiError::CrossSite(format!(
                "refused a state-changing request with a form content type ({ct}); send application/json"
            )));
        }
    }
    Ok(())
}

/// Authenticates the caller, refuses writes from read-only callers and cross-site writes, and
/// stores the [`Identity`](crate::Identity) for the handlers' audit logs.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Some(identity) = state.options.auth.identify(&parts) else {
        return ApiError::Unauthorized.into_response();
    };
    let mut request = Request::from_parts(parts, body);
    if is_write(request.method()) {
        if identity.role < Role::Admin {
            return ApiError::Forbidden(format!(
                "{} has the read-only role: actions need the admin role",
                identity.name
            ))
            .into_response();
        }
        if let Err(e) = check_cross_site(&request) {
            tracing::warn!(who = %identity.name, path = %request.uri().path(), error = %e, "backlog web: refused write");
            return e.into_response();
        }
    }
    request.extensions_mut().insert(identity);
    next.run(request).await
}
