//! Parsers for setting values: each returns the value or a `(problem, fix)` pair that
//! [`Raw::invalid`] turns into a message naming the setting.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use url::Url;

use super::error::{SettingName, SettingsError};
use super::layers::{Raw, RawValue};

/// What is wrong with a value, and how to fix it.
pub(super) type Problem = (String, String);

pub(super) fn problem(problem: impl Into<String>, fix: impl Into<String>) -> Problem {
    (problem.into(), fix.into())
}

impl Raw {
    /// The error for this value.
    pub fn invalid(&self, (problem, fix): Problem) -> SettingsError {
        let value = match (&self.value, self.key.secret) {
            (_, true) => None,
            (RawValue::Text(text), false) => Some(text.clone()),
            (RawValue::List(items), false) => Some(items.join(",")),
        };
        SettingsError::invalid(SettingName::of(&self.key), value, self.origin.clone(), problem, fix)
    }

    /// The value as one string: a TOML list is joined with commas.
    pub fn text(&self) -> String {
        match &self.value {
            RawValue::Text(text) => text.trim().to_owned(),
            RawValue::List(items) => items.join(","),
        }
    }

    /// Parses the value, reporting a failure against this setting.
    pub fn parse<T>(&self, parser: impl FnOnce(&str) -> Result<T, Problem>) -> Result<T, SettingsError> {
        parser(&self.text()).map_err(|p| self.invalid(p))
    }
}

/// `value` parsed, or `default` when unset.
pub(super) fn or_default<T>(
    raw: Option<Raw>,
    default: T,
    parser: impl FnOnce(&str) -> Result<T, Problem>,
) -> Result<T, SettingsError> {
    match raw {
        Some(raw) => raw.parse(parser),
        None => Ok(default),
    }
}

/// `value` parsed, or `None` when unset.
pub(super) fn optional<T>(
    raw: Option<Raw>,
    parser: impl FnOnce(&str) -> Result<T, Problem>,
) -> Result<Option<T>, SettingsError> {
    raw.map(|raw| raw.parse(parser)).transpose()
}

pub(super) fn text(value: &str) -> Result<String, Problem> {
    Ok(value.to_owned())
}

/// `true/false`, `1/0`, `yes/no`, `on/off`, any case.
pub(super) fn boolean(value: &str) -> Result<bool, Problem> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(problem("is not true or false", "use true or false")),
    }
}

/// A whole number of seconds, at least `min`.
pub(super) fn seconds(min: u64) -> impl FnOnce(&str) -> Result<Duration, Problem> {
    move |value| {
        let secs = value
            .strip_suffix('s')
            .unwrap_or(value)
            .trim()
            .parse::<u64>()
            .map_err(|_| problem("is not a number of seconds", "write a whole number of seconds, e.g. 60"))?;
        if secs < min {
            return Err(problem(format!("is less than {min} second(s)"), format!("use {min} or more")));
        }
        Ok(Duration::from_secs(secs))
    }
}

/// [`seconds`], or `off` (also `false`, `no`, `none`) for `None`.
pub(super) fn seconds_or_off(min: u64) -> impl FnOnce(&str) -> Result<Option<Duration>, Problem> {
    move |value| {
        if matches!(value.trim().to_ascii_lowercase().as_str(), "off" | "false" | "no" | "none") {
            return Ok(None);
        }
        seconds(min)(value).map(Some).map_err(|(what, fix)| (what, format!("{fix}, or off")))
    }
}

/// A whole number of milliseconds, at least `min`.
pub(super) fn millis(min: u64) -> impl FnOnce(&str) -> Result<Duration, Problem> {
    move |value| {
        let ms = value.strip_suffix("ms").unwrap_or(value).trim().parse::<u64>().map_err(|_| {
            problem("is not a number of milliseconds", "write a whole number of milliseconds, e.g. 1000")
        })?;
        if ms < min {
            return Err(problem(format!("is less than {min} ms"), format!("use {min} or more")));
        }
        Ok(Duration::from_millis(ms))
    }
}

/// A whole number at least `min`.
pub(super) fn count(min: usize) -> impl FnOnce(&str) -> Result<usize, Problem> {
    move |value| {
        let n = value.parse::<usize>().map_err(|_| problem("is not a whole number", "write a number, e.g. 14"))?;
        if n < min {
            return Err(problem(format!("is less than {min}"), format!("use {min} or more")));
        }
        Ok(n)
    }
}

/// A QuickBooks Id (`1`, `33`): digits only. A name put where an Id belongs is the usual mistake.
pub(super) fn qbo_id(what: &'static str, name_hint: &'static str) -> impl FnOnce(&str) -> Result<String, Problem> {
    move |value| {
        if value.chars().all(|c| c.is_ascii_digit()) {
            Ok(value.to_owned())
        } else {
            Err(problem(
                format!("is not a QuickBooks Id ({what} Ids are numbers such as 7)"),
                format!("use the Id, which `qbsync doctor` lists{name_hint}"),
            ))
        }
    }
}

/// The spreadsheet id from `https://docs.google.com/spreadsheets/d/<ID>/edit#gid=0` or a bare id.
pub(super) fn spreadsheet_id(value: &str) -> Result<String, Problem> {
    let bad = || {
        problem(
            "is neither a Google Sheets address nor a spreadsheet id",
            "copy the sheet's address from the browser (https://docs.google.com/spreadsheets/d/…/edit) or just the id between /d/ and /edit",
        )
    };
    let is_id = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if is_id(value) {
        return Ok(value.to_owned());
    }
    let with_scheme = if value.contains("://") { value.to_owned() } else { format!("https://{value}") };
    let url = Url::parse(&with_scheme).map_err(|_| bad())?;
    let segments: Vec<&str> = url.path_segments().map(Iterator::collect).unwrap_or_default();
    let id = segments
        .iter()
        .position(|s| *s == "spreadsheets")
        .and_then(|i| segments[i + 1..].iter().position(|s| *s == "d").map(|j| i + 1 + j + 1))
        .and_then(|i| segments.get(i))
        .filter(|id| is_id(id))
        .ok_or_else(bad)?;
    Ok((*id).to_owned())
}

/// A URL for a service qbsync calls. `https` is required except on the loopback interface
/// (the sandbox, tests): an `http` URL elsewhere would send tokens in clear text.
pub(super) fn service_url(value: &str) -> Result<Url, Problem> {
    let url = Url::parse(value)
        .map_err(|e| problem(format!("is not a URL ({e})"), "write a full URL such as https://example.com/"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(problem("uses http to a host other than this machine", "use https")),
        _ => Err(problem("is not an http(s) URL", "write a full URL starting with https://")),
    }
}

/// A [`service_url`] to which paths are appended: always ends with `/`.
pub(super) fn base_url(value: &str) -> Result<Url, Problem> {
    let mut url = service_url(value)?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A redirect URI for the OAuth flow: the browser goes there, so `http://localhost` is normal.
pub(super) fn redirect_uri(value: &str) -> Result<Url, Problem> {
    let url = Url::parse(value).map_err(|e| {
        problem(
            format!("is not a URL ({e})"),
            "use the redirect URI registered in your Intuit app, e.g. http://localhost:8765/callback",
        )
    })?;
    if matches!(url.scheme(), "http" | "https") && url.host().is_some() {
        Ok(url)
    } else {
        Err(problem(
            "is not an http(s) URL",
            "use the redirect URI registered in your Intuit app, e.g. http://localhost:8765/callback",
        ))
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `127.0.0.1:8787`, `[::1]:8787`, a bare port (`8787` → `127.0.0.1:8787`), or `off`.
pub(super) fn listen_addr(value: &str) -> Result<Option<SocketAddr>, Problem> {
    if matches!(value.to_ascii_lowercase().as_str(), "off" | "false" | "no" | "none") {
        return Ok(None);
    }
    let port_only = value.strip_prefix(':').unwrap_or(value);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)));
    }
    SocketAddr::from_str(value).map(Some).map_err(|_| {
        problem("is not an address and port", "write it like 127.0.0.1:8787, or off to serve no status page")
    })
}

/// An SMTP URL as lettre reads it: `smtp://` or `smtps://`.
pub(super) fn smtp_url(value: &str) -> Result<String, Problem> {
    let fix = "write it like smtps://user:password@smtp.example.com:465 or smtp://smtp.example.com:587";
    let url = Url::parse(value).map_err(|_| problem("is not a URL", fix))?;
    if matches!(url.scheme(), "smtp" | "smtps") && url.host().is_some() {
        Ok(value.to_owned())
    } else {
        Err(problem("is not an smtp:// or smtps:// URL", fix))
    }
}

/// A comma-separated list of e-mail addresses (`Name <a@example.com>` allowed).
pub(super) fn mailboxes(value: &str) -> Result<Vec<String>, Problem> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        mailbox(item)?;
        out.push(item.to_owned());
    }
    Ok(out)
}

pub(super) fn mailbox(value: &str) -> Result<String, Problem> {
    lettre::message::Mailbox::from_str(value)
        .map(|_| value.to_owned())
        .map_err(|_| problem(format!("{value:?} is not an e-mail address"), "write it like alerts@example.com"))
}

/// A tracing filter such as `info` or `qbsync=debug,info`.
/// A bare word must be a level: EnvFilter would read a typo (`inf`) as a target name and
/// silently log nothing.
pub(super) fn log_level(value: &str) -> Result<String, Problem> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let bad =
        || problem("is not a log level", "use error, warn, info, debug or trace (or a filter like qbsync=debug,info)");
    let is_filter = value.contains(['=', ',']);
    if !is_filter && !LEVELS.contains(&value.to_ascii_lowercase().as_str()) {
        return Err(bad());
    }
    tracing_subscriber::EnvFilter::try_new(value).map(|_| value.to_owned()).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for (text, want) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("yes", true),
            ("On", true),
            ("false", false),
            ("0", false),
            ("No", false),
            ("off", false),
        ] {
            assert_eq!(boolean(text), Ok(want), "{text}");
        }
        assert!(boolean("maybe").is_err());
    }

    #[test]
    fn spreadsheet_ids() {
        let id = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";
        for text in [
            id.to_owned(),
            format!("https://docs.google.com/spreadsheets/d/{id}/edit#gid=0"),
            format!("https://docs.google.com/spreadsheets/d/{id}"),
            format!("https://docs.google.com/spreadsheets/u/1/d/{id}/edit?usp=sharing"),
            format!("docs.google.com/spreadsheets/d/{id}/edit"),
        ] {
            assert_eq!(spreadsheet_id(&text), Ok(id.to_owned()), "{text}");
        }
        assert_eq!(spreadsheet_id("demo-sheet"), Ok("demo-sheet".into()));
        assert!(spreadsheet_id("https://docs.google.com/document/d/abc/edit").is_err());
        assert!(spreadsheet_id("my sheet").is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(base_url("https://sheets.googleapis.com").unwrap().as_str(), "https://sheets.googleapis.com/");
        assert_eq!(base_url("http://127.0.0.1:8080/api").unwrap().as_str(), "http://127.0.0.1:8080/api/");
        assert_eq!(base_url("http://localhost:1/").unwrap().as_str(), "http://localhost:1/");
        assert_eq!(base_url("http://[::1]:1/").unwrap().as_str(), "http://[::1]:1/");
        assert!(base_url("http://example.com/").unwrap_err().0.contains("http"));
        assert!(base_url("ftp://example.com/").is_err());
        assert!(base_url("example.com").is_err());
        assert_eq!(service_url("https://x.test/oauth2/v1/tokens/bearer").unwrap().path(), "/oauth2/v1/tokens/bearer");
        assert!(redirect_uri("http://localhost:8765/callback").is_ok());
        assert!(redirect_uri("localhost:8765").is_err());
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_addr("off"), Ok(None));
        assert_eq!(listen_addr("127.0.0.1:8787"), Ok(Some("127.0.0.1:8787".parse().unwrap())));
        assert_eq!(listen_addr("8787"), Ok(Some("127.0.0.1:8787".parse().unwrap())));
        assert_eq!(listen_addr(":8787"), Ok(Some("127.0.0.1:8787".parse().unwrap())));
        assert_eq!(listen_addr("0.0.0.0:80"), Ok(Some("0.0.0.0:80".parse().unwrap())));
        assert!(listen_addr("localhost").is_err());
    }

    #[test]
    fn small_values() {
        assert_eq!(seconds(1)("60"), Ok(Duration::from_secs(60)));
        assert_eq!(seconds(1)("90s"), Ok(Duration::from_secs(90)));
        assert!(seconds(1)("0").is_err());
        assert!(seconds(1)("a minute").is_err());
        assert_eq!(seconds_or_off(1)("5"), Ok(Some(Duration::from_secs(5))));
        assert_eq!(seconds_or_off(1)("Off"), Ok(None));
        assert!(seconds_or_off(1)("0").is_err_and(|(_, fix)| fix.ends_with("or off")));
        assert_eq!(count(1)("14"), Ok(14));
        assert!(count(1)("0").is_err());
        assert_eq!(qbo_id("item", "")("42"), Ok("42".into()));
        assert!(qbo_id("item", "")("Services").is_err());
        assert!(mailboxes("a@example.com, Ops <ops@example.com>").is_ok());
        assert!(mailboxes("not an address").is_err());
        assert!(smtp_url("smtps://u:p@smtp.example.com:465").is_ok());
        assert!(smtp_url("https://smtp.example.com").is_err());
        assert!(log_level("qbsync=debug,info").is_ok());
        assert!(log_level("INFO").is_ok());
        assert!(log_level("inf").is_err());
        assert!(log_level("qbsync=loud").is_err());
    }
}
