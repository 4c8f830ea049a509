//! The four layers, merged: built-in defaults → `--config FILE` → `.env` → the environment.
//!
//! The `config` crate does the merging; this file feeds it and answers "what is the value of
//! this key, and where did it come from?" so that a bad value can be reported against the
//! place the person has to edit. Environment variables are never written (`set_var` is unsafe
//! in edition 2024 and racy in tests): the `.env` file is read into a map, and the process
//! environment arrives as a value in [`LoadOptions`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use config::{Config, File, FileFormat, Format, Value, ValueKind};

use super::error::{Origin, SettingsError};
use super::keys::{self, Key};

/// Where to read configuration from.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `--config FILE`: a TOML file over the defaults. Must exist when given.
    pub config_file: Option<PathBuf>,
    /// A `.env` file. Must exist when given; `None` reads none (see [`LoadOptions::from_process`]).
    pub env_file: Option<PathBuf>,
    /// The process environment, passed in so that tests never modify the real one.
    pub environment: Vec<(String, String)>,
}

impl LoadOptions {
    /// What the binary uses: the real environment, and `./.env` when that file exists.
    pub fn from_process(config_file: Option<PathBuf>) -> LoadOptions {
        let dot_env = PathBuf::from(".env");
        LoadOptions {
            config_file,
            env_file: dot_env.is_file().then_some(dot_env),
            // Variables that are not UTF-8 cannot be qbsync settings; skip them rather than panic.
            environment: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }
}

/// One environment value and where it was set.
#[derive(Clone, Debug)]
pub(super) struct EnvValue {
    pub value: String,
    pub file: Option<PathBuf>,
}

/// A setting's value before it is parsed.
#[derive(Clone, Debug)]
pub(super) struct Raw {
    pub key: Key,
    pub value: RawValue,
    pub origin: Origin,
}

#[derive(Clone, Debug)]
pub(super) enum RawValue {
    Text(String),
    List(Vec<String>),
}

/// The merged configuration.
pub(super) struct Layers {
    config: Config,
    /// The merged environment: `.env` entries, overridden by the process environment.
    pub env: BTreeMap<String, EnvValue>,
    /// toml key → the environment variable that set it.
    env_for_key: BTreeMap<String, String>,
    keys: Vec<Key>,
    /// The configuration directory, decided before `default.toml` is read from it (a
    /// `config_dir` inside that `default.toml` cannot move it).
    pub config_dir: PathBuf,
}

/// The shipped defaults, compiled in so that the binary works from any directory.
pub(super) const EMBEDDED_DEFAULTS: &str = include_str!("../../config/default.toml");

impl Layers {
    pub fn load(options: &LoadOptions) -> Result<Layers, SettingsError> {
        let env = read_environment(options)?;
        let keys = keys::all();
        let config_file = options.config_file.as_deref().map(TomlFile::read).transpose()?;

        // Which environment variable sets which key. Empty values count as unset, so that a
        // `.env` template with blank lines does not override the files.
        let mut env_for_key = BTreeMap::new();
        for key in &keys {
            if let Some(name) = key.env.iter().find(|name| env.get(*name).is_some_and(|v| !v.value.trim().is_empty())) {
                env_for_key.insert(key.toml.clone(), name.clone());
            }
        }

        // The configuration directory decides where `default.toml` is read from, so it is
        // found first from the layers above it.
        let upper = build(None, config_file.as_ref(), &env, &env_for_key)?;
        let config_dir = text_at(&upper.cache, "paths.config_dir")
            .or_else(|| ambient(&env, "CONFIGURATION_DIRECTORY"))
            .unwrap_or_else(|| super::defaults::CONFIG_DIR.to_owned());
        let on_disk_defaults = Path::new(&config_dir).join("default.toml");
        let on_disk_defaults = on_disk_defaults.is_file().then(|| TomlFile::read(&on_disk_defaults)).transpose()?;

        let config = build(on_disk_defaults.as_ref(), config_file.as_ref(), &env, &env_for_key)?;
        let layers = Layers { config, env, env_for_key, keys, config_dir: PathBuf::from(config_dir) };
        layers.reject_unknown_keys()?;
        Ok(layers)
    }

    /// The value of `toml_key` from the highest layer that sets it; `None` when unset or blank.
    pub fn get(&self, toml_key: &str) -> Result<Option<Raw>, SettingsError> {
        let Some(key) = self.keys.iter().find(|k| k.toml == toml_key) else {
            return Ok(None);
        };
        let Some(value) = lookup(&self.config.cache, toml_key) else {
            return Ok(None);
        };
        let origin = match self.env_for_key.get(toml_key) {
            Some(name) => match self.env.get(name).and_then(|v| v.file.clone()) {
                Some(path) => Origin::EnvFile { name: name.clone(), path },
                None => Origin::Environment { name: name.clone() },
            },
            None => match value.origin() {
                Some(path) => Origin::ConfigFile { path: path.to_owned() },
                None => Origin::Defaults,
            },
        };
        let raw_value = match &value.kind {
            ValueKind::Nil => return Ok(None),
            ValueKind::Array(items) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    match scalar_text(item) {
                        Some(text) => list.push(text),
                        None => return Err(not_a_value(key, origin, "a list may hold only plain values")),
                    }
                }
                RawValue::List(list)
            }
            ValueKind::Table(_) => return Err(not_a_value(key, origin, "it is a table, not a value")),
            _ => match scalar_text(value) {
                Some(text) if text.trim().is_empty() => return Ok(None),
                Some(text) => RawValue::Text(text),
                None => return Ok(None),
            },
        };
        Ok(Some(Raw { key: key.clone(), value: raw_value, origin }))
    }

    /// A systemd directory variable (`STATE_DIRECTORY`, …): the first of a `:`-separated list.
    pub fn ambient(&self, name: &str) -> Option<String> {
        ambient(&self.env, name)
    }

    /// Environment names that look like qbsync settings but are not, with a suggestion.
    pub fn unknown_env_names(&self) -> Vec<String> {
        let known: Vec<&str> = self.keys.iter().flat_map(|k| k.env.iter().map(String::as_str)).collect();
        self.env
            .keys()
            .filter(|name| name.starts_with("QBSYNC_") || name.starts_with("QB_"))
            .filter(|name| !known.contains(&name.as_str()))
            .map(|name| match keys::suggest(name, known.iter().copied()) {
                Some(suggestion) => {
                    format!("{name} is not a qbsync setting and is ignored (did you mean {suggestion}?)")
                }
                None => format!("{name} is not a qbsync setting and is ignored"),
            })
            .collect()
    }

    fn reject_unknown_keys(&self) -> Result<(), SettingsError> {
        let ValueKind::Table(root) = &self.config.cache.kind else {
            return Ok(());
        };
        let sections = keys::sections();
        let known: Vec<&str> = self.keys.iter().map(|k| k.toml.as_str()).collect();
        for (section, value) in root {
            let entries: Vec<(String, &Value)> = match &value.kind {
                ValueKind::Table(table) if sections.contains(&section.as_str()) => {
                    table.iter().map(|(name, v)| (format!("{section}.{name}"), v)).collect()
                }
                _ => vec![(section.clone(), value)],
            };
            for (key, value) in entries {
                if !known.contains(&key.as_str()) {
                    let origin = value.origin().map_or_else(|| "the built-in defaults".to_owned(), str::to_owned);
                    // `mode` at the top level, or `[quickbooks] mode`: the right section; else a typo.
                    let name = key.rsplit('.').next().unwrap_or(&key);
                    let suggestion = known
                        .iter()
                        .copied()
                        .find(|k| k.rsplit('.').next() == Some(name))
                        .or_else(|| keys::suggest(&key, known.iter().copied()))
                        .map(str::to_owned);
                    return Err(SettingsError::UnknownKey { key, origin, suggestion });
                }
            }
        }
        Ok(())
    }
}

/// A TOML file read up front, so that an unreadable file gets a clear message and every value
/// remembers the path as given (the `config` crate's own file source rewrites it relative to
/// the working directory).
#[derive(Clone, Debug)]
struct TomlFile {
    origin: String,
    text: String,
}

impl TomlFile {
    fn read(path: &Path) -> Result<TomlFile, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|error| SettingsError::ConfigFile {
            path: path.to_owned(),
            problem: format!("cannot be read ({error}): check the path"),
        })?;
        let text = text.strip_prefix('\u{FEFF}').map(str::to_owned).unwrap_or(text);
        Ok(TomlFile { origin: path.display().to_string(), text })
    }
}

impl config::Source for TomlFile {
    fn clone_into_box(&self) -> Box<dyn config::Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<config::Map<String, Value>, config::ConfigError> {
        FileFormat::Toml
            .parse(Some(&self.origin), &self.text)
            .map_err(|cause| config::ConfigError::FileParse { uri: Some(self.origin.clone()), cause })
    }
}

fn build(
    on_disk_defaults: Option<&TomlFile>,
    config_file: Option<&TomlFile>,
    env: &BTreeMap<String, EnvValue>,
    env_for_key: &BTreeMap<String, String>,
) -> Result<Config, SettingsError> {
    let mut builder = Config::builder().add_source(File::from_str(EMBEDDED_DEFAULTS, FileFormat::Toml));
    for file in [on_disk_defaults, config_file].into_iter().flatten() {
        builder = builder.add_source(file.clone());
    }
    for (toml_key, name) in env_for_key {
        let value = env.get(name).map(|v| v.value.clone()).unwrap_or_default();
        builder = builder.set_override(toml_key.as_str(), value).map_err(|e| SettingsError::Conflict {
            message: format!("internal error: the setting name {toml_key} is not a valid key ({e})"),
        })?;
    }
    builder.build().map_err(|error| match error {
        config::ConfigError::FileParse { uri, cause } => SettingsError::ConfigFile {
            path: PathBuf::from(uri.unwrap_or_else(|| "the built-in defaults".to_owned())),
            problem: describe_toml_error(&cause.to_string()),
        },
        other => SettingsError::Conflict { message: format!("the configuration cannot be merged: {other}") },
    })
}

/// The toml error without its source excerpt: the excerpt quotes the offending line, which may
/// hold a secret.
fn describe_toml_error(text: &str) -> String {
    let kept: Vec<&str> = text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.contains('|')).collect();
    format!("{}. Fix the TOML syntax (strings need quotes: key = \"value\")", kept.join(": "))
}

/// The `.env` file (if any) with the process environment over it.
fn read_environment(options: &LoadOptions) -> Result<BTreeMap<String, EnvValue>, SettingsError> {
    let mut env = BTreeMap::new();
    if let Some(path) = &options.env_file {
        let env_error = |problem: String| SettingsError::EnvFile { path: path.clone(), problem };
        let bytes = std::fs::read(path).map_err(|e| env_error(format!("cannot be read ({e})")))?;
        // A byte-order mark (Notepad writes one) would otherwise glue itself to the first name.
        let bytes = bytes.strip_prefix("\u{FEFF}".as_bytes()).unwrap_or(&bytes);
        for item in dotenvy::from_read_iter(bytes) {
            match item {
                Ok((name, value)) => {
                    env.insert(name, EnvValue { value, file: Some(path.clone()) });
                }
                Err(dotenvy::Error::LineParse(line, _)) => {
                    // Name the line by number, never by content: it may hold a secret.
                    let text = std::fs::read_to_string(path).unwrap_or_default();
                    let number = text.lines().position(|l| l == line || l.trim() == line.trim()).map_or(0, |i| i + 1);
                    return Err(env_error(format!(
                        "line {number} is not NAME=value: fix or remove it (quote values that contain spaces or #)"
                    )));
                }
                Err(e) => return Err(env_error(format!("cannot be read ({e})"))),
            }
        }
    }
    for (name, value) in &options.environment {
        env.insert(name.clone(), EnvValue { value: value.clone(), file: None });
    }
    Ok(env)
}

fn ambient(env: &BTreeMap<String, EnvValue>, name: &str) -> Option<String> {
    let value = &env.get(name)?.value;
    value.split(':').next().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

fn lookup<'a>(root: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(root, |value, part| match &value.kind {
        ValueKind::Table(table) => table.get(part),
        _ => None,
    })
}

fn text_at(root: &Value, dotted: &str) -> Option<String> {
    lookup(root, dotted).and_then(scalar_text).filter(|t| !t.trim().is_empty())
}

fn scalar_text(value: &Value) -> Option<String> {
    match &value.kind {
        ValueKind::Nil | ValueKind::Table(_) | ValueKind::Array(_) => None,
        _ => value.clone().into_string().ok(),
    }
}

fn not_a_value(key: &Key, origin: Origin, problem: &str) -> SettingsError {
    SettingsError::invalid(
        super::error::SettingName::of(key),
        None,
        origin,
        format!("is not a single value ({problem})"),
        "write it as key = \"value\"".to_owned(),
    )
}
