//! Placeholder: replaced by the emulator's implementation.

use std::sync::Arc;

use axum::Router;

use super::{SandboxOptions, Shared};

pub struct GoogleEmulator;

impl GoogleEmulator {
    pub fn new(_options: &SandboxOptions, _shared: &Shared) -> anyhow::Result<Arc<GoogleEmulator>> {
        Ok(Arc::new(GoogleEmulator))
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
    }
}
