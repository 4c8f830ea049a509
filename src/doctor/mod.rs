//! `qbsync doctor`: everything a first run needs, checked one thing at a time.
//!
//! A first-time user meets qbsync through its failures: a sheet not shared with the service
//! account, an item id copied from the wrong company, a tracking column never added. Each of
//! those would otherwise surface as a failed pass with an error from deep inside a client. The
//! doctor asks each question separately and answers with one [`Check`]: what was found and, for
//! anything wrong, the one thing to do about it.
//!
//! The checks build their clients through [`crate::commands::context`], exactly as the commands
//! do, so a passing doctor means the commands will find what they need. They print nothing:
//! [`diagnose`] returns a [`Report`], which the command renders and tests inspect.
//!
//! | file | checks |
//! |---|---|
//! | `config.rs` | settings, credentials and ids configured, direction map, alias files, directories, token store (no network: `--offline`) |
//! | `google.rs` | Google credentials valid, sheet and tab, header row, direction map against `inv_from`, Drive change check |
//! | `quickbooks.rs` | connected (company, plan, expiry), custom numbers, default item and accounts, bills on the plan, the accounts of opt-in payments |

mod config;
mod google;
mod quickbooks;
pub mod readme;

use serde::Serialize;
use std::fmt::Write as _;

use crate::settings::{LoadOptions, Settings, SettingsError};

/// The name of every check, for tests and scripts that look one up in a [`Report`].
pub mod names {
    pub const SETTINGS: &str = "settings";
    pub const SHEET_CONFIGURED: &str = "sheet configured";
    pub const GOOGLE_CONFIGURED: &str = "Google credentials configured";
    pub const INTUIT_APP: &str = "Intuit app configured";
    pub const QUICKBOOKS_IDS: &str = "QuickBooks ids configured";
    pub const DIRECTION_MAP: &str = "direction map";
    pub const ALIAS_FILES: &str = "alias files";
    pub const STATE_DIR: &str = "state directory";
    pub const LOG_DIR: &str = "log directory";
    pub const TOKEN_STORE: &str = "token store";
    pub const QUICKBOOKS_GRANT: &str = "QuickBooks connection stored";
    pub const GOOGLE_CREDENTIALS: &str = "Google credentials valid";
    pub const SHEET: &str = "sheet and tab";
    pub const HEADERS: &str = "header row";
    pub const INV_FROM: &str = "direction map covers inv_from";
    pub const DRIVE_CHANGES: &str = "fast pick-up (Drive)";
    pub const QUICKBOOKS: &str = "QuickBooks connected";
    pub const CUSTOM_NUMBERS: &str = "custom transaction numbers";
    pub const ITEM: &str = "default item";
    pub const EXPENSE_ACCOUNT: &str = "expense account";
    pub const AP_ACCOUNT: &str = "A/P account";
    pub const BILLS: &str = "bills on the plan";
    pub const SALES_TAX: &str = "sales tax";
    pub const BILL_PAYMENT_ACCOUNT: &str = "bill payment account";
    pub const DEPOSIT_ACCOUNT: &str = "payment deposit account";
}

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    /// Works now, but a person should know (an expiry within 14 days, an unused map name).
    Warn,
    Fail,
    /// Could not be asked because an earlier check failed.
    Skip,
}

/// One question and its answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Outcome,
    /// What was found (for a failure: what is wrong).
    pub detail: String,
    /// What to do, for a failure or a warning.
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, outcome: Outcome::Pass, detail: detail.into(), fix: None }
    }

    pub fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, outcome: Outcome::Warn, detail: detail.into(), fix: Some(fix.into()) }
    }

    pub fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, outcome: Outcome::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }

    pub fn skip(name: &'static str, because: impl Into<String>) -> Check {
        Check { name, outcome: Outcome::Skip, detail: because.into(), fix: None }
    }

    /// Passed, possibly with a warning.
    pub fn ok(&self) -> bool {
        matches!(self.outcome, Outcome::Pass | Outcome::Warn)
    }
}

/// Every check of one run, in the order they were asked.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// The check called `name`, if it was asked.
    pub fn get(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// True when every check passed (warnings allowed): the exit status is 0 only then.
    pub fn all_ok(&self) -> bool {
        self.checks.iter().all(Check::ok)
    }

    /// One line per check (`✓`, `!`, `✗`, `–`), the fix indented under it, and a summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            let mark = match check.outcome {
                Outcome::Pass => "✓",
                Outcome::Warn => "!",
                Outcome::Fail => "✗",
                Outcome::Skip => "–",
            };
            let _ = writeln!(out, "{mark} {}: {}", check.name, check.detail);
            if let Some(fix) = &check.fix {
                let _ = writeln!(out, "    fix: {fix}");
            }
        }
        let failed = self.checks.iter().filter(|c| !c.ok()).count();
        let warned = self.checks.iter().filter(|c| c.outcome == Outcome::Warn).count();
        let _ = match (failed, warned) {
            (0, 0) => writeln!(out, "\nAll {} checks passed.", self.checks.len()),
            (0, w) => writeln!(out, "\nAll {} checks passed ({w} with a warning).", self.checks.len()),
            (f, _) => writeln!(
                out,
                "\n{f} of {} checks did not pass: fix them (top first) and run `qbsync doctor` again.",
                self.checks.len()
            ),
        };
        out
    }
}

/// What to check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Configuration only: no request leaves the machine (systemd's `ExecStartPre=`).
    pub offline: bool,
}

/// Loads the settings and runs every check. A configuration that does not load is the one
/// failed check: nothing else can be asked without it.
pub async fn diagnose(load: &LoadOptions, options: Options) -> Report {
    match Settings::load(load) {
        Ok(settings) => diagnose_settings(&settings, options).await,
        Err(error) => Report { checks: vec![settings_failure(&error)] },
    }
}

/// Runs every check against loaded settings.
pub async fn diagnose_settings(settings: &Settings, options: Options) -> Report {
    let mut checks = config::checks(settings, options);
    if !options.offline {
        let settings = crate::commands::context::impatient(settings);
        checks.extend(google::checks(&settings).await);
        checks.extend(quickbooks::checks(&settings).await);
    }
    Report { checks }
}

fn settings_failure(error: &SettingsError) -> Check {
    let (detail, fix) = split_settings_error(error);
    Check::fail(names::SETTINGS, detail, fix)
}

/// A settings error as "what is wrong" and "what to do", where the message has both parts.
pub(crate) fn split_settings_error(error: &SettingsError) -> (String, String) {
    match error {
        SettingsError::Missing { setting, why, hint } => (
            format!("{} is not set: {why}", setting.env),
            format!("set {} in .env or the environment. {hint}", setting.env),
        ),
        other => (other.to_string(), "correct the setting named above and run `qbsync doctor` again".to_owned()),
    }
}

/// `a, b and c`.
pub(crate) fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_marks_each_outcome_and_says_whether_all_passed() {
        let report = Report {
            checks: vec![
                Check::pass("one", "fine"),
                Check::warn("two", "expires soon", "run `qbsync auth`"),
                Check::fail("three", "broken", "mend it"),
                Check::skip("four", "needs three"),
            ],
        };
        let text = report.render();
        assert!(text.contains("✓ one: fine\n"), "{text}");
        assert!(text.contains("! two: expires soon\n    fix: run `qbsync auth`\n"), "{text}");
        assert!(text.contains("✗ three: broken\n    fix: mend it\n"), "{text}");
        assert!(text.contains("– four: needs three\n"), "{text}");
        assert!(text.contains("2 of 4 checks did not pass"), "{text}");
        assert!(!report.all_ok());

        let fine = Report { checks: vec![Check::pass("one", "fine"), Check::warn("two", "soon", "act")] };
        assert!(fine.all_ok());
        assert!(fine.render().contains("All 2 checks passed (1 with a warning)."));
    }

    #[test]
    fn lists_read_as_prose() {
        assert_eq!(list(&[]), "");
        assert_eq!(list(&["a".into()]), "a");
        assert_eq!(list(&["a".into(), "b".into(), "c".into()]), "a, b and c");
    }
}
