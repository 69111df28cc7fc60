//! The billing clock: the wall clock in production; in tests (and only there) a file
//! holding an RFC 3339 instant that stands for "now", so a test can move a running
//! server a year ahead. `billing_clock_file` is refused at start unless `test_mode` or
//! `--demo` is on (see `config.rs` and ADR 15).

use chrono::{DateTime, NaiveDate, Utc};
use std::path::PathBuf;

/// What billing takes for "now".
#[derive(Debug, Clone, Default)]
pub struct Clock {
    file: Option<PathBuf>,
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Self {
        Self { file: None }
    }

    /// A clock read from `file` on every call (an RFC 3339 instant; missing, empty or
    /// unreadable: the wall clock). Tests only.
    pub fn from_file(file: PathBuf) -> Self {
        Self { file: Some(file) }
    }

    /// As the settings say.
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        Self { file: s.billing_clock_file.clone() }
    }

    /// Whether this is a test clock (it may run ahead of the wall clock).
    pub fn is_test(&self) -> bool {
        self.file.is_some()
    }

    /// Now.
    pub fn now(&self) -> DateTime<Utc> {
        self.file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
    }

    /// Today (UTC).
    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_clock_reads_its_file_and_falls_back_to_the_wall_clock() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("clock");
        let c = Clock::from_file(f.clone());
        assert!(c.is_test());
        assert!((c.now() - Utc::now()).num_seconds().abs() < 5);
        std::fs::write(&f, "2031-02-03T04:05:06Z\n").unwrap();
        assert_eq!(c.today(), NaiveDate::from_ymd_opt(2031, 2, 3).unwrap());
        assert!(!Clock::system().is_test());
    }
}
