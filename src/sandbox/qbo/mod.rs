//! Placeholder: replaced by the emulator's implementation.

use std::sync::Arc;

use axum::Router;

use super::{SandboxOptions, Shared};

pub struct QboEmulator;

impl QboEmulator {
    pub fn new(_options: &SandboxOptions, _shared: &Shared) -> anyhow::Result<Arc<QboEmulator>> {
        Ok(Arc::new(QboEmulator))
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
    }
}
