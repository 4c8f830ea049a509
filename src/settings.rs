//! Layered configuration: `config/default.toml` → `--config FILE` → `.env` → the environment.
