//! The credentials vault: secrets encrypted at rest in SQLite.
//!
//! Each secret is sealed with AES-256-GCM under a fresh random nonce, its credential id bound
//! as associated data, so a ciphertext neither decrypts under another key nor in another
//! row. The key comes from [`KEY_VARIABLE`] (see [`VaultKey`]); a key check kept in
//! `vault_meta` rejects a wrong key when the vault opens, before anything is written.
//! Metadata is readable without decrypting; a value is decrypted only by [`Vault::reveal`],
//! which counts the use. Time is always passed in: the vault reads no clock.
//!
//! Opening turns on SQLite's `secure_delete` for the connection, so the bytes of deleted and
//! replaced ciphertexts are zeroed in the database file rather than left in free space (in
//! WAL mode old page images stay in the `-wal` file until the next checkpoint).

mod cipher;
mod error;
mod key;
mod secret;
mod store;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

pub use error::VaultError;
pub use key::{KEY_ALIAS, KEY_VARIABLE, KeyOrigin, VaultKey};
pub use secret::SecretValue;
pub use store::ensure_schema;

use crate::model::{
    ClientId, CredentialId, CredentialKind, CredentialMeta, Timestamp, ValidationError,
};
use cipher::{Cipher, KEY_CHECK_AAD, KEY_CHECK_MARKER, Sealed, credential_aad};

/// The largest secret accepted: certificates and keys fit many times over.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;
const MAX_NAME_BYTES: usize = 200;

/// A credential to store: its metadata and its secret value.
#[derive(Debug)]
pub struct NewCredential {
    pub name: String,
    pub kind: CredentialKind,
    pub service: String,
    pub description: String,
    pub owner: ClientId,
    pub permissions: Vec<String>,
    pub value: SecretValue,
}

/// The credentials vault over one SQLite connection, which it owns so the live engine can
/// hold it in an actor. Reads take `&self`; anything that writes takes `&mut self` and runs
/// in its own transaction.
pub struct Vault {
    conn: Connection,
    cipher: Cipher,
    key_origin: KeyOrigin,
}

impl Vault {
    /// Opens the vault in `conn`, creating its tables and key check on first use. Fails with
    /// [`VaultError::WrongKey`] if the stored key check does not decrypt under `key`, having
    /// written nothing. Logs a warning whenever `key` is the machine-derived development key.
    pub fn open(conn: Connection, key: VaultKey) -> Result<Self, VaultError> {
        Self::open_connection(conn, key, IfMissing::Create)
    }

    /// [`Vault::open`] on the SQLite file at `path`, created if missing.
    pub fn open_path(path: impl AsRef<Path>, key: VaultKey) -> Result<Self, VaultError> {
        Self::open(Connection::open(path)?, key)
    }

    /// Opens the vault already in the SQLite file at `path`; refuses with
    /// [`VaultError::NoVault`] rather than create a file or a vault, which an operator's tool
    /// pointed at the wrong file must not do.
    pub fn open_existing(path: impl AsRef<Path>, key: VaultKey) -> Result<Self, VaultError> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(VaultError::NoVault {
                path: path.to_path_buf(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        Self::open_connection(conn, key, IfMissing::Refuse(path))
    }

    fn open_connection(
        mut conn: Connection,
        key: VaultKey,
        if_missing: IfMissing<'_>,
    ) -> Result<Self, VaultError> {
        if let KeyOrigin::MachineDerived { identity } = key.origin() {
            tracing::warn!(
                identity = %identity,
                "the vault is using a machine-derived development key because {KEY_VARIABLE} \
                 is not set: anyone who can read this machine can decrypt its secrets, and \
                 they are lost if the machine's identity changes; set {KEY_VARIABLE} to 64 \
                 hexadecimal characters (32 random bytes) for real use"
            );
        }
        conn.pragma_update(None, "secure_delete", true)?;
        let cipher = Cipher::new(&key);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let meta = match if_missing {
            IfMissing::Create => {
                ensure_schema(&tx)?;
                store::read_meta(&tx)?
            }
            IfMissing::Refuse(path) => {
                let meta = match store::has_meta_table(&tx)? {
                    true => store::read_meta(&tx)?,
                    false => None,
                };
                Some(meta.ok_or_else(|| VaultError::NoVault {
                    path: path.to_path_buf(),
                })?)
            }
        };
        match meta {
            None => store::insert_meta(&tx, &cipher.seal(KEY_CHECK_AAD, KEY_CHECK_MARKER)?)?,
            Some(meta) if meta.schema_version > store::SCHEMA_VERSION => {
                return Err(VaultError::UnsupportedSchema {
                    found: meta.schema_version,
                    supported: store::SCHEMA_VERSION,
                });
            }
            Some(meta) if !key_check_passes(&cipher, &meta.key_check) => {
                return Err(VaultError::WrongKey {
                    key: key.origin().to_string(),
                });
            }
            Some(_) => {}
        }
        tx.commit()?;
        Ok(Vault {
            conn,
            cipher,
            key_origin: key.origin().clone(),
        })
    }

    /// Stores a new credential as `cred-<n>`, numbers never reused.
    pub fn create(
        &mut self,
        new: NewCredential,
        now: Timestamp,
    ) -> Result<CredentialMeta, VaultError> {
        validate(&new)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq = store::take_next_seq(&tx)?;
        let id = CredentialId::new(format!("cred-{seq}"));
        let sealed = self.cipher.seal(&credential_aad(&id), new.value.expose())?;
        let meta = CredentialMeta {
            id,
            name: new.name,
            kind: new.kind,
            service: new.service,
            description: new.description,
            owner: new.owner,
            permissions: new.permissions,
            created_at: now,
            last_used: None,
            usage_count: 0,
        };
        store::insert_credential(&tx, seq, &meta, &sealed)?;
        tx.commit()?;
        Ok(meta)
    }

    /// Metadata of every credential, or only `owner`'s, in creation order. Decrypts nothing
    /// and counts no use.
    pub fn list(&self, owner: Option<&ClientId>) -> Result<Vec<CredentialMeta>, VaultError> {
        store::select_metas(&self.conn, owner)
    }

    pub fn get(&self, id: &CredentialId) -> Result<CredentialMeta, VaultError> {
        store::select_meta(&self.conn, id)?.ok_or_else(|| unknown(id))
    }

    /// Decrypts a credential's value and, in the same transaction, records the use
    /// (`last_used = now`, `usage_count + 1`). A value that fails authentication is not
    /// returned and its use is not counted.
    pub fn reveal(
        &mut self,
        id: &CredentialId,
        now: Timestamp,
    ) -> Result<(CredentialMeta, SecretValue), VaultError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (mut meta, sealed) = store::select_sealed(&tx, id)?.ok_or_else(|| unknown(id))?;
        let plaintext = self
            .cipher
            .open(&credential_aad(id), &sealed)
            .ok_or_else(|| authentication_failure(&tx, &self.cipher, &self.key_origin, id))?;
        meta.usage_count = meta.usage_count.saturating_add(1);
        meta.last_used = Some(now);
        store::record_use(&tx, &meta)?;
        tx.commit()?;
        Ok((meta, SecretValue::from_plaintext(plaintext)))
    }

    /// Replaces a credential's value, sealed under a fresh nonce.
    pub fn update_value(
        &mut self,
        id: &CredentialId,
        value: SecretValue,
    ) -> Result<(), VaultError> {
        validate_value(&value)?;
        let sealed = self.cipher.seal(&credential_aad(id), value.expose())?;
        if store::update_sealed(&self.conn, id, &sealed)? {
            Ok(())
        } else {
            Err(unknown(id))
        }
    }

    /// Removes a credential, its ciphertext with it.
    pub fn delete(&mut self, id: &CredentialId) -> Result<(), VaultError> {
        if store::delete(&self.conn, id)? {
            Ok(())
        } else {
            Err(unknown(id))
        }
    }

    /// Re-encrypts every credential and the key check under `new_key` in one transaction and
    /// returns how many credentials it re-encrypted. Any failure, or a crash, before the
    /// commit leaves everything under the current key; after it only `new_key` opens the
    /// vault.
    pub fn rotate_key(&mut self, new_key: VaultKey) -> Result<usize, VaultError> {
        self.rotate_key_observed(new_key, |_| Ok(()))
    }

    /// [`Vault::rotate_key`], calling `after_row` inside the transaction once each credential
    /// is re-encrypted, so tests can interrupt a rotation half-way.
    fn rotate_key_observed(
        &mut self,
        new_key: VaultKey,
        mut after_row: impl FnMut(&CredentialId) -> Result<(), VaultError>,
    ) -> Result<usize, VaultError> {
        let new_cipher = Cipher::new(&new_key);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows = store::select_all_sealed(&tx)?;
        for (id, sealed) in &rows {
            let aad = credential_aad(id);
            let plaintext = self
                .cipher
                .open(&aad, sealed)
                .ok_or_else(|| authentication_failure(&tx, &self.cipher, &self.key_origin, id))?;
            store::update_sealed(&tx, id, &new_cipher.seal(&aad, &plaintext)?)?;
            after_row(id)?;
        }
        store::write_key_check(&tx, &new_cipher.seal(KEY_CHECK_AAD, KEY_CHECK_MARKER)?)?;
        tx.commit()?;
        self.cipher = new_cipher;
        self.key_origin = new_key.origin().clone();
        tracing::info!(credentials = rows.len(), key = %self.key_origin, "vault key rotated");
        Ok(rows.len())
    }
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.conn.path())
            .field("key", &self.key_origin)
            .finish_non_exhaustive()
    }
}

/// What opening does with a database that holds no vault yet.
enum IfMissing<'a> {
    Create,
    /// Refuse, naming the file.
    Refuse(&'a Path),
}

fn key_check_passes(cipher: &Cipher, key_check: &Sealed) -> bool {
    cipher
        .open(KEY_CHECK_AAD, key_check)
        .is_some_and(|marker| marker.as_slice() == KEY_CHECK_MARKER)
}

/// Why `id`'s ciphertext did not authenticate: the key check failing too means the vault
/// was re-keyed by someone else since it was opened; otherwise the row itself is bad.
fn authentication_failure(
    conn: &Connection,
    cipher: &Cipher,
    key_origin: &KeyOrigin,
    id: &CredentialId,
) -> VaultError {
    let key_still_right = matches!(
        store::read_meta(conn),
        Ok(Some(meta)) if key_check_passes(cipher, &meta.key_check)
    );
    if key_still_right {
        VaultError::Tampered { id: id.clone() }
    } else {
        VaultError::WrongKey {
            key: key_origin.to_string(),
        }
    }
}

fn unknown(id: &CredentialId) -> VaultError {
    VaultError::UnknownCredential { id: id.clone() }
}

fn validate(new: &NewCredential) -> Result<(), ValidationError> {
    validate_name("name", &new.name)?;
    validate_name("service", &new.service)?;
    validate_name("owner", new.owner.as_str())?;
    if let Some(blank) = new.permissions.iter().find(|p| p.trim().is_empty()) {
        return Err(ValidationError::new(
            "permissions",
            format!("{blank:?}"),
            "non-empty permission names",
        ));
    }
    validate_value(&new.value)
}

fn validate_name(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() || value.len() > MAX_NAME_BYTES {
        return Err(ValidationError::new(
            field,
            format!("{value:?}"),
            format!("a non-empty name of at most {MAX_NAME_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn validate_value(value: &SecretValue) -> Result<(), ValidationError> {
    let length = value.expose().len();
    if length == 0 || length > MAX_SECRET_BYTES {
        // The length only: the value itself never goes into a message.
        return Err(ValidationError::new(
            "value",
            format!("{length} bytes"),
            format!("a secret of 1 to {MAX_SECRET_BYTES} bytes"),
        ));
    }
    Ok(())
}
