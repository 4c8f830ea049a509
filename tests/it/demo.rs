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
    assert!(stdout.contains("to_client (cell D9): customer \"Wayne Enterprises\" is not in QuickBook"), "{stdout}");
    // The run left its database and log behind in --dir.
    assert!(dir.path().join("state/qbsync.sqlite3").is_file());
}

/// Every country's company syncs the demo sheet once its tax codes are set (the demo sets them as
/// `qbsync doctor` advises): the same rows synced and failed as in the US, with the country's tax
/// added by QuickBooks on top of the sheet's amounts (the failed rows are the demo's own mistakes).
#[test]
fn the_demo_sheet_syncs_in_every_country_with_its_tax() {
    for (country, invoices, bills) in [
        ("US-AST", "23420.29", "9492.90"),
        ("CA", "26464.94", "10726.98"),
        ("GB", "28104.35", "11391.48"),
        ("AU", "25762.33", "10442.19"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_qbsync"))
            .args(["demo", "--interval", "1", "--country", country])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{country}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        let totals = format!("now holds 13 invoices totalling ${invoices} and 8 bills totalling ${bills}");
        assert!(stdout.contains(&totals), "{country}: {stdout}");
        assert!(stdout.contains("Rows: 8 failed, 21 synced"), "{country}: {stdout}");
        assert!(!stdout.contains("tax code"), "{country}: no row fails for its tax: {stdout}");
    }
}

#[tokio::test]
async fn the_sandbox_command_serves_and_prints_ready_made_settings() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command as Std, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Std::new(env!("CARGO_BIN_EXE_qbsync"))
        .args(["sandbox", "--port", "0", "--dir"])
        .arg(dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains("Press Ctrl-C");
        seen.push(line);
        if done {
            break;
        }
    }
    let text = seen.join("\n");
    let base = seen[0].split("listening on ").nth(1).expect("the first line names the URL").trim().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{text}");
    assert!(text.contains("QuickBooks API v3"), "{text}");
    // The settings file points qbsync at the running sandbox, and the emulators answer.
    let env = std::fs::read_to_string(dir.path().join("sandbox.env")).unwrap();
    assert!(env.contains(&format!("QBSYNC_QBO_API_URL={base}")), "{env}");
    let dump = reqwest::get(format!("{base}_sandbox/sheets")).await.unwrap();
    assert!(dump.status().is_success());
    let _ = child.kill();
    let _ = child.wait();
}
