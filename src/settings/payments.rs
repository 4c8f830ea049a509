//! `[payments]`: how qbsync follows money in QuickBooks, and whether it records payments there.
//!
//! Following is always on once the sheet has the payment columns: qbsync polls QuickBooks'
//! change data capture every `QBSYNC_PAYMENTS_INTERVAL` seconds (each poll is one metered call,
//! so the default 300 s costs about 288 calls a day for an idle company). Recording payments is
//! opt-in per direction, and each direction needs the account the money moves through; the
//! types here can only hold "off" or "on with its account", so the rest of qbsync never meets a
//! half-configured direction.

use std::time::Duration;

use super::layers::Layers;
use super::values::{self, optional, or_default};
use super::{SettingsError, missing};

/// Seconds between payment polls by default.
pub const DEFAULT_PAYMENTS_INTERVAL_SECS: u64 = 300;

/// Whether `Inv_paid_date` becomes a payment in QuickBooks for one direction.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum AutoMarkPaid {
    /// qbsync only reads payments (the default).
    #[default]
    Off,
    /// A synced row with a date in `Inv_paid_date` gets a payment through this account: the
    /// bank or credit-card account bills are paid from, or the account invoice payments are
    /// deposited to.
    On { account_id: String },
}

/// `[payments]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentSettings {
    /// `QBSYNC_PAYMENTS_INTERVAL`: seconds between CDC polls (default 300).
    pub interval: Duration,
    /// `QB_AUTO_MARK_BILL_PAID` with `QB_BILL_PAYMENT_ACCOUNT`.
    pub mark_bills_paid: AutoMarkPaid,
    /// `QB_AUTO_MARK_INVOICE_PAID` with `QB_PAYMENT_DEPOSIT_ACCOUNT`.
    pub mark_invoices_paid: AutoMarkPaid,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        PaymentSettings {
            interval: Duration::from_secs(DEFAULT_PAYMENTS_INTERVAL_SECS),
            mark_bills_paid: AutoMarkPaid::Off,
            mark_invoices_paid: AutoMarkPaid::Off,
        }
    }
}

pub(super) fn read_payments(layers: &Layers) -> Result<PaymentSettings, SettingsError> {
    let interval = or_default(
        layers.get("payments.interval")?,
        Duration::from_secs(DEFAULT_PAYMENTS_INTERVAL_SECS),
        values::seconds(30),
    )?;
    let direction = |switch: &str, account: &str, why: &str, hint: &str| -> Result<AutoMarkPaid, SettingsError> {
        let on = or_default(layers.get(switch)?, false, values::boolean)?;
        let account_id = optional(layers.get(account)?, values::qbo_id("account", ""))?;
        match (on, account_id) {
            (false, _) => Ok(AutoMarkPaid::Off),
            (true, Some(account_id)) => Ok(AutoMarkPaid::On { account_id }),
            (true, None) => Err(missing(account, why, hint)),
        }
    };
    Ok(PaymentSettings {
        interval,
        mark_bills_paid: direction(
            "payments.auto_mark_bill_paid",
            "payments.bill_payment_account",
            "with QB_AUTO_MARK_BILL_PAID=true every bill payment needs the bank or credit-card account it is paid from",
            "`qbsync doctor` lists your accounts and their Ids",
        )?,
        mark_invoices_paid: direction(
            "payments.auto_mark_invoice_paid",
            "payments.deposit_account",
            "with QB_AUTO_MARK_INVOICE_PAID=true every invoice payment needs the account it is deposited to",
            "`qbsync doctor` lists your accounts and their Ids (Undeposited Funds is the usual choice)",
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{LoadOptions, Settings};

    fn load(env: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let dir = tempfile::tempdir().unwrap();
        let mut environment = vec![("QBSYNC_CONFIG_DIR".to_owned(), dir.path().display().to_string())];
        environment.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Settings::load(&LoadOptions { config_file: None, env_file: None, environment })
    }

    #[test]
    fn payments_are_followed_every_five_minutes_and_never_recorded_by_default() {
        assert_eq!(load(&[]).unwrap().payments, PaymentSettings::default());
        assert_eq!(PaymentSettings::default().interval, Duration::from_secs(300));
    }

    #[test]
    fn each_direction_is_on_only_with_its_account() {
        let s = load(&[
            ("QBSYNC_PAYMENTS_INTERVAL", "120"),
            ("QB_AUTO_MARK_BILL_PAID", "true"),
            ("QB_BILL_PAYMENT_ACCOUNT", "35"),
            ("QB_PAYMENT_DEPOSIT_ACCOUNT", "4"),
        ])
        .unwrap();
        assert_eq!(s.payments.interval, Duration::from_secs(120));
        assert_eq!(s.payments.mark_bills_paid, AutoMarkPaid::On { account_id: "35".into() });
        assert_eq!(s.payments.mark_invoices_paid, AutoMarkPaid::Off, "an account alone turns nothing on");
        let s = load(&[("QB_AUTO_MARK_INVOICE_PAID", "yes"), ("QB_PAYMENT_DEPOSIT_ACCOUNT", "4")]).unwrap();
        assert_eq!(s.payments.mark_invoices_paid, AutoMarkPaid::On { account_id: "4".into() });
    }

    #[test]
    fn a_direction_switched_on_without_its_account_is_refused_naming_it() {
        let error = load(&[("QB_AUTO_MARK_BILL_PAID", "true")]).unwrap_err().to_string();
        assert!(error.contains("QB_BILL_PAYMENT_ACCOUNT"), "{error}");
        let error = load(&[("QB_AUTO_MARK_INVOICE_PAID", "true")]).unwrap_err().to_string();
        assert!(error.contains("QB_PAYMENT_DEPOSIT_ACCOUNT"), "{error}");
        let error = load(&[("QB_AUTO_MARK_BILL_PAID", "true"), ("QB_BILL_PAYMENT_ACCOUNT", "Checking")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("QB_BILL_PAYMENT_ACCOUNT"), "{error}");
        assert!(load(&[("QBSYNC_PAYMENTS_INTERVAL", "5")]).is_err(), "polling faster than 30 s is refused");
    }
}
