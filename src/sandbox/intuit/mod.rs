//! Placeholder: replaced by the emulator's implementation.

use std::sync::Arc;

use axum::Router;

use super::{SandboxOptions, Shared};

pub struct IntuitEmulator;

impl IntuitEmulator {
    pub fn new(_options: &SandboxOptions, _shared: &Shared) -> anyhow::Result<Arc<IntuitEmulator>> {
        Ok(Arc::new(IntuitEmulator))
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
    }
}
