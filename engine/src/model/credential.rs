use serde::{Deserialize, Serialize};

use super::{ClientId, CredentialId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    ApiKey,
    Token,
    Password,
    Certificate,
    Other,
}

/// What is known of a stored credential without decrypting it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialMeta {
    pub id: CredentialId,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: CredentialKind,
    pub service: String,
    #[serde(default)]
    pub description: String,
    pub owner: ClientId,
    #[serde(default)]
    pub permissions: Vec<String>,
    pub created_at: Timestamp,
    pub last_used: Option<Timestamp>,
    pub usage_count: u64,
}
