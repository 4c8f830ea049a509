//! Company time.
//!
//! QBO stamps everything in the company's time zone with an explicit offset: `MetaData` times
//! to the second (`2015-07-24T10:33:39-07:00`), the envelope's `time` with a fraction
//! (`2015-07-24T10:33:39.11-07:00`). The sandbox company lives in US Pacific time, like
//! Intuit's sandbox companies, so clients meet both `-08:00` and `-07:00`.

use std::sync::Mutex;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The time zone of the emulated company.
pub const COMPANY_TZ: Tz = chrono_tz::America::Los_Angeles;

/// Now, in company time.
pub fn now() -> DateTime<Tz> {
    Utc::now().with_timezone(&COMPANY_TZ)
}

/// One emulator's clock: real time, moved forward by what tests ask for (a 30-day outage, an
/// invoice falling overdue) without waiting. Each emulator has its own, so tests running side by
/// side in one process do not move each other's time.
#[derive(Debug, Default)]
pub struct Clock {
    offset: Mutex<Duration>,
}

impl Clock {
    /// Now, in company time, as this emulator sees it.
    pub fn now(&self) -> DateTime<Tz> {
        now() + self.offset()
    }

    /// How far this clock is ahead of real time.
    pub fn offset(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves the clock forward (a negative `by` moves it back).
    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *offset += by;
    }

    /// Back to real time.
    pub fn reset(&self) {
        *self.offset.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Duration::zero();
    }
}

/// The envelope's `time`: `2015-07-24T10:33:39.110-07:00`.
pub fn envelope_time(at: &DateTime<Tz>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

/// A `MetaData` time: `2015-07-24T10:33:39-07:00`.
pub fn meta_time(at: &DateTime<Tz>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// An instant as clients write it in queries and `changedSince`: RFC 3339 with an offset, a
/// local date-time (company time) or a bare date (midnight, company time).
pub fn parse_instant(text: &str) -> Option<DateTime<FixedOffset>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at);
    }
    // A `+` in an unencoded query string arrives as a space.
    if let Ok(at) = DateTime::parse_from_rfc3339(&text.replace(' ', "+")) {
        return Some(at);
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
        .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))?;
    COMPANY_TZ.from_local_datetime(&local).earliest().map(|at| at.fixed_offset())
}

/// A `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_clock_runs_ahead_by_what_it_was_moved() {
        let clock = Clock::default();
        clock.advance(Duration::days(31));
        clock.advance(Duration::hours(1));
        assert_eq!(clock.offset(), Duration::days(31) + Duration::hours(1));
        let ahead = clock.now() - now();
        assert!(ahead > Duration::days(31) && ahead <= Duration::days(31) + Duration::hours(1), "{ahead}");
        clock.reset();
        assert_eq!(clock.offset(), Duration::zero());
    }

    #[test]
    fn formats_carry_the_offset() {
        let at = COMPANY_TZ.with_ymd_and_hms(2024, 1, 15, 9, 30, 5).unwrap();
        assert_eq!(meta_time(&at), "2024-01-15T09:30:05-08:00");
        assert_eq!(envelope_time(&at), "2024-01-15T09:30:05.000-08:00");
        let summer = COMPANY_TZ.with_ymd_and_hms(2024, 7, 1, 0, 0, 0).unwrap();
        assert_eq!(meta_time(&summer), "2024-07-01T00:00:00-07:00");
    }

    #[test]
    fn parses_the_instants_clients_send() {
        let expected = DateTime::parse_from_rfc3339("2024-06-01T00:00:00-07:00").unwrap();
        assert_eq!(parse_instant("2024-06-01T00:00:00-07:00"), Some(expected));
        assert_eq!(parse_instant("2024-06-01T07:00:00Z"), Some(expected));
        assert_eq!(parse_instant("2024-06-01T00:00:00"), Some(expected));
        assert_eq!(parse_instant("2024-06-01"), Some(expected));
        assert_eq!(parse_instant("2024-06-01T16:00:00 09:00"), Some(expected));
        assert_eq!(parse_instant("yesterday"), None);
    }
}
