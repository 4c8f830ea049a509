//! Progress of a long run (`run-once --backfill` over hundreds of rows).
//!
//! On a terminal a person watches a bar with counts and an ETA (indicatif, drawn on stderr).
//! Anywhere else — the journal, a CI log, a pipe — a redrawn bar is noise, so the same progress
//! becomes one `info` line every 10 %, which reads well in a log and costs a handful of lines
//! per run.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// What happened to one row (or document).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowOutcome {
    Created,
    Failed,
    Skipped,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    created: u64,
    failed: u64,
    skipped: u64,
}

impl Counts {
    fn done(&self) -> u64 {
        self.created + self.failed + self.skipped
    }

    fn summary(&self) -> String {
        format!("{} created · {} failed · {} skipped", self.created, self.failed, self.skipped)
    }
}

/// A log line is written each time progress crosses another multiple of this (percent).
const PLAIN_STEP_PERCENT: u64 = 10;

enum Display {
    Bar(ProgressBar),
    Plain { last_step: u64 },
}

struct Inner {
    counts: Counts,
    display: Display,
}

/// Progress over `total` rows; share it by reference, it locks internally.
pub struct Progress {
    total: u64,
    started: Instant,
    inner: Mutex<Inner>,
}

impl Progress {
    /// A bar when `is_terminal`, plain log lines otherwise.
    pub fn new(total: u64, is_terminal: bool) -> Progress {
        let display = if is_terminal {
            let bar = ProgressBar::new(total);
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} · ETA {eta} · {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(Counts::default().summary());
            bar.enable_steady_tick(Duration::from_millis(200));
            Display::Bar(bar)
        } else {
            Display::Plain { last_step: 0 }
        };
        Progress { total, started: Instant::now(), inner: Mutex::new(Inner { counts: Counts::default(), display }) }
    }

    /// Decides by whether stderr (where the bar is drawn) is a terminal.
    pub fn for_stderr(total: u64) -> Progress {
        Progress::new(total, std::io::stderr().is_terminal())
    }

    /// Counts one finished row.
    pub fn record(&self, outcome: RowOutcome) {
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match outcome {
            RowOutcome::Created => inner.counts.created += 1,
            RowOutcome::Failed => inner.counts.failed += 1,
            RowOutcome::Skipped => inner.counts.skipped += 1,
        }
        let counts = inner.counts;
        match &mut inner.display {
            Display::Bar(bar) => {
                bar.set_position(counts.done());
                bar.set_message(counts.summary());
            }
            Display::Plain { last_step } => {
                let step = (counts.done().min(self.total) * 100)
                    .checked_div(self.total)
                    .map_or(0, |percent| percent / PLAIN_STEP_PERCENT);
                if step > *last_step {
                    *last_step = step;
                    let percent = step * PLAIN_STEP_PERCENT;
                    tracing::info!(
                        done = counts.done(),
                        total = self.total,
                        created = counts.created,
                        failed = counts.failed,
                        skipped = counts.skipped,
                        eta_secs = self.eta(counts.done()).map(|eta| eta.as_secs()),
                        "progress {percent}%: {}/{} rows ({})",
                        counts.done(),
                        self.total,
                        counts.summary()
                    );
                }
            }
        }
    }

    /// Ends the display with a summary.
    pub fn finish(&self) {
        let inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let counts = inner.counts;
        match &inner.display {
            Display::Bar(bar) => bar.finish_with_message(counts.summary()),
            Display::Plain { .. } => tracing::info!(
                done = counts.done(),
                total = self.total,
                took_secs = self.started.elapsed().as_secs(),
                "finished {}/{} rows ({})",
                counts.done(),
                self.total,
                counts.summary()
            ),
        }
    }

    fn eta(&self, done: u64) -> Option<Duration> {
        let remaining = self.total.saturating_sub(done);
        if done == 0 {
            return None;
        }
        Some(self.started.elapsed().mul_f64(remaining as f64 / done as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("capture").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn captured(run: impl FnOnce()) -> String {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::with_default(subscriber, run);
        let bytes = capture.0.lock().expect("capture").clone();
        String::from_utf8(bytes).expect("utf8")
    }

    #[test]
    fn plain_mode_logs_every_ten_percent_with_counts() {
        let log = captured(|| {
            let progress = Progress::new(200, false);
            for i in 0..200 {
                progress.record(match i % 10 {
                    0 => RowOutcome::Failed,
                    1 => RowOutcome::Skipped,
                    _ => RowOutcome::Created,
                });
            }
            progress.finish();
        });
        let lines: Vec<&str> = log.lines().collect();
        let steps: Vec<&&str> = lines.iter().filter(|l| l.contains("progress ")).collect();
        assert_eq!(steps.len(), 10, "{log}");
        assert!(steps[0].contains("progress 10%: 20/200 rows (16 created · 2 failed · 2 skipped)"), "{log}");
        assert!(steps[9].contains("progress 100%: 200/200 rows"), "{log}");
        assert!(
            lines.last().is_some_and(|l| l.contains("finished 200/200 rows (160 created · 20 failed · 20 skipped)")),
            "{log}"
        );
    }

    #[test]
    fn small_and_empty_runs_do_not_divide_by_zero() {
        let log = captured(|| {
            let empty = Progress::new(0, false);
            empty.record(RowOutcome::Created);
            empty.finish();
            let three = Progress::new(3, false);
            for _ in 0..3 {
                three.record(RowOutcome::Created);
            }
        });
        assert!(log.contains("finished 1/0 rows"), "{log}");
        assert_eq!(log.matches("progress ").count(), 3, "one line per row when each is over 10%: {log}");
    }
}
