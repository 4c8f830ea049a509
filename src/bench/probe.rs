//! What this process has cost so far: CPU time and resident memory, read from `/proc`.
//!
//! The benchmark reports the CPU and peak memory of an idle pass. Both come from the kernel's
//! own accounting (proc(5)) rather than from timers, so a pass that waits on the network costs
//! nothing while it waits. Linux only; elsewhere the figures are reported as unavailable.

use std::time::Duration;

use serde::Serialize;

/// `USER_HZ`: the unit of the CPU times in `/proc/self/stat`, 100 on every Linux architecture
/// qbsync is built for.
const TICKS_PER_SECOND: u64 = 100;

/// A reading of this process's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// User plus system CPU time of every thread, dead or alive (10 ms resolution).
    pub cpu: Duration,
    /// Resident memory now (`VmRSS`), in KiB.
    pub rss_kib: u64,
    /// The most resident memory so far (`VmHWM`), in KiB.
    pub peak_rss_kib: u64,
}

impl Usage {
    /// Reads the counters, or `None` where `/proc` does not have them.
    pub fn now() -> Option<Usage> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        Some(Usage {
            cpu: cpu_from_stat(&stat)?,
            rss_kib: kib_field(&status, "VmRSS:")?,
            peak_rss_kib: kib_field(&status, "VmHWM:")?,
        })
    }
}

/// Starts the peak (`VmHWM`) afresh from the memory resident now, where the kernel allows it
/// (Linux 4.0 and later); elsewhere the peak keeps counting from the start of the process.
pub fn forget_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// `utime + stime` (fields 14 and 15). The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from its closing parenthesis.
fn cpu_from_stat(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name, field 3 (state) is index 0, so fields 14 and 15 are indexes 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / TICKS_PER_SECOND))
}

/// A `Name:   1234 kB` line of `/proc/self/status`.
fn kib_field(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// Total memory of the machine (`MemTotal` of `/proc/meminfo`), in KiB.
pub fn machine_memory_kib() -> Option<u64> {
    kib_field(&std::fs::read_to_string("/proc/meminfo").ok()?, "MemTotal:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let stat = "4242 (qb sync (x)) S 1 4242 4242 0 -1 4194560 600 0 0 0 123 45 0 0 20 0 3 0 100 0 0";
        assert_eq!(cpu_from_stat(stat), Some(Duration::from_millis(1680)));
    }

    #[test]
    fn status_lines_are_read_in_kib() {
        let status = "Name:\tqbsync\nVmHWM:\t   98304 kB\nVmRSS:\t   12288 kB\n";
        assert_eq!(kib_field(status, "VmHWM:"), Some(98304));
        assert_eq!(kib_field(status, "VmRSS:"), Some(12288));
        assert_eq!(kib_field(status, "VmSwap:"), None);
    }

    #[test]
    fn this_process_can_be_measured_on_linux() {
        if cfg!(target_os = "linux") {
            let usage = Usage::now().expect("/proc is readable");
            assert!(usage.peak_rss_kib >= usage.rss_kib && usage.rss_kib > 0, "{usage:?}");
        }
    }
}
