//! The vault against real SQLite files in temporary directories.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use tempfile::TempDir;

use super::*;

const KEY_A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const KEY_B: &str = "FFEEDDCCBBAA99887766554433221100ffeeddccbbaa99887766554433221100";

fn key(hex: &str) -> VaultKey {
    VaultKey::from_hex(KEY_VARIABLE, hex).unwrap()
}

fn scratch() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.db");
    (dir, path)
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_nanos(secs * 1_000_000_000)
}

fn credential(name: &str, owner: &str, value: &str) -> NewCredential {
    NewCredential {
        name: name.to_owned(),
        kind: CredentialKind::ApiKey,
        service: "openai".to_owned(),
        description: format!("{name} for tests"),
        owner: ClientId::new(owner),
        permissions: vec!["chat".to_owned(), "embeddings".to_owned()],
        value: SecretValue::from(value),
    }
}

fn id(text: &str) -> CredentialId {
    CredentialId::new(text)
}

fn reveal_text(vault: &mut Vault, id: &CredentialId) -> String {
    let (_, value) = vault.reveal(id, at(0)).unwrap();
    value.expose_str().unwrap().to_owned()
}

/// A second connection to the file, as an attacker or an inspecting operator would have.
fn raw(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

fn stored_ciphertext(path: &Path, id: &str) -> (Vec<u8>, Vec<u8>) {
    raw(path)
        .query_row(
            "SELECT nonce, ciphertext FROM vault_credentials WHERE id = ?1",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A vault at `path` under KEY_A holding three credentials, closed again.
fn three_credentials(path: &Path) {
    let mut vault = Vault::open_path(path, key(KEY_A)).unwrap();
    for (name, owner, value) in [
        ("one", "alice", "sk-one-1111"),
        ("two", "bob", "sk-two-2222"),
        ("three", "alice", "sk-three-3333"),
    ] {
        vault
            .create(credential(name, owner, value), at(10))
            .unwrap();
    }
}

fn assert_all_three_readable(path: &Path, hex: &str) {
    let mut vault = Vault::open_path(path, key(hex)).unwrap();
    assert_eq!(reveal_text(&mut vault, &id("cred-1")), "sk-one-1111");
    assert_eq!(reveal_text(&mut vault, &id("cred-2")), "sk-two-2222");
    assert_eq!(reveal_text(&mut vault, &id("cred-3")), "sk-three-3333");
}

#[test]
fn a_value_round_trips_with_its_metadata() {
    let (_dir, path) = scratch();
    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    let created = vault
        .create(credential("prod", "alice", "sk-live-abc123"), at(100))
        .unwrap();
    assert_eq!(created.id, id("cred-1"));
    assert_eq!(created.created_at, at(100));
    assert_eq!((created.usage_count, created.last_used), (0, None));
    drop(vault);

    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    assert_eq!(vault.get(&id("cred-1")).unwrap(), created);
    let (meta, value) = vault.reveal(&id("cred-1"), at(200)).unwrap();
    assert_eq!(value.expose(), b"sk-live-abc123");
    assert_eq!(meta.name, "prod");
    assert_eq!(meta.kind, CredentialKind::ApiKey);
    assert_eq!(meta.owner, ClientId::new("alice"));
    assert_eq!(meta.permissions, ["chat", "embeddings"]);
}

#[test]
fn the_plaintext_never_reaches_the_database_or_its_wal() {
    let (_dir, path) = scratch();
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "wal").unwrap();
    let mut vault = Vault::open(conn, key(KEY_A)).unwrap();
    let first = "sk-PLAINTEXT-MARKER-first-0123456789";
    let second = "sk-PLAINTEXT-MARKER-second-9876543210";
    vault
        .create(credential("c", "alice", first), at(1))
        .unwrap();
    vault
        .update_value(&id("cred-1"), SecretValue::from(second))
        .unwrap();
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let mut files = vec![std::fs::read(&path).unwrap(), std::fs::read(&wal).unwrap()];
    assert!(files[1].len() > 4096, "the writes went to the WAL");
    drop(vault);
    files.push(std::fs::read(&path).unwrap());
    for bytes in &files {
        for secret in [first, second, KEY_A] {
            assert!(!contains(bytes, secret.as_bytes()), "{secret} is in a file");
        }
        assert!(
            !contains(bytes, key(KEY_A).bytes()),
            "the raw key is in a file"
        );
    }
}

#[test]
fn writing_the_same_value_twice_gives_different_ciphertexts() {
    let (_dir, path) = scratch();
    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    vault
        .create(credential("a", "alice", "same"), at(1))
        .unwrap();
    vault
        .create(credential("b", "alice", "same"), at(1))
        .unwrap();
    let (nonce_1, ciphertext_1) = stored_ciphertext(&path, "cred-1");
    let (nonce_2, ciphertext_2) = stored_ciphertext(&path, "cred-2");
    assert_eq!(nonce_1.len(), 12);
    assert_ne!(nonce_1, nonce_2);
    assert_ne!(ciphertext_1, ciphertext_2);

    vault
        .update_value(&id("cred-1"), SecretValue::from("same"))
        .unwrap();
    let (nonce_3, ciphertext_3) = stored_ciphertext(&path, "cred-1");
    assert_ne!(nonce_3, nonce_1);
    assert_ne!(ciphertext_3, ciphertext_1);
    assert_eq!(reveal_text(&mut vault, &id("cred-1")), "same");
}

#[test]
fn a_flipped_byte_is_detected_and_the_use_not_counted() {
    let (_dir, path) = scratch();
    three_credentials(&path);
    let (_, mut ciphertext) = stored_ciphertext(&path, "cred-2");
    ciphertext[3] ^= 0x01;
    raw(&path)
        .execute(
            "UPDATE vault_credentials SET ciphertext = ?1 WHERE id = 'cred-2'",
            [&ciphertext],
        )
        .unwrap();
    raw(&path)
        .execute(
            "UPDATE vault_credentials SET nonce = zeroblob(12) WHERE id = 'cred-3'",
            [],
        )
        .unwrap();

    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    for broken in ["cred-2", "cred-3"] {
        let err = vault.reveal(&id(broken), at(50)).unwrap_err();
        assert!(
            matches!(&err, VaultError::Tampered { id: bad } if bad.as_str() == broken),
            "{err}"
        );
        assert!(err.to_string().contains(broken), "{err}");
        assert_eq!(vault.get(&id(broken)).unwrap().usage_count, 0);
    }
    assert_eq!(reveal_text(&mut vault, &id("cred-1")), "sk-one-1111");
}

#[test]
fn a_ciphertext_moved_to_another_row_is_detected() {
    let (_dir, path) = scratch();
    three_credentials(&path);
    let one = stored_ciphertext(&path, "cred-1");
    let two = stored_ciphertext(&path, "cred-2");
    let swap = raw(&path);
    for (target, (nonce, ciphertext)) in [("cred-1", &two), ("cred-2", &one)] {
        swap.execute(
            "UPDATE vault_credentials SET nonce = ?1, ciphertext = ?2 WHERE id = ?3",
            rusqlite::params![nonce, ciphertext, target],
        )
        .unwrap();
    }
    // And a row renamed to an id whose row is gone.
    swap.execute("DELETE FROM vault_credentials WHERE id = 'cred-3'", [])
        .unwrap();
    swap.execute(
        "UPDATE vault_credentials SET id = 'cred-3' WHERE id = 'cred-1'",
        [],
    )
    .unwrap();
    drop(swap);

    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    for moved in ["cred-2", "cred-3"] {
        let err = vault.reveal(&id(moved), at(50)).unwrap_err();
        assert!(matches!(err, VaultError::Tampered { .. }), "{moved}: {err}");
    }
}

#[test]
fn a_wrong_key_is_refused_on_open_and_changes_nothing() {
    let (_dir, path) = scratch();
    three_credentials(&path);
    let before = std::fs::read(&path).unwrap();

    let err = Vault::open_path(&path, key(KEY_B)).unwrap_err();
    assert!(matches!(err, VaultError::WrongKey { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("wrong vault key"), "{message}");
    assert!(message.contains(KEY_VARIABLE), "{message}");
    assert!(!message.contains(KEY_B), "{message}");

    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_all_three_readable(&path, KEY_A);
}

#[test]
fn malformed_keys_are_refused_naming_the_variable_and_never_echoed() {
    let cases = [
        (String::new(), "0 characters"),
        (KEY_A[..62].to_owned(), "62 characters"),
        (
            KEY_A.replacen('a', "g", 1),
            "non-hexadecimal character at position 21",
        ),
        ("é".repeat(64), "position 1"),
    ];
    for (text, got) in &cases {
        let err = VaultKey::resolve(Some(text)).unwrap_err();
        assert!(matches!(err, VaultError::MalformedKey { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.starts_with("QM_ENCRYPTION_KEY is malformed"),
            "{message}"
        );
        assert!(message.contains(got), "{message}");
        assert!(
            message.contains("expected 64 hexadecimal characters"),
            "{message}"
        );
        if !text.is_empty() {
            assert!(!message.contains(text.as_str()), "{message}");
        }
    }
    let padded = VaultKey::resolve(Some(&format!("  {KEY_B}\n"))).unwrap();
    assert_eq!(
        padded.origin(),
        &KeyOrigin::Variable(KEY_VARIABLE.to_owned())
    );
    assert_eq!(padded.bytes(), key(KEY_B).bytes());
    assert_eq!(key(KEY_A).bytes()[..3], [0x00, 0x11, 0x22]);
    assert_eq!(key(KEY_B).bytes()[..3], [0xff, 0xee, 0xdd]);
}

#[test]
fn without_a_key_the_machine_key_is_used_and_is_stable() {
    let unset = VaultKey::resolve(None).unwrap();
    assert!(matches!(unset.origin(), KeyOrigin::MachineDerived { .. }));
    assert!(
        unset
            .origin()
            .to_string()
            .contains("QM_ENCRYPTION_KEY is not set")
    );
    assert!(!format!("{unset:?}").contains(&format!("{:?}", unset.bytes())));

    let (_dir, path) = scratch();
    let mut vault = Vault::open_path(&path, unset).unwrap();
    vault
        .create(credential("dev", "alice", "dev-secret"), at(1))
        .unwrap();
    drop(vault);
    let mut vault = Vault::open_path(&path, VaultKey::machine_derived()).unwrap();
    assert_eq!(reveal_text(&mut vault, &id("cred-1")), "dev-secret");
    drop(vault);
    let err = Vault::open_path(&path, key(KEY_A)).unwrap_err();
    assert!(matches!(err, VaultError::WrongKey { .. }), "{err}");
}

#[test]
fn listing_shows_metadata_only_and_filters_by_owner() {
    let (_dir, path) = scratch();
    three_credentials(&path);
    let vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    let all = vault.list(None).unwrap();
    let ids: Vec<_> = all.iter().map(|meta| meta.id.as_str()).collect();
    assert_eq!(ids, ["cred-1", "cred-2", "cred-3"]);
    let alice: Vec<_> = vault
        .list(Some(&ClientId::new("alice")))
        .unwrap()
        .into_iter()
        .map(|meta| meta.name)
        .collect();
    assert_eq!(alice, ["one", "three"]);
    assert!(
        vault
            .list(Some(&ClientId::new("nobody")))
            .unwrap()
            .is_empty()
    );

    let json = serde_json::to_string(&all).unwrap();
    assert!(!json.contains("sk-"), "{json}");
    assert!(all.iter().all(|meta| meta.usage_count == 0));
}

#[test]
fn reveal_counts_each_use_and_keeps_the_last_time() {
    let (_dir, path) = scratch();
    three_credentials(&path);
    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    vault.reveal(&id("cred-2"), at(20)).unwrap();
    let (meta, _) = vault.reveal(&id("cred-2"), at(30)).unwrap();
    assert_eq!((meta.usage_count, meta.last_used), (2, Some(at(30))));
    drop(vault);
    let vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    assert_eq!(vault.get(&id("cred-2")).unwrap(), meta);
    assert_eq!(vault.get(&id("cred-1")).unwrap().usage_count, 0);
}

#[test]
fn delete_removes_the_row_and_its_number_is_not_reused() {
    let (_dir, path) = scratch();
    three_credentials(&path);
    let (_, ciphertext) = stored_ciphertext(&path, "cred-3");
    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    vault.delete(&id("cred-3")).unwrap();

    let rows: i64 = raw(&path)
        .query_row(
            "SELECT count(*) FROM vault_credentials WHERE id = 'cred-3'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(rows, 0);
    for err in [
        vault.get(&id("cred-3")).unwrap_err(),
        vault.reveal(&id("cred-3"), at(5)).unwrap_err(),
        vault.delete(&id("cred-3")).unwrap_err(),
    ] {
        assert!(matches!(err, VaultError::UnknownCredential { .. }), "{err}");
        assert!(err.to_string().contains("cred-3"), "{err}");
    }
    drop(vault);
    // secure_delete: the deleted ciphertext's bytes are zeroed, not left in free space.
    assert!(!contains(&std::fs::read(&path).unwrap(), &ciphertext));

    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    let next = vault
        .create(credential("four", "bob", "sk-4"), at(6))
        .unwrap();
    assert_eq!(next.id, id("cred-4"));
}

#[test]
fn update_value_replaces_the_value_of_a_known_credential_only() {
    let (_dir, path) = scratch();
    three_credentials(&path);
    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    vault
        .update_value(&id("cred-1"), SecretValue::from("sk-new"))
        .unwrap();
    assert_eq!(reveal_text(&mut vault, &id("cred-1")), "sk-new");
    let err = vault
        .update_value(&id("cred-9"), SecretValue::from("x"))
        .unwrap_err();
    assert!(matches!(err, VaultError::UnknownCredential { .. }), "{err}");
    let err = vault
        .update_value(&id("cred-1"), SecretValue::from(""))
        .unwrap_err();
    assert!(
        err.to_string().contains("invalid value: got 0 bytes"),
        "{err}"
    );
}

#[test]
fn invalid_credentials_are_refused_naming_the_field() {
    let (_dir, path) = scratch();
    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    let mut blank_name = credential("x", "alice", "v");
    blank_name.name = "  ".to_owned();
    let mut no_owner = credential("x", "", "v");
    no_owner.service = "s".to_owned();
    let mut huge = credential("x", "alice", "v");
    huge.value = SecretValue::new(vec![b'x'; MAX_SECRET_BYTES + 1]);
    let mut blank_permission = credential("x", "alice", "v");
    blank_permission.permissions.push(String::new());
    for (bad, field) in [
        (blank_name, "invalid name"),
        (no_owner, "invalid owner"),
        (huge, "invalid value: got 65537 bytes"),
        (blank_permission, "invalid permissions"),
    ] {
        let err = vault.create(bad, at(1)).unwrap_err();
        assert!(err.to_string().contains(field), "{err}");
    }
    assert!(vault.list(None).unwrap().is_empty());
}

#[test]
fn debug_output_never_shows_a_secret() {
    let new = credential("x", "alice", "sk-very-secret");
    let printed = format!("{new:?} {:?} {:?}", new.value, key(KEY_A));
    assert!(!printed.contains("sk-very-secret"), "{printed}");
    assert!(printed.contains("<redacted>"), "{printed}");
    assert!(
        !printed.contains("17"),
        "a key byte (0x11) printed: {printed}"
    );
}

#[test]
fn rotation_re_encrypts_everything_and_retires_the_old_key() {
    let (_dir, path) = scratch();
    three_credentials(&path);
    let before = stored_ciphertext(&path, "cred-1");
    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    assert_eq!(vault.rotate_key(key(KEY_B)).unwrap(), 3);
    assert_eq!(reveal_text(&mut vault, &id("cred-2")), "sk-two-2222");
    drop(vault);

    assert_ne!(stored_ciphertext(&path, "cred-1"), before);
    // Nothing sealed under the old key survives in the file.
    assert!(!contains(&std::fs::read(&path).unwrap(), &before.1));
    assert_all_three_readable(&path, KEY_B);
    let err = Vault::open_path(&path, key(KEY_A)).unwrap_err();
    assert!(matches!(err, VaultError::WrongKey { .. }), "{err}");
}

/// The failure a full disk or a yanked volume gives half-way through a rotation.
fn disk_failure() -> VaultError {
    VaultError::Storage(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
        Some("simulated I/O failure mid-rotation".to_owned()),
    ))
}

#[test]
fn a_failure_mid_rotation_leaves_the_old_key_working() {
    let (_dir, path) = scratch();
    three_credentials(&path);
    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    let mut rotated = 0;
    let err = vault
        .rotate_key_observed(key(KEY_B), |_| {
            rotated += 1;
            if rotated == 2 {
                Err(disk_failure())
            } else {
                Ok(())
            }
        })
        .unwrap_err();
    assert!(err.to_string().contains("simulated I/O failure"), "{err}");
    assert_eq!(rotated, 2);
    // The same vault still works under the old key, and so does a fresh open.
    assert_eq!(reveal_text(&mut vault, &id("cred-1")), "sk-one-1111");
    drop(vault);
    assert_all_three_readable(&path, KEY_A);
    let err = Vault::open_path(&path, key(KEY_B)).unwrap_err();
    assert!(matches!(err, VaultError::WrongKey { .. }), "{err}");
}

#[test]
fn a_panic_mid_rotation_leaves_the_old_key_working() {
    let (_dir, path) = scratch();
    three_credentials(&path);
    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    let crashed = catch_unwind(AssertUnwindSafe(|| {
        vault.rotate_key_observed(key(KEY_B), |id| {
            assert_ne!(id.as_str(), "cred-2", "simulated crash");
            Ok(())
        })
    }));
    assert!(crashed.is_err());
    drop(vault);
    assert_all_three_readable(&path, KEY_A);
}

#[test]
fn a_tampered_row_stops_the_rotation_before_anything_changes() {
    let (_dir, path) = scratch();
    three_credentials(&path);
    raw(&path)
        .execute(
            "UPDATE vault_credentials SET ciphertext = zeroblob(27) WHERE id = 'cred-3'",
            [],
        )
        .unwrap();
    let first_before = stored_ciphertext(&path, "cred-1");
    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    let err = vault.rotate_key(key(KEY_B)).unwrap_err();
    assert!(
        matches!(&err, VaultError::Tampered { id } if id.as_str() == "cred-3"),
        "{err}"
    );
    drop(vault);
    assert_eq!(stored_ciphertext(&path, "cred-1"), first_before);
    let mut vault = Vault::open_path(&path, key(KEY_A)).unwrap();
    assert_eq!(reveal_text(&mut vault, &id("cred-2")), "sk-two-2222");
}

#[test]
fn a_rotation_by_another_process_reads_as_a_wrong_key_not_as_tampering() {
    let (_dir, path) = scratch();
    three_credentials(&path);
    let mut stale = Vault::open_path(&path, key(KEY_A)).unwrap();
    Vault::open_path(&path, key(KEY_A))
        .unwrap()
        .rotate_key(key(KEY_B))
        .unwrap();
    let err = stale.reveal(&id("cred-1"), at(1)).unwrap_err();
    assert!(matches!(err, VaultError::WrongKey { .. }), "{err}");
    let err = stale.rotate_key(key(KEY_A)).unwrap_err();
    assert!(matches!(err, VaultError::WrongKey { .. }), "{err}");
    assert_all_three_readable(&path, KEY_B);
}

#[test]
fn a_newer_schema_is_refused() {
    let (_dir, path) = scratch();
    three_credentials(&path);
    raw(&path)
        .execute("UPDATE vault_meta SET schema_version = 2", [])
        .unwrap();
    let err = Vault::open_path(&path, key(KEY_A)).unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::UnsupportedSchema {
                found: 2,
                supported: 1
            }
        ),
        "{err}"
    );
}

#[test]
fn open_existing_creates_neither_a_file_nor_a_vault() {
    let (dir, path) = scratch();
    let err = Vault::open_existing(&path, key(KEY_A)).unwrap_err();
    assert!(matches!(err, VaultError::NoVault { .. }), "{err}");
    assert!(!path.exists());

    raw(&path)
        .execute_batch("CREATE TABLE other (x INTEGER)")
        .unwrap();
    let err = Vault::open_existing(&path, key(KEY_A)).unwrap_err();
    assert!(err.to_string().contains("live.db"), "{err}");
    let tables: i64 = raw(&path)
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'vault%'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);

    three_credentials(&path);
    let mut vault = Vault::open_existing(&path, key(KEY_A)).unwrap();
    assert_eq!(reveal_text(&mut vault, &id("cred-3")), "sk-three-3333");
    drop(dir);
}

#[test]
fn ensure_schema_is_idempotent_and_leaves_rows_alone() {
    let (_dir, path) = scratch();
    three_credentials(&path);
    let conn = raw(&path);
    ensure_schema(&conn).unwrap();
    ensure_schema(&conn).unwrap();
    let mut vault = Vault::open(conn, key(KEY_A)).unwrap();
    assert_eq!(vault.list(None).unwrap().len(), 3);
    assert_eq!(reveal_text(&mut vault, &id("cred-1")), "sk-one-1111");
}

#[test]
fn the_seeds_variable_is_an_alias_and_a_different_key_in_both_is_refused() {
    let alias = VaultKey::resolve_variables(None, Some(KEY_B)).unwrap();
    assert_eq!(alias.origin(), &KeyOrigin::Variable(KEY_ALIAS.to_owned()));
    assert_eq!(alias.bytes(), key(KEY_B).bytes());

    let both = VaultKey::resolve_variables(Some(KEY_A), Some(&format!("{KEY_A}\n"))).unwrap();
    assert_eq!(both.origin(), &KeyOrigin::Variable(KEY_VARIABLE.to_owned()));
    assert_eq!(both.bytes(), key(KEY_A).bytes());

    let message = VaultKey::resolve_variables(Some(KEY_A), Some(KEY_B))
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("MC_ENCRYPTION_KEY is malformed"),
        "{message}"
    );
    assert!(
        message.contains("the same key as QM_ENCRYPTION_KEY"),
        "{message}"
    );
    assert!(
        !message.contains(KEY_A) && !message.contains(KEY_B),
        "{message}"
    );

    let bad = VaultKey::resolve_variables(None, Some("abc"))
        .unwrap_err()
        .to_string();
    assert!(bad.starts_with("MC_ENCRYPTION_KEY is malformed"), "{bad}");
    assert!(matches!(
        VaultKey::resolve_variables(None, None).unwrap().origin(),
        KeyOrigin::MachineDerived { .. }
    ));
}
