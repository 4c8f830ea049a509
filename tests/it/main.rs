//! Integration tests: one binary (linking is the slow part), one module per concern.
//! Every test drives the real clients over real HTTP against the in-process sandbox.

mod approval;
mod auth;
mod autopay;
mod careless;
mod cli;
mod daemon;
mod demo;
mod live_edits;
mod money;
mod ops;
mod payments;
mod pickup;
mod qbo_client;
mod readme;
mod sandbox_google;
mod sandbox_qbo;
mod settings;
mod sheets_client;
mod support;
mod sync;
mod tax;
mod throughput;
mod torture;
mod void;
