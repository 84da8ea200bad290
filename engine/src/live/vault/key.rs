use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::VaultError;

/// The environment variable holding the vault key: 64 hexadecimal characters.
pub const KEY_VARIABLE: &str = "QM_ENCRYPTION_KEY";
/// The seed's name for the same key, read when [`KEY_VARIABLE`] is not set.
pub const KEY_ALIAS: &str = "MC_ENCRYPTION_KEY";

const KEY_BYTES: usize = 32;
const EXPECTED_KEY: &str = "64 hexadecimal characters (a 32-byte AES-256 key)";

/// Where the development key's machine identity is read from, first readable one wins.
const MACHINE_IDENTITY_FILES: [&str; 3] = [
    "/etc/machine-id",
    "/var/lib/dbus/machine-id",
    "/etc/hostname",
];

/// Versioned so that a future derivation cannot silently produce a different key for the
/// same machine.
const DEVELOPMENT_KEY_LABEL: &[u8] = b"quartermaster vault development key v1";

/// A 256-bit vault key and where it came from. The bytes are wiped when it is dropped and
/// never printed.
pub struct VaultKey {
    bytes: Zeroizing<[u8; KEY_BYTES]>,
    origin: KeyOrigin,
}

/// Where a [`VaultKey`] came from, for warnings and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Parsed from the environment variable of this name.
    Variable(String),
    /// Handed over as bytes by the embedding program.
    Given,
    /// Derived from this machine's identity because no key was configured: a development
    /// convenience, not protection.
    MachineDerived {
        /// What the identity was read from, e.g. `/etc/machine-id`.
        identity: String,
    },
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrigin::Variable(name) => write!(f, "the key from {name}"),
            KeyOrigin::Given => f.write_str("the key given by the embedding program"),
            KeyOrigin::MachineDerived { identity } => write!(
                f,
                "the machine-derived development key ({KEY_VARIABLE} is not set; derived from \
                 {identity})"
            ),
        }
    }
}

impl VaultKey {
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        VaultKey {
            bytes: Zeroizing::new(bytes),
            origin: KeyOrigin::Given,
        }
    }

    /// Parses 64 hexadecimal characters (either case, surrounding whitespace ignored) read
    /// from `variable`. Errors name the variable and describe the text without echoing it.
    pub fn from_hex(variable: &str, text: &str) -> Result<Self, VaultError> {
        let malformed = |got: String| VaultError::MalformedKey {
            variable: variable.to_owned(),
            got,
            expected: EXPECTED_KEY,
        };
        let text = text.trim();
        let length = text.chars().count();
        if length != 2 * KEY_BYTES {
            return Err(malformed(format!("{length} characters")));
        }
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        let digits = text.as_bytes();
        for (index, byte) in bytes.iter_mut().enumerate() {
            let high = hex_digit(digits[2 * index]);
            let low = hex_digit(digits[2 * index + 1]);
            match (high, low) {
                (Some(high), Some(low)) => *byte = high << 4 | low,
                (None, _) => return Err(malformed(non_hex_at(2 * index))),
                (_, None) => return Err(malformed(non_hex_at(2 * index + 1))),
            }
        }
        Ok(VaultKey {
            bytes,
            origin: KeyOrigin::Variable(variable.to_owned()),
        })
    }

    /// The key for a value of [`KEY_VARIABLE`]: parsed when set, the machine-derived
    /// development key when not. Set but empty is refused rather than treated as unset, so a
    /// deployment whose secret did not arrive fails instead of using the development key.
    pub fn resolve(value: Option<&str>) -> Result<Self, VaultError> {
        match value {
            Some(text) => Self::from_hex(KEY_VARIABLE, text),
            None => Ok(Self::machine_derived()),
        }
    }

    /// The key of [`KEY_VARIABLE`], else of its alias [`KEY_ALIAS`], else the machine's.
    /// Both set to different keys is refused: which one encrypts would be a guess.
    pub fn resolve_variables(
        primary: Option<&str>,
        alias: Option<&str>,
    ) -> Result<Self, VaultError> {
        match (primary, alias) {
            (Some(primary), Some(alias)) if primary.trim() != alias.trim() => {
                Err(VaultError::MalformedKey {
                    variable: KEY_ALIAS.to_owned(),
                    got: format!("a key other than {KEY_VARIABLE}'s"),
                    expected: "the same key as QM_ENCRYPTION_KEY, or unset",
                })
            }
            (Some(primary), _) => Self::from_hex(KEY_VARIABLE, primary),
            (None, Some(alias)) => Self::from_hex(KEY_ALIAS, alias),
            (None, None) => Ok(Self::machine_derived()),
        }
    }

    /// [`VaultKey::resolve_variables`] applied to this process's environment.
    pub fn from_env() -> Result<Self, VaultError> {
        let read = |variable: &str| match std::env::var(variable) {
            Ok(text) => Ok(Some(Zeroizing::new(text))),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(VaultError::MalformedKey {
                variable: variable.to_owned(),
                got: "text that is not valid Unicode".to_owned(),
                expected: EXPECTED_KEY,
            }),
        };
        let (primary, alias) = (read(KEY_VARIABLE)?, read(KEY_ALIAS)?);
        Self::resolve_variables(
            primary.as_deref().map(String::as_str),
            alias.as_deref().map(String::as_str),
        )
    }

    /// SHA-256 of a fixed label and this machine's identity. Anyone who can read the machine
    /// can recompute it, which is why opening a vault with it always logs a warning.
    pub fn machine_derived() -> Self {
        let (identity, source) = machine_identity();
        let digest = Sha256::new()
            .chain_update(DEVELOPMENT_KEY_LABEL)
            .chain_update([0u8])
            .chain_update(identity.as_bytes())
            .finalize();
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        bytes.copy_from_slice(&digest);
        VaultKey {
            bytes,
            origin: KeyOrigin::MachineDerived { identity: source },
        }
    }

    pub fn origin(&self) -> &KeyOrigin {
        &self.origin
    }

    pub(super) fn bytes(&self) -> &[u8; KEY_BYTES] {
        &self.bytes
    }
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultKey")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

fn hex_digit(character: u8) -> Option<u8> {
    (character as char).to_digit(16).map(|digit| digit as u8)
}

fn non_hex_at(index: usize) -> String {
    format!("a non-hexadecimal character at position {}", index + 1)
}

/// The machine's identity and where it was read from. With none readable every such
/// machine shares one development key, which the origin says.
fn machine_identity() -> (String, String) {
    for path in MACHINE_IDENTITY_FILES {
        if let Ok(text) = std::fs::read_to_string(path) {
            let identity = text.trim();
            if !identity.is_empty() {
                return (identity.to_owned(), path.to_owned());
            }
        }
    }
    (
        String::new(),
        format!(
            "nothing: none of {} is readable, so every such machine shares this key",
            MACHINE_IDENTITY_FILES.join(", ")
        ),
    )
}
