use thiserror::Error;

/// A value that failed validation: which field, what it was, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {field}: got {value}, expected {expected}")]
pub struct ValidationError {
    pub field: String,
    pub value: String,
    pub expected: String,
}

impl ValidationError {
    pub fn new(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// Prefixes the field with its owner, e.g. `pool[gpt4].capacity`.
    pub fn within(mut self, owner: impl std::fmt::Display) -> Self {
        self.field = format!("{owner}.{}", self.field);
        self
    }
}

/// Fails with a [`ValidationError`] unless `ok` holds.
pub(crate) fn ensure(
    ok: bool,
    field: &str,
    value: impl std::fmt::Display,
    expected: &str,
) -> Result<(), ValidationError> {
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(field, value, expected))
    }
}

pub(crate) fn ensure_name(field: &str, value: &str) -> Result<(), ValidationError> {
    ensure(
        !value.trim().is_empty() && value.len() <= 200,
        field,
        format!("{value:?}"),
        "a non-empty name of at most 200 bytes",
    )
}

pub(crate) fn ensure_fraction(field: &str, value: f64) -> Result<(), ValidationError> {
    ensure(
        value.is_finite() && (0.0..=1.0).contains(&value),
        field,
        value,
        "a number between 0 and 1",
    )
}
