//! `qm vault`: the operator's commands on a real vault file, keys passed only through the
//! child's environment.

use std::path::Path;
use std::process::{Command, Output};

use quartermaster::live::vault::{
    KEY_VARIABLE, NewCredential, SecretValue, Vault, VaultError, VaultKey,
};
use quartermaster::model::{ClientId, CredentialId, CredentialKind, Timestamp};

const OLD_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const NEW_KEY: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";

fn key(hex: &str) -> VaultKey {
    VaultKey::from_hex(KEY_VARIABLE, hex).unwrap()
}

fn vault_with_two_credentials(path: &Path) {
    let mut vault = Vault::open_path(path, key(OLD_KEY)).unwrap();
    for (name, value) in [
        ("openai", "sk-cli-openai-1"),
        ("github", "ghp-cli-github-2"),
    ] {
        vault
            .create(
                NewCredential {
                    name: name.to_owned(),
                    kind: CredentialKind::Token,
                    service: name.to_owned(),
                    description: String::new(),
                    owner: ClientId::new("agent-7"),
                    permissions: vec!["read".to_owned()],
                    value: SecretValue::from(value),
                },
                Timestamp::EPOCH,
            )
            .unwrap();
    }
}

/// Runs `qm vault <args>` with exactly these key variables in its environment.
fn qm_vault(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qm"));
    command
        .arg("vault")
        .args(args)
        .env_remove(KEY_VARIABLE)
        .env_remove("QM_NEW_ENCRYPTION_KEY")
        .env_remove("RUST_LOG");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn revealed(path: &Path, hex: &str, id: &str) -> String {
    let mut vault = Vault::open_path(path, key(hex)).unwrap();
    let (_, value) = vault
        .reveal(&CredentialId::new(id), Timestamp::EPOCH)
        .unwrap();
    value.expose_str().unwrap().to_owned()
}

#[test]
fn rotate_key_re_encrypts_under_the_new_key_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    vault_with_two_credentials(&db);
    let db_arg = db.to_str().unwrap();

    let run = qm_vault(
        &["rotate-key", "--db", db_arg],
        &[(KEY_VARIABLE, OLD_KEY), ("QM_NEW_ENCRYPTION_KEY", NEW_KEY)],
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(stdout.contains("re-encrypted 2 credentials"), "{stdout}");
    assert!(
        !stdout.contains(NEW_KEY) && !stdout.contains(OLD_KEY),
        "{stdout}"
    );

    assert_eq!(revealed(&db, NEW_KEY, "cred-1"), "sk-cli-openai-1");
    assert_eq!(revealed(&db, NEW_KEY, "cred-2"), "ghp-cli-github-2");
    let err = Vault::open_path(&db, key(OLD_KEY)).unwrap_err();
    assert!(matches!(err, VaultError::WrongKey { .. }), "{err}");

    // Rotating again from the retired key fails and changes nothing.
    let again = qm_vault(
        &["rotate-key", "--db", db_arg],
        &[(KEY_VARIABLE, OLD_KEY), ("QM_NEW_ENCRYPTION_KEY", OLD_KEY)],
    );
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("wrong vault key"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(revealed(&db, NEW_KEY, "cred-1"), "sk-cli-openai-1");
}

#[test]
fn rotate_key_reads_a_named_variable_and_refuses_a_malformed_or_missing_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    vault_with_two_credentials(&db);
    let db_arg = db.to_str().unwrap();
    let rotate = [
        "rotate-key",
        "--db",
        db_arg,
        "--new-key-env",
        "NEXT_VAULT_KEY",
    ];

    let missing = qm_vault(&rotate, &[(KEY_VARIABLE, OLD_KEY)]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("NEXT_VAULT_KEY is not set"),
        "{}",
        text(&missing.stderr)
    );

    let short = &NEW_KEY[..40];
    let malformed = qm_vault(
        &rotate,
        &[(KEY_VARIABLE, OLD_KEY), ("NEXT_VAULT_KEY", short)],
    );
    assert!(!malformed.status.success());
    let stderr = text(&malformed.stderr);
    assert!(
        stderr.contains("NEXT_VAULT_KEY is malformed: got 40 characters"),
        "{stderr}"
    );
    assert!(!stderr.contains(short), "{stderr}");
    assert_eq!(revealed(&db, OLD_KEY, "cred-2"), "ghp-cli-github-2");

    let run = qm_vault(
        &rotate,
        &[(KEY_VARIABLE, OLD_KEY), ("NEXT_VAULT_KEY", NEW_KEY)],
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(revealed(&db, NEW_KEY, "cred-2"), "ghp-cli-github-2");
}

#[test]
fn list_prints_metadata_without_values_and_refuses_a_file_without_a_vault() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    vault_with_two_credentials(&db);

    let run = qm_vault(
        &["list", "--db", db.to_str().unwrap()],
        &[(KEY_VARIABLE, OLD_KEY)],
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("cred-1  \"openai\"  type=token"),
        "{stdout}"
    );
    assert!(lines[1].contains("owner=agent-7"), "{stdout}");
    assert!(
        !stdout.contains("sk-cli") && !stdout.contains("ghp-cli"),
        "{stdout}"
    );

    let elsewhere = dir.path().join("not-a-vault.db");
    let refused = qm_vault(
        &["list", "--db", elsewhere.to_str().unwrap()],
        &[(KEY_VARIABLE, OLD_KEY)],
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("no vault in"),
        "{}",
        text(&refused.stderr)
    );
    assert!(!elsewhere.exists());
}

#[test]
fn without_a_key_the_development_key_is_used_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let mut vault = Vault::open_path(&db, VaultKey::machine_derived()).unwrap();
    vault
        .create(
            NewCredential {
                name: "dev".to_owned(),
                kind: CredentialKind::Password,
                service: "local".to_owned(),
                description: String::new(),
                owner: ClientId::new("me"),
                permissions: Vec::new(),
                value: SecretValue::from("dev-password"),
            },
            Timestamp::EPOCH,
        )
        .unwrap();
    drop(vault);

    let run = qm_vault(&["list", "--db", db.to_str().unwrap()], &[]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(text(&run.stdout).starts_with("cred-1  \"dev\"  type=password"));
    let stderr = text(&run.stderr);
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(
        stderr.contains("the vault is using a machine-derived development key because QM_ENCRYPTION_KEY is not set"),
        "{stderr}"
    );
}
