//! The connected company's own rules, as far as a pass needs them: how its documents are taxed.
//!
//! Every QuickBooks company taxes by its country's rules (see [`crate::qbo::tax`]), and only the
//! company knows them: its country, its tax preferences, its tax codes. They cost three metered
//! reads, change rarely, and are not in change data capture, so they are learnt once — at start
//! ([`Company::check`]), else by the first pass that builds a document — and kept for the life
//! of the process. A tax fault from QuickBooks means they may have changed (a code made
//! inactive, automated sales tax switched on): they are then forgotten and learnt again by the
//! next pass that builds a document.
//!
//! Settings that do not fit the company (a British company without `QB_DEFAULT_TAX_CODE`) stop
//! the pass with one message listing the company's codes, before any row is judged by them:
//! a configuration mistake is never a hundred failed rows.

use std::sync::Mutex;

use crate::qbo::{QboClient, TaxPlan, TaxSetup};

use super::error::PassError;
use super::policy::{Mode, Policy};

/// What is known of the company's rules; shared by the passes of one process.
#[derive(Debug, Default)]
pub struct Company {
    /// Behind a lock only because the engine is shared by reference with a pass; passes never
    /// run at once.
    tax: Mutex<Option<TaxSetup>>,
}

impl Company {
    /// How this pass's documents are taxed: the company's setup (learnt now if not known) under
    /// the policy's settings.
    pub async fn tax_plan(&self, qbo: &QboClient, policy: &Policy) -> Result<TaxPlan, PassError> {
        let known = self.known();
        let setup = match known {
            Some(setup) => setup,
            None => {
                let setup = qbo.tax_setup().await?;
                tracing::info!(
                    country = %setup.country,
                    automated_sales_tax = setup.automated_sales_tax(),
                    codes = setup.codes.len(),
                    "learnt the company's tax setup"
                );
                *self.lock() = Some(setup.clone());
                setup
            }
        };
        setup.plan(&policy.tax, policy.mode == Mode::Dual).map_err(PassError::TaxSettings)
    }

    /// Learns the company's rules and checks the settings against them, for start-up: a
    /// configuration that cannot work stops the process before its first pass. Anything else
    /// (QuickBooks not answering, a connection to renew) is left to the passes, which retry and
    /// say so.
    pub async fn check(&self, qbo: &QboClient, policy: &Policy) -> Result<Option<TaxPlan>, PassError> {
        match self.tax_plan(qbo, policy).await {
            Ok(plan) => Ok(Some(plan)),
            Err(error @ PassError::TaxSettings(_)) => Err(error),
            Err(error) => {
                tracing::warn!(%error, "could not learn the company's tax setup at start; the first pass that creates a document will");
                Ok(None)
            }
        }
    }

    /// QuickBooks refused a document for its tax: what was learnt may be out of date.
    pub fn forget(&self) {
        *self.lock() = None;
    }

    fn known(&self) -> Option<TaxSetup> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<TaxSetup>> {
        // A panic while holding the lock cannot leave a half-written `Option`.
        self.tax.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
