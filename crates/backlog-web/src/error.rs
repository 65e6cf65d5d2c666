//! The one error type of the HTTP API, which turns itself into a JSON response
//! `{"error": {"code": "...", "message": "..."}}` with the matching status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An API failure: what went wrong, as a stable code and a sentence for people.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request was malformed: a bad filter, an unknown state, a missing field (400).
    #[error("{0}")]
    BadRequest(String),
    /// No credentials, or wrong ones (401).
    #[error("authentication required")]
    Unauthorized,
    /// The caller may read but not change anything, or the feature is off (403).
    #[error("{0}")]
    Forbidden(String),
    /// A cross-site or form-encoded state-changing request was refused (403).
    #[error("{0}")]
    CrossSite(String),
    /// The job, queue or schedule does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The database failed (500); details are logged, not shown.
    #[error("storage error: {0}")]
    Storage(#[from] backlog_storage::Error),
    /// The library refused the operation (400) or failed (500).
    #[error("{0}")]
    Backlog(#[from] backlog::Error),
}

impl ApiError {
    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::CrossSite(_) => "cross_site_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::Storage(_) => "storage_error",
            ApiError::Backlog(backlog::Error::Config(_) | backlog::Error::Schedule(_)) => {
                "bad_request"
            }
            ApiError::Backlog(_) => "internal_error",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::CrossSite(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Backlog(backlog::Error::Config(_) | backlog::Error::Schedule(_)) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Storage(_) | ApiError::Backlog(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<backlog::EnqueueError> for ApiError {
    /// The database's failures are server errors; everything else is the caller's input.
    fn from(e: backlog::EnqueueError) -> Self {
        match e {
            backlog::EnqueueError::Storage(e) => ApiError::Storage(e),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "backlog web request failed");
        }
        let body = serde_json::json!({"error": {"code": self.code(), "message": self.to_string()}});
        let mut response = (status, Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"backlog\", charset=\"UTF-8\""),
            );
        }
        response
    }
}
