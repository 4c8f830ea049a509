//! Issue 5: secrets never reach logs, error messages, the sheet, the audit tables or any file
//! in clear. A whole session runs through the binary with a recognisable client secret, at the
//! most talkative log level, and then every output is searched for every secret.

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use qbsync::sandbox::{SANDBOX_TOKEN_KEY, SandboxOptions};

use super::{assert_exit, qbsync, state_dir, stdout, var, with};
use crate::support::World;

const CLIENT_SECRET: &str = "LEAKCHECK-intuit-client-secret-5f3a9c1e7b";

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Every cell of every table of the SQLite database, as text (blobs lossily).
fn database_text(path: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(path).expect("the state database opens");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut cells = Vec::new();
    for table in tables {
        let mut statement = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = statement.column_count();
        let mut rows = statement.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let text = match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(bytes) | rusqlite::types::ValueRef::Blob(bytes) => {
                        String::from_utf8_lossy(bytes).into_owned()
                    }
                    other => format!("{other:?}"),
                };
                cells.push((format!("{table} column {i}"), text));
            }
        }
    }
    cells
}

#[tokio::test]
async fn a_whole_session_leaks_no_secret_anywhere() {
    let options = SandboxOptions { client_secret: CLIENT_SECRET.to_owned(), ..SandboxOptions::default() };
    let world = World::start(options, &[("QBSYNC_LOG_LEVEL", "trace")]).await;
    let env = with(&world.env, &[]);
    let state = state_dir(&env);
    // Start unconnected: the session connects through the binary.
    std::fs::remove_file(state.join("tokens.enc")).unwrap();
    let (refresh_token, _) = world.sandbox.intuit.issue_grant();
    let realm = var(&env, "QB_REALM_ID");

    let mut outputs: Vec<(String, Output)> = Vec::new();
    let mut step = async |args: &[&str], code: i32| {
        let output = qbsync(&env, args).await;
        assert_exit(&output, code);
        outputs.push((args.join(" "), output));
    };
    step(&["auth", "--refresh-token", &refresh_token, "--realm-id", &realm], 0).await;
    step(&["migrate"], 0).await;
    step(&["run-once", "--dry-run"], 0).await;
    // Expired access tokens: the real run refreshes (and rotates) mid-session.
    world.sandbox.intuit.expire_access_tokens();
    step(&["run-once"], 0).await;
    step(&["status", "--json"], 0).await;
    step(&["status"], 0).await;
    step(&["audit", "--json"], 0).await;
    step(&["audit", "--csv"], 0).await;
    // The demo sheet has one unmapped inv_from, so the doctor finds one problem.
    step(&["doctor"], 1).await;
    step(&["doctor", "--json"], 1).await;
    // A refused refresh token, so an error path is exercised too.
    step(&["auth", "--refresh-token", &refresh_token, "--realm-id", &realm], 1).await;

    // The session did what it should, so the search below is not over empty outputs.
    assert!(!world.sandbox.qbo.invoices().is_empty(), "invoices were created");
    let status: serde_json::Value =
        serde_json::from_slice(&outputs.iter().find(|(a, _)| a == "status --json").unwrap().1.stdout).unwrap();
    assert!(status["invoices"]["synced"].as_u64().unwrap() > 0);
    assert!(stdout(&outputs[2].1).contains("DRY RUN"), "the dry run printed its payloads");

    // What must never appear: the client secret (also as the Basic credentials it travels in),
    // every code, refresh and access token Intuit issued, the service-account private key and
    // the token-store key.
    let mut secrets: Vec<(String, String)> = vec![("client secret".into(), CLIENT_SECRET.into())];
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{CLIENT_SECRET}", var(&env, "QB_CLIENT_ID")));
    secrets.push(("client secret as Basic credentials".into(), basic));
    let issued = world.sandbox.intuit.issued_tokens();
    assert!(issued.len() >= 4, "the import and the mid-session refresh each minted tokens: {}", issued.len());
    secrets.extend(issued.into_iter().map(|t| ("Intuit token".to_owned(), t)));
    let key: serde_json::Value = serde_json::from_str(&world.sandbox.google.service_account_json()).unwrap();
    let pem = key["private_key"].as_str().unwrap();
    let pem_lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----") && l.len() >= 40).collect();
    assert!(pem_lines.len() >= 10, "a real PEM body to look for");
    secrets.extend(pem_lines.iter().map(|l| ("service-account private key".to_owned(), (*l).to_owned())));
    secrets.push(("token-store key".into(), SANDBOX_TOKEN_KEY.into()));

    // Everywhere they could have gone.
    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    for (args, output) in &outputs {
        places.push((format!("stdout of `qbsync {args}`"), output.stdout.clone()));
        places.push((format!("stderr of `qbsync {args}`"), output.stderr.clone()));
    }
    let log_dir = PathBuf::from(var(&env, "QBSYNC_LOG_DIR"));
    let log_files = files(&log_dir);
    let logged: u64 = log_files.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
    assert!(logged > 10_000, "run-once logged at trace level to {}: {log_files:?}", log_dir.display());
    for file in log_files {
        places.push((format!("log file {}", file.display()), std::fs::read(&file).unwrap()));
    }
    places.push(("the spreadsheet (values, metadata)".into(), world.sandbox.google.dump().to_string().into_bytes()));
    let database = state.join("qbsync.sqlite3");
    for (column, text) in database_text(&database) {
        places.push((format!("SQLite {column}"), text.into_bytes()));
    }
    // Every file of the state directory, the encrypted token store and the SQLite WAL included.
    let state_files = files(&state);
    assert!(state_files.iter().any(|f| f.ends_with("tokens.enc")), "the token store is there: {state_files:?}");
    for file in state_files {
        places.push((format!("file {}", file.display()), std::fs::read(&file).unwrap()));
    }

    let mut leaks = Vec::new();
    for (place, bytes) in &places {
        for (what, secret) in &secrets {
            if bytes.windows(secret.len()).any(|w| w == secret.as_bytes()) {
                leaks.push(format!("{what} in {place}"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    // The search is not vacuous: the same needles are found in what actually went over the
    // wire (the sandbox's own request log, which is not an output of qbsync).
    let traffic = format!("{:?}", world.sandbox.requests().all());
    let on_the_wire = secrets.iter().filter(|(what, s)| what == "Intuit token" && traffic.contains(s.as_str())).count();
    assert!(on_the_wire >= 2, "refresh tokens were sent to the token endpoint: {on_the_wire}");
}
