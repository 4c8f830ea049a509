//! The sync engine: read, plan (pure), apply.
