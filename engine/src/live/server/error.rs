//! One error shape for every route: a status and `{ "error": ..., "field"?: ... }`.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::live::LiveError;
use crate::live::vault::VaultError;
use crate::model::{Booking, ValidationError};
use crate::policy::booking::BookingError;
use crate::policy::ledger::LedgerError;
use crate::policy::reservation::ReserveError;

/// What a failed request answers.
#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// The value refused and what was expected, when one value was at fault (boxed: most
    /// errors have none, and handlers return this by value).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    detail: Option<Box<Detail>>,
    /// Why work was refused (`quota`, `credit`, …), for clients that map it to a type.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    /// The confirmed booking a new one would overlap.
    #[serde(skip_serializing_if = "Option::is_none")]
    conflict: Option<Box<Booking>>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        ApiError {
            status,
            error: error.into(),
            field: None,
            detail: None,
            reason: None,
            conflict: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "missing or unknown bearer token: expected `Authorization: Bearer <token>`",
        )
    }

    pub fn forbidden(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            format!("this token acts for another client and may not touch {what}"),
        )
    }

    pub fn not_found(kind: &str, id: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("unknown {kind} {:?}", id.to_string()),
        )
    }

    pub fn bad_query(field: &str, got: &str, expected: &str) -> Self {
        let mut error = Self::new(
            StatusCode::BAD_REQUEST,
            format!("invalid {field}: got {got:?}, expected {expected}"),
        )
        .with_field(field);
        error.detail = Some(Box::new(Detail {
            value: got.to_owned(),
            expected: expected.to_owned(),
        }));
        error
    }

    pub fn invalid(e: ValidationError) -> Self {
        let mut error = Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
        error.field = Some(e.field);
        error.detail = Some(Box::new(Detail {
            value: e.value,
            expected: e.expected,
        }));
        error
    }

    /// Work refused for `reason` (`quota`, `credit`): 429 for a quota, 402 for credit.
    pub fn refused(reason: &'static str, message: impl Into<String>) -> Self {
        let status = match reason {
            "credit" => StatusCode::PAYMENT_REQUIRED,
            _ => StatusCode::TOO_MANY_REQUESTS,
        };
        let mut error = Self::new(status, message);
        error.reason = Some(reason);
        error
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "request failed inside the server");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }

    /// A malformed, mistyped or oversized JSON body.
    pub fn from_json(e: &JsonPayloadError) -> Self {
        match e {
            JsonPayloadError::Overflow { limit }
            | JsonPayloadError::OverflowKnownLength { limit, .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body too large: expected at most {limit} bytes"),
            ),
            JsonPayloadError::ContentType => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a JSON body with `Content-Type: application/json`",
            ),
            JsonPayloadError::Deserialize(e) => Self::from_serde(e),
            other => Self::new(StatusCode::BAD_REQUEST, other.to_string()),
        }
    }

    /// Syntax errors are 400; well-formed JSON of the wrong shape or types is 422.
    pub fn from_serde(e: &serde_json::Error) -> Self {
        let status = if e.is_data() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        let error = Self::new(status, format!("invalid JSON body: {e}"));
        match quoted_field(&e.to_string()) {
            Some(field) => error.with_field(field),
            None => error,
        }
    }

    pub fn from_query(e: &QueryPayloadError) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("invalid query string: {e}"),
        )
    }

    pub fn from_path(e: &PathError) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no such id: {e}"))
    }
}

/// The value at fault, as text, and what would have been accepted in its place.
#[derive(Debug, Serialize)]
struct Detail {
    value: String,
    expected: String,
}

/// serde names a missing or unknown field between backticks (other messages quote values).
fn quoted_field(message: &str) -> Option<String> {
    if !(message.starts_with("missing field") || message.starts_with("unknown field")) {
        return None;
    }
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.error)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(self)
    }
}

impl From<LiveError> for ApiError {
    fn from(e: LiveError) -> Self {
        match e {
            LiveError::Invalid(v) => Self::invalid(v),
            LiveError::Unknown { kind, id } => Self::not_found(kind, id),
            LiveError::InUse(message) => {
                let mut error = Self::new(StatusCode::CONFLICT, message);
                error.reason = Some("in_use");
                error
            }
            LiveError::QuotaExceeded(message) => Self::refused("quota", message),
            LiveError::Booking(b) => b.into(),
            LiveError::Credit(b) => b.into(),
            LiveError::Cost(LedgerError::Invalid(v)) => Self::invalid(v),
            LiveError::Cost(e @ LedgerError::Overflow { .. }) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).with_field("amount")
            }
            other => Self::internal(other),
        }
    }
}

impl From<BookingError> for ApiError {
    fn from(e: BookingError) -> Self {
        match e {
            BookingError::Conflict { existing } => {
                let mut error = Self::new(
                    StatusCode::CONFLICT,
                    BookingError::Conflict {
                        existing: existing.clone(),
                    }
                    .to_string(),
                );
                error.conflict = Some(existing);
                error
            }
            BookingError::UnknownBooking(id) => Self::not_found("booking", id),
            BookingError::UnknownResource(id) => Self::not_found("resource", id),
            BookingError::InvalidSlot(v) => Self::invalid(v),
            e @ BookingError::InThePast { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).with_field("start_time")
            }
            e @ BookingError::TooLong { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).with_field("end_time")
            }
            e => Self::new(StatusCode::CONFLICT, e.to_string()),
        }
    }
}

impl From<ReserveError> for ApiError {
    fn from(e: ReserveError) -> Self {
        match e {
            ReserveError::UnknownClient(id) => Self::not_found("client", id),
            ReserveError::UnknownReservation(id) => Self::not_found("reservation", id),
            e @ ReserveError::Unestimated => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
                    .with_field("estimated_cost")
            }
            e @ ReserveError::InsufficientCredit { .. } => Self::refused("credit", e.to_string()),
            ReserveError::Invalid(v) => Self::invalid(v),
            e @ ReserveError::SameAccount(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).with_field("to")
            }
            e => Self::new(StatusCode::CONFLICT, e.to_string()),
        }
    }
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::UnknownCredential { id } => Self::not_found("credential", id),
            VaultError::Invalid(v) => Self::invalid(v),
            other => Self::internal(other),
        }
    }
}
