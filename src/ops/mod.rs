//! Running it for real: logging, systemd notify, status page, metrics, alerts.
