//! Configuration layering with real files: built-in defaults < `default.toml` in the
//! configuration directory < `--config FILE` < `.env` < the environment, and the messages that
//! name the file and the setting when one of them is wrong. No network involved.

use std::path::{Path, PathBuf};
use std::time::Duration;

use qbsync::directions::Direction;
use qbsync::settings::{LoadOptions, Settings, SettingsError, SyncMode};

const DEMO_MAP: &str = r#"{"money_in": ["ACD", "ACD Training"], "money_out": ["Jane Smith Consulting", "Bob's Burger Joint", "Northwind Traders", "Accelebrate"], "aliases": {"accelebrate inc": "Accelebrate", "acd llc": "ACD"}}"#;

/// A scratch directory with a configuration directory inside.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let scratch = Scratch { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir(scratch.config_dir()).unwrap();
        scratch
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn options(&self, config_file: Option<&Path>, env_file: Option<&Path>, env: &[(&str, &str)]) -> LoadOptions {
        let mut environment = vec![("QBSYNC_CONFIG_DIR".to_owned(), self.config_dir().display().to_string())];
        environment.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        LoadOptions {
            config_file: config_file.map(Path::to_path_buf),
            env_file: env_file.map(Path::to_path_buf),
            environment,
        }
    }

    fn load(
        &self,
        config_file: Option<&Path>,
        env_file: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Result<Settings, SettingsError> {
        Settings::load(&self.options(config_file, env_file, env))
    }

    fn error(&self, config_file: Option<&Path>, env_file: Option<&Path>, env: &[(&str, &str)]) -> String {
        match self.load(config_file, env_file, env) {
            Ok(_) => panic!("should be refused"),
            Err(e) => e.to_string(),
        }
    }
}

#[test]
fn each_layer_overrides_the_one_below() {
    let s = Scratch::new();
    s.write("config/default.toml", "[google]\nsheet_tab = \"From config dir\"\n[logging]\nkeep_files = 5\n");
    let file = s.write(
        "local.toml",
        "[google]\nsheet_tab = \"From file\"\n[daemon]\npoll_interval = 10\n[logging]\nlevel = \"warn\"\nkeep_files = 6\n",
    );
    let dot_env =
        s.write(".env", "QBSYNC_POLL_INTERVAL=20\nQBSYNC_LOG_LEVEL=debug\n# a comment\n\nQBSYNC_LOG_KEEP_FILES=7\n");

    // Every layer present: the environment wins where it speaks, then .env, then the file.
    let all = s.load(Some(&file), Some(&dot_env), &[("QBSYNC_LOG_LEVEL", "trace")]).unwrap();
    assert_eq!(all.logging.level, "trace");
    assert_eq!(all.daemon.poll_interval, Duration::from_secs(20));
    assert_eq!(all.logging.keep_files, 7);
    assert_eq!(all.google.sheet_tab, "From file");

    let without_env = s.load(Some(&file), Some(&dot_env), &[]).unwrap();
    assert_eq!(without_env.logging.level, "debug");

    let without_dot_env = s.load(Some(&file), None, &[]).unwrap();
    assert_eq!(without_dot_env.logging.level, "warn");
    assert_eq!(without_dot_env.daemon.poll_interval, Duration::from_secs(10));
    assert_eq!(without_dot_env.logging.keep_files, 6);

    let config_dir_only = s.load(None, None, &[]).unwrap();
    assert_eq!(config_dir_only.google.sheet_tab, "From config dir");
    assert_eq!(config_dir_only.logging.keep_files, 5);
    // Keys the on-disk default.toml leaves out still have the built-in defaults.
    assert_eq!(config_dir_only.logging.level, "info");
    assert_eq!(config_dir_only.daemon.poll_interval, Duration::from_secs(60));

    std::fs::remove_file(s.config_dir().join("default.toml")).unwrap();
    let built_in = s.load(None, None, &[]).unwrap();
    assert_eq!(built_in.google.sheet_tab, "inv_tbl");
    assert_eq!(built_in.logging.keep_files, 14);
}

#[test]
fn the_configuration_directory_can_come_from_dot_env_or_the_config_file() {
    let s = Scratch::new();
    let elsewhere = s.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("qb_directions.json"), DEMO_MAP).unwrap();
    std::fs::write(elsewhere.join("default.toml"), "[google]\nsheet_tab = \"elsewhere\"\n").unwrap();

    let dot_env = s.write(".env", &format!("QBSYNC_CONFIG_DIR={}\n", elsewhere.display()));
    let options = LoadOptions { config_file: None, env_file: Some(dot_env), environment: vec![] };
    let from_dot_env = Settings::load(&options).unwrap();
    assert_eq!(from_dot_env.paths.config_dir, elsewhere);
    assert_eq!(from_dot_env.google.sheet_tab, "elsewhere");
    assert!(from_dot_env.require_directions().is_ok());

    let file = s.write("local.toml", &format!("[paths]\nconfig_dir = {:?}\n", elsewhere.display().to_string()));
    let options = LoadOptions { config_file: Some(file), env_file: None, environment: vec![] };
    assert_eq!(Settings::load(&options).unwrap().google.sheet_tab, "elsewhere");

    let options = LoadOptions {
        config_file: None,
        env_file: None,
        environment: vec![("CONFIGURATION_DIRECTORY".into(), elsewhere.display().to_string())],
    };
    assert_eq!(Settings::load(&options).unwrap().paths.config_dir, elsewhere);
}

#[test]
fn toml_sections_set_the_same_settings_as_the_environment() {
    let s = Scratch::new();
    let file = s.write(
        "local.toml",
        r#"
[google]
sheet_url = "https://docs.google.com/spreadsheets/d/sheet-id_1/edit#gid=0"

[quickbooks]
environment = "Production"
client_id = "id"
client_secret = "toml-secret"
default_item_id = "1"
default_expense_account = 7

[sync]
mode = "dual"
enable_bills = true
eligible_statuses = ["Submitted", "Approved"]
doc_number_prefix = "ACD-"

[columns]
inv_dollars = "Amount"
"#,
    );
    let settings = s.load(Some(&file), None, &[]).unwrap();
    assert_eq!(settings.google.spreadsheet_id.as_deref(), Some("sheet-id_1"));
    assert_eq!(settings.quickbooks.api_url.as_str(), "https://quickbooks.api.intuit.com/");
    assert_eq!(settings.quickbooks.default_expense_account.as_deref(), Some("7"));
    assert_eq!(settings.sync.mode, SyncMode::Dual);
    assert!(settings.sync.eligible_statuses.contains("approved"));
    assert_eq!(settings.sync.doc_number_prefix, "ACD-");
    assert_eq!(settings.sync.columns.name(qbsync::domain::Field::InvDollars), "Amount");
    settings.require_sheet().unwrap();
    settings.require_quickbooks().unwrap();
    assert!(!format!("{settings:?}").contains("toml-secret"));
}

#[test]
fn a_bad_value_in_a_file_names_the_file_the_key_and_the_variable() {
    let s = Scratch::new();
    let file = s.write("local.toml", "[sync]\nmode = \"duel\"\n");
    let message = s.error(Some(&file), None, &[]);
    assert_eq!(
        message,
        format!(
            "mode = \"duel\" under [sync] in {} is not a sync mode: use invoice_only or dual (environment variable: QB_SYNC_MODE)",
            file.display()
        )
    );
    // The environment overrides the bad value, so it no longer matters.
    assert!(s.load(Some(&file), None, &[("QB_SYNC_MODE", "invoice_only")]).is_ok());
}

#[test]
fn a_bad_value_in_dot_env_names_the_dot_env_file() {
    let s = Scratch::new();
    let dot_env = s.write(".env", "QB_ENABLE_BILLS=perhaps\n");
    let message = s.error(None, Some(&dot_env), &[]);
    assert_eq!(
        message,
        format!(
            "QB_ENABLE_BILLS=perhaps in {} is not true or false: use true or false (in a config file: enable_bills under [sync])",
            dot_env.display()
        )
    );
}

#[test]
fn unknown_toml_keys_are_refused_with_a_suggestion() {
    let s = Scratch::new();
    let typo = s.write("typo.toml", "[sync]\nmdoe = \"dual\"\n");
    let message = s.error(Some(&typo), None, &[]);
    assert!(message.starts_with("unknown setting sync.mdoe in "), "{message}");
    assert!(message.contains("typo.toml") && message.contains("did you mean sync.mode?"), "{message}");

    let top_level = s.write("top.toml", "mode = \"dual\"\n");
    let message = s.error(Some(&top_level), None, &[]);
    assert!(message.contains("unknown setting mode") && message.contains("did you mean sync.mode?"), "{message}");

    let wrong_section = s.write("section.toml", "[quickbooks]\nmode = \"dual\"\n");
    let message = s.error(Some(&wrong_section), None, &[]);
    assert!(
        message.contains("unknown setting quickbooks.mode") && message.contains("did you mean sync.mode?"),
        "{message}"
    );

    let column = s.write("column.toml", "[columns]\namount = \"Amount\"\n");
    assert!(s.error(Some(&column), None, &[]).contains("unknown setting columns.amount"));
}

#[test]
fn toml_syntax_errors_name_the_line_but_never_echo_it() {
    let s = Scratch::new();
    let file = s.write("broken.toml", "[quickbooks]\nclient_secret = hunter2-secret\n");
    let message = s.error(Some(&file), None, &[]);
    assert!(message.starts_with("configuration file "), "{message}");
    assert!(message.contains("broken.toml") && message.contains("line 2"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn dot_env_syntax_errors_name_the_line_number_but_never_echo_it() {
    let s = Scratch::new();
    let dot_env = s.write(".env", "QB_CLIENT_ID=abc\n# fine\nQB_CLIENT_SECRET='unterminated-secret\n");
    let message = s.error(None, Some(&dot_env), &[]);
    assert!(message.contains(".env") && message.contains("line 3"), "{message}");
    assert!(!message.contains("unterminated-secret"), "{message}");
}

#[test]
fn missing_files_named_on_the_command_line_are_errors() {
    let s = Scratch::new();
    let absent = s.dir.path().join("absent.toml");
    let message = s.error(Some(&absent), None, &[]);
    assert!(message.starts_with("configuration file ") && message.contains("absent.toml: cannot be read"), "{message}");
    let absent_env = s.dir.path().join("absent.env");
    assert!(s.error(None, Some(&absent_env), &[]).contains("absent.env"));
}

#[test]
fn the_direction_map_and_alias_files_come_from_the_configuration_directory() {
    let s = Scratch::new();
    s.write("config/qb_directions.json", DEMO_MAP);
    s.write("config/qb_customers.json", r#"{"aliases": {"acme": "Acme Training Co"}}"#);
    let settings = s.load(None, None, &[]).unwrap();
    let directions = settings.require_directions().unwrap();
    assert_eq!(
        directions.route("accelebrate  INC").map(|r| (r.direction, r.canonical)),
        Some((Direction::MoneyOut, "Accelebrate".into()))
    );
    assert_eq!(settings.sync.customer_aliases.resolve("ACME"), "Acme Training Co");
    assert!(settings.sync.vendor_aliases.is_empty());
    let before = settings.config_fingerprint();

    s.write("config/qb_directions.json", &DEMO_MAP.replace("\"ACD Training\"", "\"ACD Training\", \"ACD Labs\""));
    assert_ne!(s.load(None, None, &[]).unwrap().config_fingerprint(), before);
    s.write("config/qb_directions.json", DEMO_MAP);
    s.write("config/qb_vendors.json", r#"{"aliases": {"northwind": "Northwind Traders"}}"#);
    assert_ne!(s.load(None, None, &[]).unwrap().config_fingerprint(), before);
}

#[test]
fn a_broken_direction_map_stops_loading_and_names_file_and_line() {
    let s = Scratch::new();
    let path = s.write("config/qb_directions.json", "{\n  \"money_in\": [\"ACD\"],\n  \"money_out\": [\"ACD\"]\n}\n");
    let message = s.error(None, None, &[]);
    assert!(
        message.starts_with(&format!("{}: \"ACD\" is listed in both money_in and money_out", path.display())),
        "{message}"
    );

    s.write("config/qb_directions.json", "{\n  \"money_in\": [\"ACD\"]\n  \"money_out\": []\n}\n");
    let message = s.error(None, None, &[]);
    assert!(message.contains("qb_directions.json is not valid JSON") && message.contains("line 3"), "{message}");

    std::fs::remove_file(&path).unwrap();
    s.write("config/qb_customers.json", r#"{"aliases": ["acme"]}"#);
    let message = s.error(None, None, &[]);
    assert!(message.contains("qb_customers.json") && message.contains("QuickBooks DisplayName"), "{message}");
}

#[test]
fn the_shipped_configuration_loads_and_routes_the_demo() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let options = LoadOptions {
        config_file: None,
        env_file: None,
        environment: vec![("QBSYNC_CONFIG_DIR".into(), shipped.display().to_string())],
    };
    let settings = Settings::load(&options).unwrap();
    let directions = settings.require_directions().unwrap();
    for (name, direction) in [
        ("ACD", Direction::MoneyIn),
        ("acd llc", Direction::MoneyIn),
        ("ACD Training", Direction::MoneyIn),
        ("Jane Smith Consulting", Direction::MoneyOut),
        ("Bob's Burger Joint", Direction::MoneyOut),
        ("Northwind Traders", Direction::MoneyOut),
        ("Accelebrate Inc", Direction::MoneyOut),
    ] {
        assert_eq!(directions.route(name).map(|r| r.direction), Some(direction), "{name}");
    }
    assert!(settings.sync.customer_aliases.is_empty() && settings.sync.vendor_aliases.is_empty());
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
}

#[test]
fn the_example_dot_env_parses() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join(".env.example");
    let s = Scratch::new();
    // The example holds placeholders for the sheet and the key file; everything else must load.
    let options = LoadOptions {
        config_file: None,
        env_file: Some(example),
        environment: vec![
            ("QBSYNC_CONFIG_DIR".into(), s.config_dir().display().to_string()),
            ("GOOGLE_SERVICE_ACCOUNT_JSON".into(), r#"{"type": "service_account"}"#.into()),
            ("GOOGLE_SHEET_URL".into(), "sheet-id".into()),
        ],
    };
    let settings = Settings::load(&options).unwrap();
    assert_eq!(settings.quickbooks.default_item_id.as_deref(), Some("1"));
    assert_eq!(settings.quickbooks.client_id, None);
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
}
