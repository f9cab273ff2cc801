//! API errors: JSON `{"error": {"code", "message", "field"}}` with the message
//! in the request's language. Codes are stable; statuses come from the kind.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use celltrail_core::i18n::{catalog, Lang};
use celltrail_store::error::{ErrorKind, StoreError};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub err: StoreError,
    pub lang: Lang,
}

#[derive(Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize)]
pub struct ErrorDetail {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

pub fn status_of(kind: ErrorKind, code: &str) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unauthenticated if code == "login_throttled" => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The localised message for an error: `error.<code>` with its arguments,
/// or the generic message when the catalogue has no entry for the code.
pub fn message(lang: Lang, err: &StoreError) -> String {
    let key = format!("error.{}", err.code);
    let cat = catalog();
    let key = if cat.get(lang, &key) == key {
        "error.generic".to_string()
    } else {
        key
    };
    let mut args: Vec<(&str, &str)> = err
        .args
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Some(f) = &err.field {
        args.push(("field", f.as_str()));
    }
    cat.format(lang, &key, &args)
}

impl ApiError {
    pub fn new(lang: Lang, err: StoreError) -> Self {
        ApiError {
            status: status_of(err.kind, err.code),
            err,
            lang,
        }
    }
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.err.code,
                message: message(self.lang, &self.err),
                field: self.err.field.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.err.code, detail = %self.err.detail, "request failed");
        }
        (self.status, Json(self.body())).into_response()
    }
}
