//! Fast pick-up (issue 20): the real daemon loop over the sandbox, with a full-poll interval far
//! longer than the test, so a row can only be picked up because Drive's version moved.

use std::time::Duration;

use qbsync::commands::context::{self, RunFlags};
use qbsync::daemon::Hooks;
use qbsync::doctor::{Options, Outcome, diagnose, names};
use qbsync::pickup::{DriveAccess, Schedule};
use qbsync::settings::{LoadOptions, Settings};
use qbsync::sync::{Engine, Policy};
use qbsync::sync::{PassError, PassReport};
use tokio::sync::{oneshot, watch};

use crate::support::{FAST_CLIENTS, World};

/// Longer than any test: a pass that happens was started by the change check.
const NEVER: Duration = Duration::from_secs(3600);
/// Ample for a handful of checks and passes on a loaded machine; only a bound, never a measure.
const PATIENCE: Duration = Duration::from_secs(120);

/// What the daemon told its hooks.
#[derive(Clone, Debug, Default)]
struct Seen {
    passes: usize,
    created: usize,
    failed_passes: usize,
    access: Vec<DriveAccess>,
}

struct TestHooks {
    settings: Settings,
    seen: watch::Sender<Seen>,
}

#[async_trait::async_trait(?Send)]
impl Hooks for TestHooks {
    fn policy(&mut self) -> anyhow::Result<Policy> {
        context::policy(&self.settings, RunFlags::default())
    }

    async fn pass_finished(&mut self, _engine: &Engine, outcome: &Result<PassReport, PassError>, _took: Duration) {
        self.seen.send_modify(|seen| {
            seen.passes += 1;
            match outcome {
                Ok(report) => seen.created += report.created.len(),
                Err(_) => seen.failed_passes += 1,
            }
        });
    }

    fn pickup_changed(&mut self, access: &DriveAccess) {
        self.seen.send_modify(|seen| seen.access.push(access.clone()));
    }
}

/// The demo, migrated and synced, so the daemon starts from a settled sheet.
async fn settled_world(extra_env: &[(&str, &str)]) -> World {
    let env: Vec<(&str, &str)> = FAST_CLIENTS.iter().copied().chain(extra_env.iter().copied()).collect();
    let world = World::start(Default::default(), &env).await;
    world.migrate(false).await;
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;
    world
}

/// Types a new ready row below the others, shaped like a synced one with its own number.
fn append_ready_row(world: &World, number: &str) {
    let mut cells: Vec<String> = world.row("ACD-2025-0101").iter().map(|c| c.as_text().into_owned()).collect();
    cells[world.col("invoice")] = number.to_owned();
    for owned in ["qb_invoice_id", "qb_invoice_url", "qb_sync_status", "qb_synced_at", "qb_error"] {
        cells[world.col(owned)] = String::new();
    }
    let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
    world.sandbox.google.append_row(world.tab(), &cells).expect("append");
}

/// Drive `files.get` calls the sandbox has answered.
fn drive_calls(world: &World) -> usize {
    world.sandbox.requests().matching("GET", "/drive/v3/files/").len()
}

/// Runs the daemon on `schedule` next to `script`, which gets the hooks' reports and stops the
/// daemon by returning.
async fn with_daemon<F, Fut>(world: &World, schedule: Schedule, script: F)
where
    F: FnOnce(watch::Receiver<Seen>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut engine = world.engine().await;
    let (tx, rx) = watch::channel(Seen::default());
    let mut hooks = TestHooks { settings: world.settings(), seen: tx };
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let daemon = qbsync::daemon::run_with(&mut engine, &mut hooks, schedule, async {
        let _ = stop_rx.await;
    });
    let script = async {
        script(rx).await;
        let _ = stop_tx.send(());
    };
    tokio::time::timeout(PATIENCE, async { tokio::join!(daemon, script) }).await.expect("the scenario finished");
}

async fn until(seen: &mut watch::Receiver<Seen>, what: impl Fn(&Seen) -> bool) -> Seen {
    seen.wait_for(|s| what(s)).await.expect("the daemon runs").clone()
}

#[tokio::test]
async fn a_row_appended_while_the_daemon_waits_is_picked_up_by_the_change_check_not_the_poll() {
    let world = settled_world(&[]).await;
    let world = &world;
    let schedule = Schedule { full_interval: NEVER, change_check: Some(Duration::from_millis(200)) };
    with_daemon(world, schedule, |mut seen| async move {
        let first = until(&mut seen, |s| s.passes == 1).await;
        assert_eq!((first.created, first.failed_passes), (0, 0), "the sheet was settled");

        append_ready_row(world, "ACD-2025-0900");
        let after = until(&mut seen, |s| s.created == 1).await;
        assert_eq!(after.failed_passes, 0);
        assert_eq!(after.access, [DriveAccess::Working]);
        // Its write-back moved the version once more: one confirming pass, then quiet.
        let confirmed = until(&mut seen, |s| s.passes == after.passes + 1).await;
        let drive_before = drive_calls(world);
        while drive_calls(world) < drive_before + 5 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(seen.borrow().passes, confirmed.passes, "five unchanged checks started no pass");
    })
    .await;
    assert!(!world.cell("ACD-2025-0900", "qb_invoice_id").is_empty(), "the id is on the row");
    assert_eq!(world.cell("ACD-2025-0900", "qb_sync_status"), "synced");
}

#[tokio::test]
async fn without_drive_the_daemon_says_so_once_and_polls_as_before() {
    let world = settled_world(&[]).await;
    // Drive's API root moved somewhere that answers 404, as for credentials Drive refuses.
    let base = world.sandbox.base_url().to_owned();
    let mut world = world;
    for (key, value) in &mut world.env {
        if key == "QBSYNC_DRIVE_API_URL" {
            *value = format!("{base}no-drive/");
        }
    }
    let schedule =
        Schedule { full_interval: Duration::from_millis(500), change_check: Some(Duration::from_millis(50)) };
    let world = &world;
    with_daemon(world, schedule, |mut seen| async move {
        let first = until(&mut seen, |s| s.passes == 1).await;
        assert!(matches!(first.access.as_slice(), [DriveAccess::Unusable { .. }]), "{:?}", first.access);
        append_ready_row(world, "ACD-2025-0901");
        let after = until(&mut seen, |s| s.created == 1).await;
        assert_eq!(after.access.len(), 1, "said once");
        let drive_asks = world.sandbox.requests().matching("GET", "/no-drive/").len();
        // Once per poll by the change check, and once (per ten minutes) by a pass's write-back,
        // which then reads the sheet as it would without Drive.
        assert!(drive_asks <= after.passes + 1, "Drive is asked once per poll, not every check: {drive_asks}");
    })
    .await;
    assert!(!world.cell("ACD-2025-0901", "qb_invoice_id").is_empty(), "the poll picked the row up");
}

#[tokio::test]
async fn doctor_says_whether_drive_answers_and_how_to_enable_it() {
    let mut world = World::start(Default::default(), &FAST_CLIENTS).await;
    world.migrate(false).await;
    let load = |env: &[(String, String)]| LoadOptions { config_file: None, env_file: None, environment: env.to_vec() };
    let with_drive = diagnose(&load(&world.env), Options::default()).await;
    let check = with_drive.get(names::DRIVE_CHANGES).expect("asked");
    assert_eq!(check.outcome, Outcome::Pass, "{}", with_drive.render());
    assert!(check.detail.contains("within 5 s"), "{}", check.detail);

    let base = world.sandbox.base_url().to_owned();
    for (key, value) in &mut world.env {
        if key == "QBSYNC_DRIVE_API_URL" {
            *value = format!("{base}no-drive/");
        }
    }
    let report = diagnose(&load(&world.env), Options::default()).await;
    let check = report.get(names::DRIVE_CHANGES).expect("asked");
    assert_eq!(check.outcome, Outcome::Warn, "qbsync still works without Drive: {}", report.render());
    assert!(check.detail.contains("new rows wait for the poll, every 60 s"), "{}", check.detail);
    let fix = check.fix.as_deref().unwrap_or_default();
    assert!(fix.contains("Google Drive API") && fix.contains("README: \"3. Give qbsync access"), "{fix}");
    let others = |report: &qbsync::doctor::Report| -> Vec<(&str, Outcome)> {
        report.checks.iter().filter(|c| c.name != names::DRIVE_CHANGES).map(|c| (c.name, c.outcome)).collect()
    };
    assert_eq!(others(&report), others(&with_drive), "nothing else depends on Drive");
}
