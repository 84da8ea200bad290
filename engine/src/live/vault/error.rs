use std::path::PathBuf;

use thiserror::Error;

use crate::model::{CredentialId, ValidationError};

/// Why a vault operation failed. No message ever contains a secret or a key.
#[derive(Debug, Error)]
pub enum VaultError {
    #[error("{variable} is malformed: got {got}, expected {expected}")]
    MalformedKey {
        variable: String,
        /// A description of what was given (its length, the offending position), never the
        /// text itself: even a malformed key is mostly a real one.
        got: String,
        expected: &'static str,
    },
    #[error(
        "wrong vault key: the key check in vault_meta does not decrypt under {key}; \
         expected the key the vault was created (or last rotated) with; nothing was changed"
    )]
    WrongKey { key: String },
    #[error("unknown credential {id:?}: expected the id of a stored credential (see `list`)")]
    UnknownCredential { id: CredentialId },
    #[error(
        "credential {id}: its stored ciphertext failed authentication although the key is \
         right (the key check passed); the row was altered or its ciphertext was moved from \
         another row"
    )]
    Tampered { id: CredentialId },
    #[error("invalid credential: {0}")]
    Invalid(#[from] ValidationError),
    #[error(
        "vault row {row}: {field} holds {value}, expected {expected}; the store was edited \
         outside the vault"
    )]
    CorruptRow {
        row: String,
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(
        "vault schema version {found} is newer than this build understands (expected at \
         most {supported}); upgrade quartermaster"
    )]
    UnsupportedSchema { found: i64, supported: i64 },
    #[error(
        "no vault in {}: expected a SQLite database holding a vault_meta table (the live \
         engine creates it)", path.display()
    )]
    NoVault { path: PathBuf },
    #[error("no OS randomness for a nonce: {0}")]
    Randomness(getrandom::Error),
    #[error("vault storage: {0}")]
    Storage(#[from] rusqlite::Error),
}
