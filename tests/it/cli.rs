//! The command line as a person uses it (issues 5 and 7): `auth`, `doctor`, `status`, `audit`,
//! and a whole session grepped for secrets. Most tests run the real binary with exactly the
//! environment the sandbox world prints, nothing inherited from the test process.

mod audit;
mod auth;
mod doctor;
mod secrets;
mod status;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use qbsync::settings::LoadOptions;

/// Runs `qbsync ARGS` with `env` as its whole environment and waits for it (two minutes at most).
pub async fn qbsync(env: &[(String, String)], args: &[&str]) -> Output {
    qbsync_with_stdin(env, args, "").await
}

/// [`qbsync`] with `stdin` as standard input.
pub async fn qbsync_with_stdin(env: &[(String, String)], args: &[&str], stdin: &str) -> Output {
    // An empty working directory: no `.env` or `config/` is picked up by accident.
    let cwd = tempfile::tempdir().expect("temp dir");
    qbsync_in(cwd.path(), env, args, stdin).await
}

/// [`qbsync_with_stdin`] in the working directory `cwd`.
pub async fn qbsync_in(cwd: &Path, env: &[(String, String)], args: &[&str], stdin: &str) -> Output {
    let mut command = assert_cmd::Command::new(env!("CARGO_BIN_EXE_qbsync"));
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(args)
        .current_dir(cwd)
        .write_stdin(stdin.to_owned())
        .timeout(Duration::from_secs(120));
    tokio::task::spawn_blocking(move || command.output()).await.expect("join").expect("qbsync runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit status, showing both streams when it is not the expected one.
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit status\n--- stdout\n{}\n--- stderr\n{}",
        stdout(output),
        stderr(output)
    );
}

/// `env` with some variables replaced or added.
pub fn with(env: &[(String, String)], changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    for (key, value) in changes {
        env.retain(|(k, _)| k != key);
        env.push(((*key).to_owned(), (*value).to_owned()));
    }
    env
}

/// `env` without some variables.
pub fn without(env: &[(String, String)], names: &[&str]) -> Vec<(String, String)> {
    env.iter().filter(|(k, _)| !names.contains(&k.as_str())).cloned().collect()
}

pub fn var(env: &[(String, String)], name: &str) -> String {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("{name} is set"))
}

pub fn state_dir(env: &[(String, String)]) -> PathBuf {
    PathBuf::from(var(env, "QBSYNC_STATE_DIR"))
}

pub fn load(env: &[(String, String)]) -> LoadOptions {
    LoadOptions { config_file: None, env_file: None, environment: env.to_vec() }
}
