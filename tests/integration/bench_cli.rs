//! `qm bench` runs the `qm-bench` found beside `qm`, and says how to build it when there is
//! none.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of `qm` alone in a fresh folder, so what sits beside it is up to the test.
fn lone_qm(dir: &Path) -> PathBuf {
    let qm = dir.join("qm");
    std::fs::copy(env!("CARGO_BIN_EXE_qm"), &qm).unwrap();
    qm
}

#[test]
fn without_the_harness_it_says_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(lone_qm(dir.path()))
        .args(["bench", "--quick"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("qm-bench not found"), "{stderr}");
    assert!(
        stderr.contains("cargo build --release -p quartermaster-bench"),
        "{stderr}"
    );
}

#[test]
fn the_harness_gets_the_options_and_its_exit_code_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let qm = lone_qm(dir.path());
    let seen = dir.path().join("arguments");
    let harness = dir.path().join("qm-bench");
    std::fs::write(
        &harness,
        format!("#!/bin/sh\necho \"$@\" > '{}'\nexit 3\n", seen.display()),
    )
    .unwrap();
    std::fs::set_permissions(&harness, std::fs::Permissions::from_mode(0o755)).unwrap();
    let status = Command::new(qm)
        .args(["bench", "--quick", "--out", "figures"])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    assert_eq!(
        std::fs::read_to_string(seen).unwrap().trim(),
        "--out figures --quick"
    );
}
