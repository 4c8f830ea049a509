//! The one message a configuration mistake produces.
//!
//! Every message names the setting by both of its names (environment variable and TOML key),
//! says where the bad value came from, shows it unless it is a secret, and says how to fix it.

use std::fmt;
use std::path::PathBuf;

use crate::directions::DirectionsError;

use super::keys::Key;

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The process environment.
    Environment { name: String },
    /// A `.env` file.
    EnvFile { name: String, path: PathBuf },
    /// A TOML file (`--config`, or `default.toml` in the configuration directory).
    ConfigFile { path: String },
    /// qbsync's built-in defaults.
    Defaults,
}

/// The two names of a setting, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingName {
    /// The environment variable (the primary one when there are several).
    pub env: String,
    /// `section.key` in TOML.
    pub toml: String,
}

impl SettingName {
    pub(super) fn of(key: &Key) -> SettingName {
        SettingName { env: key.env_name().to_owned(), toml: key.toml.clone() }
    }

    fn toml_words(&self) -> String {
        match self.toml.split_once('.') {
            Some((section, name)) => format!("{name} under [{section}]"),
            None => self.toml.clone(),
        }
    }
}

/// A configuration mistake. `Display` is the whole message for the person running qbsync.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A value that cannot be used.
    #[error("{0}")]
    Invalid(Box<InvalidValue>),
    /// A setting the command needs is not set anywhere.
    #[error("{} is not set: {why}. Set {} in .env or the environment, or {} in a config file. {hint}.", .setting.env, .setting.env, .setting.toml_words())]
    Missing { setting: SettingName, why: String, hint: String },
    /// Two settings that contradict each other; the message names both.
    #[error("{message}")]
    Conflict { message: String },
    /// A TOML file that cannot be read or parsed.
    #[error("configuration file {}: {problem}", .path.display())]
    ConfigFile { path: PathBuf, problem: String },
    /// A `.env` file that cannot be read or parsed.
    #[error("{}: {problem}", .path.display())]
    EnvFile { path: PathBuf, problem: String },
    /// A TOML key qbsync does not know (usually a typo, which would otherwise be ignored).
    #[error("unknown setting {key} in {origin}{}: remove it or correct its name", suggestion_suffix(.suggestion))]
    UnknownKey { key: String, origin: String, suggestion: Option<String> },
    /// The direction map or an alias file.
    #[error(transparent)]
    Directions(#[from] DirectionsError),
}

/// A value that cannot be used, and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidValue {
    pub setting: SettingName,
    /// `None` for secrets: their values are never shown.
    pub value: Option<String>,
    pub origin: Origin,
    pub problem: String,
    pub fix: String,
}

impl SettingsError {
    pub(super) fn invalid(
        setting: SettingName,
        value: Option<String>,
        origin: Origin,
        problem: String,
        fix: String,
    ) -> Self {
        SettingsError::Invalid(Box::new(InvalidValue { setting, value, origin, problem, fix }))
    }
}

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&invalid(&self.setting, self.value.as_deref(), &self.origin, &self.problem, &self.fix))
    }
}

fn invalid(setting: &SettingName, value: Option<&str>, origin: &Origin, problem: &str, fix: &str) -> String {
    let shown = |name: &str| match value {
        Some(value) => format!("{name}={value}"),
        None => format!("{name} (value hidden)"),
    };
    match origin {
        Origin::Environment { name } => {
            format!("{} {problem}: {fix} (in a config file: {})", shown(name), setting.toml_words())
        }
        Origin::EnvFile { name, path } => {
            format!(
                "{} in {} {problem}: {fix} (in a config file: {})",
                shown(name),
                path.display(),
                setting.toml_words()
            )
        }
        Origin::ConfigFile { path } => {
            let key = setting.toml.rsplit('.').next().unwrap_or(&setting.toml);
            let section = setting.toml.split('.').next().unwrap_or_default();
            let value = value.map(|v| format!(" = {v:?}")).unwrap_or_else(|| " (value hidden)".to_owned());
            format!("{key}{value} under [{section}] in {path} {problem}: {fix} (environment variable: {})", setting.env)
        }
        Origin::Defaults => format!("the built-in default {} {problem}: {fix}", shown(&setting.toml)),
    }
}

fn suggestion_suffix(suggestion: &Option<String>) -> String {
    suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default()
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Environment { name } => write!(f, "the environment ({name})"),
            Origin::EnvFile { name, path } => write!(f, "{} ({name})", path.display()),
            Origin::ConfigFile { path } => f.write_str(path),
            Origin::Defaults => f.write_str("the built-in defaults"),
        }
    }
}
