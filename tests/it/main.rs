//! Integration tests: one binary (linking is the slow part), one module per concern.
//! Every test drives the real clients over real HTTP against the in-process sandbox.

mod ops;
