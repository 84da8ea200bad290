//! The credentials vault: secrets encrypted at rest in a SQLite file (the live engine's, or
//! any other).

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use quartermaster::clock::{Clock, WallClock};
use quartermaster::live::vault::{NewCredential, SecretValue, Vault, VaultKey};
use quartermaster::model::{ClientId, CredentialId, CredentialKind};

use crate::convert::serialized;
use crate::errors::{invalid_input, raise, vault_error};

#[pyclass(name = "Vault", module = "quartermaster._quartermaster")]
pub struct PyVault {
    vault: Mutex<Vault>,
}

impl PyVault {
    fn lock(&self) -> PyResult<MutexGuard<'_, Vault>> {
        self.vault
            .lock()
            .map_err(|_| raise("QuartermasterError", "the vault was poisoned"))
    }
}

#[pymethods]
impl PyVault {
    /// Opens (or creates) the vault in the SQLite file at `path`. `key_hex` is 64 hex
    /// characters; without it the key comes from `QM_ENCRYPTION_KEY`, or is the
    /// machine-derived development key when that is unset.
    #[new]
    #[pyo3(signature = (path, key_hex = None))]
    fn open(py: Python<'_>, path: PathBuf, key_hex: Option<&str>) -> PyResult<Self> {
        let key = match key_hex {
            Some(hex) => VaultKey::from_hex("key_hex", hex),
            None => VaultKey::from_env(),
        }
        .map_err(vault_error)?;
        let vault = py
            .detach(|| Vault::open_path(&path, key))
            .map_err(vault_error)?;
        Ok(PyVault {
            vault: Mutex::new(vault),
        })
    }

    /// Stores a secret and returns its metadata (its id is `cred-<n>`).
    #[pyo3(signature = (name, kind, service, owner, value, description = "", permissions = Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn create<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        kind: &str,
        service: &str,
        owner: &str,
        value: &str,
        description: &str,
        permissions: Vec<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kind = CredentialKind::parse(kind).map_err(|e| invalid_input(e.to_string()))?;
        let new = NewCredential {
            name: name.to_owned(),
            kind,
            service: service.to_owned(),
            description: description.to_owned(),
            owner: ClientId::new(owner),
            permissions,
            value: SecretValue::new(value.as_bytes()),
        };
        let meta = self
            .lock()?
            .create(new, WallClock.now())
            .map_err(vault_error)?;
        serialized(py, &meta)
    }

    /// Metadata of every credential, or only `owner`'s; decrypts nothing.
    #[pyo3(signature = (owner = None))]
    fn list<'py>(&self, py: Python<'py>, owner: Option<&str>) -> PyResult<Bound<'py, PyAny>> {
        let owner = owner.map(ClientId::new);
        let metas = self.lock()?.list(owner.as_ref()).map_err(vault_error)?;
        serialized(py, &metas)
    }

    fn get<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyAny>> {
        let meta = self
            .lock()?
            .get(&CredentialId::new(id))
            .map_err(vault_error)?;
        serialized(py, &meta)
    }

    /// Decrypts a secret and counts the use: `str` if it is UTF-8 text, else `bytes`.
    fn reveal<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyAny>> {
        let (_, secret) = self
            .lock()?
            .reveal(&CredentialId::new(id), WallClock.now())
            .map_err(vault_error)?;
        Ok(match secret.expose_str() {
            Ok(text) => text.into_pyobject(py)?.into_any(),
            Err(_) => PyBytes::new(py, secret.expose()).into_any(),
        })
    }

    fn delete(&self, id: &str) -> PyResult<()> {
        self.lock()?
            .delete(&CredentialId::new(id))
            .map_err(vault_error)
    }
}
