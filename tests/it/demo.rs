//! `qbsync demo`, the README's first command, run as a user runs it.

use assert_cmd::Command;

#[test]
fn the_demo_turns_the_demo_sheet_into_invoices_and_bills() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_qbsync"))
        .args(["demo", "--interval", "1", "--dir"])
        .arg(dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("== The sheet before"), "{stdout}");
    assert!(stdout.contains("now holds 13 invoices totalling $23420.29 and 8 bills totalling $9492.90"), "{stdout}");
    assert!(stdout.contains("Rows: 8 failed, 21 synced"), "{stdout}");
    assert!(stdout.contains("customer \"Wayne Enterprises\" is not in QuickBooks"), "{stdout}");
    // The run left its database and log behind in --dir.
    assert!(dir.path().join("state/qbsync.sqlite3").is_file());
}
