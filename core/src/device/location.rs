//! When the device tells the server where the expert is: a position fix from the phone is
//! sent on start (the first fix after sync starts or availability is switched on), on a
//! significant move, never more often than once per interval, and only while the expert
//! is available. Pure: the engine feeds it fixes and the clock.

use crate::geo::GeoPoint;
use std::time::{Duration, Instant};

/// How often and on how large a move the device reports where the expert is.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct LocationPolicy {
    /// A move shorter than this (metres) is not worth reporting.
    pub min_move_m: f64,
    /// Never report more often than this (seconds); the first fix after a start is exempt.
    pub min_interval_s: u64,
}

impl Default for LocationPolicy {
    /// 250 m, at most every 5 minutes: enough for the dispatcher's distances (kilometres),
    /// little for the battery and the sync traffic.
    fn default() -> Self {
        Self { min_move_m: 250.0, min_interval_s: 300 }
    }
}

/// The throttle's memory: what was last sent, and the latest fix.
#[derive(Debug, Default)]
pub struct LocationThrottle {
    /// The policy in force.
    pub policy: LocationPolicy,
    sent: Option<(GeoPoint, Instant)>,
    latest: Option<GeoPoint>,
}

impl LocationThrottle {
    /// Forgets what was sent: the next fix goes out (sync started, availability on).
    pub fn restart(&mut self) {
        self.sent = None;
    }

    /// The latest fix, sent or not.
    pub fn latest(&self) -> Option<GeoPoint> {
        self.latest
    }

    /// Whether `fix` should be sent now, given whether the expert is available; remembers
    /// the fix either way. Call [`LocationThrottle::sent`] once it has gone out.
    pub fn wants(&mut self, fix: GeoPoint, available: bool, now: Instant) -> bool {
        self.latest = Some(fix);
        if !available {
            return false;
        }
        match self.sent {
            None => true,
            Some((at, when)) => {
                let moved_m = at.distance_km(&fix) * 1000.0;
                moved_m >= self.policy.min_move_m
                    && now.saturating_duration_since(when) >= Duration::from_secs(self.policy.min_interval_s)
            }
        }
    }

    /// Records that `fix` went out at `now`.
    pub fn sent(&mut self, fix: GeoPoint, now: Instant) {
        self.sent = Some((fix, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(km_north: f64) -> GeoPoint {
        GeoPoint::new(41.8781 + km_north / 111.2, -87.6298).unwrap()
    }

    fn offer(t: &mut LocationThrottle, fix: GeoPoint, available: bool, now: Instant) -> bool {
        let w = t.wants(fix, available, now);
        if w {
            t.sent(fix, now);
        }
        w
    }

    #[test]
    fn start_significant_moves_and_the_interval_decide() {
        let mut t = LocationThrottle::default();
        let t0 = Instant::now();
        let min = |m: u64| t0 + Duration::from_secs(60 * m);
        assert!(offer(&mut t, p(0.0), true, t0), "the first fix goes out");
        assert!(!offer(&mut t, p(5.0), true, min(1)), "a big move within the interval waits");
        assert!(!offer(&mut t, p(0.1), true, min(10)), "a small move is never worth it");
        assert!(offer(&mut t, p(5.0), true, min(10)), "a big move after the interval goes out");
        assert!(!offer(&mut t, p(5.1), true, min(20)), "measured from what was sent");
        t.restart();
        assert!(offer(&mut t, p(5.1), true, min(21)), "after a restart the next fix goes out");
    }

    #[test]
    fn nothing_goes_out_while_unavailable_but_the_latest_fix_is_kept() {
        let mut t = LocationThrottle::default();
        let t0 = Instant::now();
        assert!(!offer(&mut t, p(0.0), false, t0));
        assert!(!offer(&mut t, p(3.0), false, t0));
        assert_eq!(t.latest(), Some(p(3.0)));
        assert!(offer(&mut t, p(3.0), true, t0), "once available, the fix goes out");
    }
}
