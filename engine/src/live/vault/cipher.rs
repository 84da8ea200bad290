use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use super::{VaultError, VaultKey};
use crate::model::{CredentialId, ValidationError};

const NONCE_BYTES: usize = 12;

/// The plaintext of the key check: decrypting it proves the key before anything is written.
pub(super) const KEY_CHECK_MARKER: &[u8] = b"quartermaster vault key check v1";
/// Associated data of the key check, distinct from every credential's so neither ciphertext
/// can stand in for the other.
pub(super) const KEY_CHECK_AAD: &[u8] = b"quartermaster/vault/key-check";

/// Associated data of a credential's ciphertext: its id, so a ciphertext copied to another
/// row fails authentication there.
pub(super) fn credential_aad(id: &CredentialId) -> Vec<u8> {
    [b"quartermaster/vault/credential/", id.as_str().as_bytes()].concat()
}

/// A nonce and the AES-256-GCM ciphertext (tag appended) made with it, as stored.
pub(super) struct Sealed {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// AES-256-GCM under one vault key.
pub(super) struct Cipher(Aes256Gcm);

impl Cipher {
    pub fn new(key: &VaultKey) -> Self {
        Cipher(Aes256Gcm::new(key.bytes().into()))
    }

    /// Encrypts under a fresh nonce from the operating system's generator: never the
    /// simulation's seeded RNG, whose draws are reproducible by design.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, VaultError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(VaultError::Randomness)?;
        let ciphertext = self
            .0
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| {
                ValidationError::new(
                    "value",
                    format!("{} bytes", plaintext.len()),
                    "a secret AES-GCM can encrypt",
                )
            })?;
        Ok(Sealed {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// The plaintext, or `None` when authentication fails: wrong key, altered bytes, a
    /// nonce of the wrong length, or associated data other than the one sealed with.
    pub fn open(&self, aad: &[u8], sealed: &Sealed) -> Option<Zeroizing<Vec<u8>>> {
        let nonce = Nonce::try_from(&sealed.nonce[..]).ok()?;
        self.0
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}
