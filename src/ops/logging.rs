//! The tracing subscriber: one line per event to stdout and to a daily-rotating file.
//!
//! Under systemd, stdout goes to the journal, which stamps every line itself and shows no
//! colours, so the stdout layer drops ANSI codes when stdout is not a terminal and drops its own
//! timestamp when stdout *is* the journal (`$JOURNAL_STREAM` names our stdout). The file under
//! the log directory (`quickbooks_sync.log.YYYY-MM-DD`, dated in UTC) is for people who
//! prefer `less` and for hosts without a journal; `tracing-appender` starts a new one at UTC
//! midnight and deletes the oldest so that at most `keep_files` remain.
//!
//! What `keep_files` really means (tracing-appender 0.2.5 `prune_old_logs`): pruning runs when
//! the appender is built (at start-up) and at each rotation; it counts every regular file whose
//! name starts with the prefix, orders them by creation time (falling back to the date in the
//! name), and deletes the oldest until `keep_files - 1` remain, *then* opens the current file.
//! So right after a rotation there are exactly `keep_files`; after a restart on a day whose file
//! already exists, one fewer.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use tracing::Dispatch;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt};

/// Where and how to log. The CLI fills it from the settings.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// The log directory (`$LOGS_DIRECTORY` under systemd, else `logs/`). Created if missing.
    pub dir: PathBuf,
    /// File name before the date: `quickbooks_sync.log` gives `quickbooks_sync.log.2026-11-21`.
    pub file_prefix: String,
    /// How many dated files to keep (at least 1).
    pub keep_files: usize,
    /// One JSON object per line instead of plain text (both stdout and the file).
    pub json: bool,
    /// An `EnvFilter` directive: `info`, `qbsync=debug,info`, …
    pub level: String,
    /// Whether to write the file at all (read-only commands such as `status` do not).
    pub to_file: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            dir: PathBuf::from("logs"),
            file_prefix: "quickbooks_sync.log".into(),
            keep_files: 14,
            json: false,
            level: "info".into(),
            to_file: true,
        }
    }
}

/// Keeps the file writer's background thread alive; dropping it flushes what is buffered.
/// Hold it until the end of `main`.
#[must_use = "dropping the guard stops file logging"]
pub struct LogGuard {
    _file: Option<WorkerGuard>,
}

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("the log level {directive:?} is not a valid filter (try `info` or `qbsync=debug,info`): {reason}")]
    BadLevel { directive: String, reason: String },
    #[error("the log directory {dir} cannot be used: {reason}")]
    Directory { dir: String, reason: String },
    #[error("logging was already initialised in this process")]
    AlreadyInitialised,
}

/// Installs the subscriber for the whole process. Call once, early in `main`.
pub fn init(options: &LogOptions) -> anyhow::Result<LogGuard> {
    let (dispatch, guard) = build(options)?;
    dispatch.try_init().map_err(|_| LogError::AlreadyInitialised)?;
    Ok(guard)
}

/// Builds the subscriber without installing it (tests use it with
/// `tracing::dispatcher::with_default`).
pub fn build(options: &LogOptions) -> Result<(Dispatch, LogGuard), LogError> {
    let filter = EnvFilter::try_new(&options.level)
        .map_err(|e| LogError::BadLevel { directive: options.level.clone(), reason: e.to_string() })?;

    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = Vec::new();
    let stdout_is_journal = stdout_is_journal();
    let ansi = std::io::stdout().is_terminal();
    layers.push(match (options.json, stdout_is_journal) {
        (true, _) => fmt::layer().json().with_writer(std::io::stdout).boxed(),
        (false, true) => fmt::layer().without_time().with_ansi(false).with_writer(std::io::stdout).boxed(),
        (false, false) => fmt::layer().with_ansi(ansi).with_writer(std::io::stdout).boxed(),
    });

    let mut file_guard = None;
    if options.to_file {
        let directory_error = |e: &dyn std::fmt::Display| LogError::Directory {
            dir: options.dir.display().to_string(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(&options.dir).map_err(|e| directory_error(&e))?;
        let appender = Builder::new()
            .rotation(Rotation::DAILY)
            .filename_prefix(&options.file_prefix)
            .max_log_files(options.keep_files.max(1))
            .build(&options.dir)
            .map_err(|e| directory_error(&e))?;
        let (writer, guard) = tracing_appender::non_blocking(appender);
        file_guard = Some(guard);
        layers.push(if options.json {
            fmt::layer().json().with_writer(writer).boxed()
        } else {
            fmt::layer().with_ansi(false).with_writer(writer).boxed()
        });
    }

    let subscriber = Registry::default().with(layers).with(filter);
    Ok((Dispatch::new(subscriber), LogGuard { _file: file_guard }))
}

/// Whether stdout is the journal: systemd sets `JOURNAL_STREAM=<dev>:<inode>` of the stream it
/// connected, which a child with redirected stdout inherits but no longer matches.
fn stdout_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return false;
    };
    match std::fs::File::from(fd).metadata() {
        Ok(meta) => dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino()),
        Err(_) => false,
    }
}
