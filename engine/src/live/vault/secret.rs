use std::fmt;

use zeroize::Zeroizing;

/// A credential's secret value. Its bytes are wiped when it is dropped, and `Debug` shows
/// only that it is redacted, so a logged struct holding one leaks nothing.
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        SecretValue(Zeroizing::new(bytes.into()))
    }

    pub(super) fn from_plaintext(bytes: Zeroizing<Vec<u8>>) -> Self {
        SecretValue(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The value as text, for the usual API keys, tokens and passwords.
    pub fn expose_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.0)
    }
}

impl From<String> for SecretValue {
    fn from(text: String) -> Self {
        SecretValue::new(text)
    }
}

impl From<&str> for SecretValue {
    fn from(text: &str) -> Self {
        SecretValue::new(text)
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}
