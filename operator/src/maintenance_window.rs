//! The weekly maintenance window, `ddd:hh24:mi-ddd:hh24:mi` in UTC (ElastiCache's `PreferredMaintenanceWindow`).
//!
//! A window is two points in the week measured in minutes from Sunday 00:00 UTC. It may wrap around the end of
//! the week (`sat:23:00-sun:01:00`), so every comparison is done modulo the week's 10 080 minutes. The schema
//! checks the same format and the 60-minute minimum with a pattern and a CEL rule; this parser is what the
//! operator trusts at run time.

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Minutes in a week.
pub const MINUTES_PER_WEEK: i64 = 7 * 24 * 60;
/// Shortest window ElastiCache accepts.
pub const MINIMUM_MINUTES: i64 = 60;
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// A parsed maintenance window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceWindow {
    /// Start, in minutes since Sunday 00:00 UTC.
    start: i64,
    /// Length in minutes (at least [`MINIMUM_MINUTES`], less than a week).
    length: i64,
}

/// Why a maintenance window was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid maintenance window '{window}': {reason}")]
pub struct InvalidWindow {
    /// The window as written.
    pub window: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl MaintenanceWindow {
    /// Parses `ddd:hh24:mi-ddd:hh24:mi` (lowercase days, UTC), at least 60 minutes long.
    pub fn parse(text: &str) -> Result<Self, InvalidWindow> {
        let invalid = |reason| InvalidWindow {
            window: text.to_string(),
            reason,
        };
        let (from, to) = text
            .split_once('-')
            .ok_or_else(|| invalid("expected ddd:hh24:mi-ddd:hh24:mi"))?;
        let start =
            minute_of_week(from).ok_or_else(|| invalid("expected ddd:hh24:mi-ddd:hh24:mi"))?;
        let end = minute_of_week(to).ok_or_else(|| invalid("expected ddd:hh24:mi-ddd:hh24:mi"))?;
        let length = (end - start).rem_euclid(MINUTES_PER_WEEK);
        if length < MINIMUM_MINUTES {
            return Err(invalid("the window must last at least 60 minutes"));
        }
        Ok(MaintenanceWindow { start, length })
    }

    /// Length in minutes.
    pub fn length_minutes(&self) -> i64 {
        self.length
    }

    /// True when `at` falls inside the window (start inclusive, end exclusive).
    pub fn is_open(&self, at: Timestamp) -> bool {
        (minute_of_week_at(at) - self.start).rem_euclid(MINUTES_PER_WEEK) < self.length
    }

    /// The next moment the window opens: `at` itself (floored to the minute) when it is open now.
    pub fn next_open(&self, at: Timestamp) -> Timestamp {
        if self.is_open(at) {
            return at;
        }
        let wait = (self.start - minute_of_week_at(at)).rem_euclid(MINUTES_PER_WEEK);
        let floored = Timestamp::from_second(at.as_second().div_euclid(60) * 60).unwrap_or(at);
        floored
            .checked_add(SignedDuration::from_mins(wait))
            .unwrap_or(floored)
    }
}

/// `ddd:hh:mm` → minutes since Sunday 00:00.
fn minute_of_week(point: &str) -> Option<i64> {
    let mut parts = point.split(':');
    let (day, hour, minute) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || hour.len() != 2 || minute.len() != 2 {
        return None;
    }
    let day = DAYS.iter().position(|d| *d == day)? as i64;
    let hour: i64 = hour.parse().ok().filter(|h| (0..24).contains(h))?;
    let minute: i64 = minute.parse().ok().filter(|m| (0..60).contains(m))?;
    Some(day * 1440 + hour * 60 + minute)
}

/// Minutes since the last Sunday 00:00 UTC. The Unix epoch was a Thursday (day 4 counted from Sunday).
fn minute_of_week_at(at: Timestamp) -> i64 {
    (at.as_second().div_euclid(60) + 4 * 1440).rem_euclid(MINUTES_PER_WEEK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn parses_a_one_hour_sunday_window() {
        let w = MaintenanceWindow::parse("sun:05:00-sun:06:00").unwrap();
        assert_eq!(w.length_minutes(), 60);
    }

    #[test]
    fn refuses_windows_shorter_than_an_hour() {
        let err = MaintenanceWindow::parse("mon:01:00-mon:01:59").unwrap_err();
        assert_eq!(err.reason, "the window must last at least 60 minutes");
        assert!(MaintenanceWindow::parse("mon:01:00-mon:01:00").is_err());
    }

    #[test]
    fn refuses_malformed_windows() {
        for bad in [
            "",
            "sun:05:00",
            "Sun:05:00-sun:06:00",
            "sun:24:00-mon:01:00",
            "sun:05:60-sun:07:00",
            "sun:5:00-sun:07:00",
            "xyz:05:00-sun:07:00",
            "sun:05:00:00-sun:07:00",
        ] {
            assert!(
                MaintenanceWindow::parse(bad).is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn window_is_open_from_start_inclusive_to_end_exclusive() {
        // 2024-06-02 is a Sunday.
        let w = MaintenanceWindow::parse("sun:05:00-sun:06:00").unwrap();
        assert!(!w.is_open(at("2024-06-02T04:59:59Z")));
        assert!(w.is_open(at("2024-06-02T05:00:00Z")));
        assert!(w.is_open(at("2024-06-02T05:59:59Z")));
        assert!(!w.is_open(at("2024-06-02T06:00:00Z")));
        assert!(!w.is_open(at("2024-06-03T05:30:00Z")), "Monday is outside");
    }

    #[test]
    fn window_wrapping_the_week_boundary_is_open_on_both_sides() {
        // Saturday 23:00 to Sunday 01:00: two hours across the end of the week.
        let w = MaintenanceWindow::parse("sat:23:00-sun:01:00").unwrap();
        assert_eq!(w.length_minutes(), 120);
        assert!(w.is_open(at("2024-06-01T23:30:00Z")), "Saturday night");
        assert!(
            w.is_open(at("2024-06-02T00:30:00Z")),
            "Sunday just after midnight"
        );
        assert!(!w.is_open(at("2024-06-02T01:00:00Z")));
        assert!(!w.is_open(at("2024-06-01T22:59:00Z")));
    }

    #[test]
    fn end_before_start_means_the_window_runs_into_next_week() {
        let w = MaintenanceWindow::parse("wed:10:00-tue:10:00").unwrap();
        assert_eq!(w.length_minutes(), 6 * 1440);
        assert!(w.is_open(at("2024-06-02T12:00:00Z")), "Sunday is inside");
        assert!(
            !w.is_open(at("2024-06-04T12:00:00Z")),
            "Tuesday noon is outside"
        );
    }

    #[test]
    fn next_open_finds_the_coming_start_across_the_week_boundary() {
        let w = MaintenanceWindow::parse("mon:03:00-mon:04:00").unwrap();
        // From Saturday 2024-06-01 12:00:30 to Monday 2024-06-03 03:00.
        assert_eq!(
            w.next_open(at("2024-06-01T12:00:30Z")),
            at("2024-06-03T03:00:00Z")
        );
        // Just after this week's window: next Monday.
        assert_eq!(
            w.next_open(at("2024-06-03T04:00:00Z")),
            at("2024-06-10T03:00:00Z")
        );
        // Inside: now.
        assert_eq!(
            w.next_open(at("2024-06-03T03:10:00Z")),
            at("2024-06-03T03:10:00Z")
        );
    }

    #[test]
    fn instants_before_the_epoch_use_the_same_week_arithmetic() {
        // 1969-12-28 was a Sunday.
        let w = MaintenanceWindow::parse("sun:00:00-sun:01:00").unwrap();
        assert!(w.is_open(at("1969-12-28T00:30:00Z")));
        assert!(!w.is_open(at("1969-12-27T23:30:00Z")));
    }
}
