use serde::{Deserialize, Serialize};

use super::{ClientId, CredentialId, Timestamp, ValidationError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    ApiKey,
    Token,
    Password,
    Certificate,
    Other,
}

impl CredentialKind {
    pub const ALL: [CredentialKind; 5] = [
        CredentialKind::ApiKey,
        CredentialKind::Token,
        CredentialKind::Password,
        CredentialKind::Certificate,
        CredentialKind::Other,
    ];

    /// The name used in files, the store and the command line (`api_key`, `token`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Token => "token",
            CredentialKind::Password => "password",
            CredentialKind::Certificate => "certificate",
            CredentialKind::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                ValidationError::new(
                    "credential type",
                    format!("{text:?}"),
                    "one of api_key, token, password, certificate, other",
                )
            })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_match_serde_and_parse_back() {
        for kind in CredentialKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(CredentialKind::parse(kind.as_str()).unwrap(), kind);
        }
        let err = CredentialKind::parse("apikey").unwrap_err();
        assert!(err.to_string().contains("api_key, token"), "{err}");
    }
}
