//! The systemd notify protocol, over `sd-notify` 0.5.
//!
//! With `Type=notify`, systemd considers qbsync started only when it says `READY=1` — which the
//! daemon does once the configuration is loaded, the store is open and it can report what it is
//! doing (`crate::daemon::connect` says when) — so `systemctl start` reports a broken install
//! instead of a running one. `STATUS=` lines show up in `systemctl status qbsync`.
//!
//! The watchdog is the part that needs care. A ping sent by a timer proves only that the timer
//! runs; a pass stuck forever on a socket would go unnoticed. So [`Watchdog`] pings only while
//! the daemon reports progress ([`Watchdog::progressed`]) within the watchdog interval. When
//! progress stops, pings stop, and systemd restarts the service at most one interval later.
//!
//! Every function is a no-op without `$NOTIFY_SOCKET` (run from a shell, in tests), and a failed
//! send is logged, never fatal: the service manager is a helper, not a dependency.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Tells systemd the service is up (`READY=1`).
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// Tells systemd the service is shutting down (`STOPPING=1`); in-flight work is being finished.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// A one-line status for `systemctl status` (`STATUS=…`). Line breaks become spaces, because
/// the protocol is one assignment per line.
pub fn status(text: &str) {
    let line = one_line(text);
    send(&[NotifyState::Status(&line)]);
}

/// The watchdog interval systemd asks for (`WatchdogSec=`, via `$WATCHDOG_USEC`), if any.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!("could not notify systemd: {error}");
    }
}

fn one_line(text: &str) -> String {
    text.split(['\n', '\r']).filter(|part| !part.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Pings the systemd watchdog (`WATCHDOG=1`) every half interval, but only while progress was
/// reported within the last interval.
///
/// Create it before the first slow step (waiting for a token counts: systemd arms the watchdog
/// when the process starts) and call [`progressed`](Self::progressed) whenever the main loop
/// moves forward: after every pass, whatever its outcome (a pass that returned is not stuck), on
/// each round of a deliberate wait, and every few documents of a long backfill. Creating it
/// counts as progress. Dropping it stops the pings. Needs a tokio runtime.
pub struct Watchdog {
    last_progress: Arc<Mutex<Instant>>,
    task: JoinHandle<()>,
}

impl Watchdog {
    /// A watchdog pinging systemd for `interval` (see [`watchdog_interval`]).
    pub fn new(interval: Duration) -> Watchdog {
        Watchdog::with_pinger(interval, || send(&[NotifyState::Watchdog]))
    }

    /// A watchdog if systemd asked for one.
    pub fn from_env() -> Option<Watchdog> {
        watchdog_interval().map(Watchdog::new)
    }

    fn with_pinger(interval: Duration, ping: impl Fn() + Send + 'static) -> Watchdog {
        let last_progress = Arc::new(Mutex::new(Instant::now()));
        let seen = Arc::clone(&last_progress);
        let period = (interval / 2).max(Duration::from_millis(1));
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let last = *seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if is_alive(last, Instant::now(), interval) {
                    ping();
                }
            }
        });
        Watchdog { last_progress, task }
    }

    /// Records that the daemon moved forward just now.
    pub fn progressed(&self) {
        *self.last_progress.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Instant::now();
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether the daemon counts as alive: it reported progress less than `interval` ago.
fn is_alive(last_progress: Instant, now: Instant, interval: Duration) -> bool {
    now.saturating_duration_since(last_progress) < interval
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;
    use std::process::Command;

    const CHILD: &str = "QBSYNC_NOTIFY_TEST_CHILD";

    #[test]
    fn alive_only_within_the_interval_after_progress() {
        let start = Instant::now();
        let interval = Duration::from_secs(10);
        assert!(is_alive(start, start, interval));
        assert!(is_alive(start, start + Duration::from_secs(9), interval));
        assert!(!is_alive(start, start + interval, interval));
        assert!(!is_alive(start, start + Duration::from_secs(60), interval));
    }

    #[test]
    fn status_text_is_one_line() {
        assert_eq!(one_line("3 created,\n1 failed\r\n"), "3 created, 1 failed");
    }

    /// Runs this test binary again as a child with `$NOTIFY_SOCKET` pointing at a datagram
    /// socket we bound (setting the variable in this process would race other tests), and
    /// reads what the child's notify calls sent.
    #[test]
    fn notify_protocol_and_watchdog_against_a_fake_socket() {
        if std::env::var_os(CHILD).is_some() {
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let socket_path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&socket_path).expect("bind the fake notify socket");
        // Read while the child runs: a datagram socket queues only a few messages
        // (net.unix.max_dgram_qlen) before the sender blocks.
        socket.set_read_timeout(Some(Duration::from_millis(100))).expect("read timeout");
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut messages = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    match socket.recv(&mut buf) {
                        Ok(n) => messages.push(String::from_utf8_lossy(&buf[..n]).trim_end().to_owned()),
                        Err(_) if done.load(std::sync::atomic::Ordering::SeqCst) => return messages,
                        Err(_) => {}
                    }
                }
            })
        };
        let output = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "ops::notify::tests::child_process_script", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", "200000")
            .env_remove("WATCHDOG_PID")
            .output()
            .expect("run the child");
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let messages = reader.join().expect("reader thread");
        assert!(
            output.status.success(),
            "child failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let position = |wanted: &str| {
            messages.iter().position(|m| m == wanted).unwrap_or_else(|| panic!("no {wanted:?} in {messages:?}"))
        };
        let pings = |from: usize, to: usize| messages[from..to].iter().filter(|m| *m == "WATCHDOG=1").count();

        let starting = position("STATUS=starting up");
        let ready = position("READY=1");
        let stalled = position("STATUS=stalled");
        let resumed = position("STATUS=resumed");
        let stopping = position("STOPPING=1");
        assert!(starting < ready && ready < stalled && stalled < resumed && resumed < stopping, "{messages:?}");
        assert!(pings(ready, stalled) >= 1, "pings while progressing: {messages:?}");
        assert_eq!(pings(stalled, resumed), 0, "pinged without progress: {messages:?}");
        assert!(pings(resumed, stopping) >= 1, "no pings after progress resumed: {messages:?}");
    }

    /// The child half of the test above; does nothing unless started by it.
    #[test]
    fn child_process_script() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        let interval = watchdog_interval().expect("WATCHDOG_USEC is set");
        assert_eq!(interval, Duration::from_millis(200));
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build().expect("runtime");
        runtime.block_on(async {
            status("starting\nup");
            ready();
            let watchdog = Watchdog::new(interval);
            for _ in 0..10 {
                watchdog.progressed();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // A stuck pass: no progress for three intervals, then a marker, then more silence.
            tokio::time::sleep(3 * interval).await;
            status("stalled");
            tokio::time::sleep(3 * interval).await;
            status("resumed");
            for _ in 0..10 {
                watchdog.progressed();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            stopping();
            drop(watchdog);
        });
    }
}
