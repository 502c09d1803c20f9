//! The one place that reads clocks. Logic takes `now` as an argument.
//!
//! Two kinds of time, never mixed:
//! - **Monotonic** milliseconds ([`mono_ms`]): what every decision runs on (node expiry,
//!   allocation timers, kill escalation, retries). It never jumps, so a wall-clock step
//!   (NTP, an operator's `date -s`) cannot expire every node at once.
//! - **Wall-clock** milliseconds since the Unix epoch ([`wall_ms`]): only for timestamps
//!   people read (event logs, REST `startedTime`, pages) and for what crosses hosts, where
//!   no monotonic clock is shared (container-token expiry, as in YARN).

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The process's monotonic origin, and the wall clock read at that moment.
fn origin() -> &'static (Instant, u64) {
    static ORIGIN: OnceLock<(Instant, u64)> = OnceLock::new();
    ORIGIN.get_or_init(|| (Instant::now(), read_wall()))
}

#[allow(clippy::disallowed_methods)] // the one reader of the wall clock
fn read_wall() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Milliseconds on this process's monotonic clock (origin: first use). Decisions use this.
pub fn mono_ms() -> u64 {
    origin().0.elapsed().as_millis() as u64
}

/// Milliseconds since the Unix epoch, now (YARN reports times this way). Only for
/// timestamps people read and for values that cross hosts; never for deciding.
pub fn wall_ms() -> u64 {
    read_wall()
}

/// The wall-clock time of monotonic point `mono`, anchored at the process's origin: a
/// record stamped this way (an event log) keeps its durations exact even if the wall
/// clock is stepped while the process runs.
pub fn wall_of(mono: u64) -> u64 {
    origin().1 + mono
}

/// A source of monotonic milliseconds, for shells whose tests drive time by hand.
pub trait Clock: Send + Sync {
    /// Monotonic milliseconds.
    fn now_ms(&self) -> u64;
}

/// The process's monotonic clock ([`mono_ms`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn now_ms(&self) -> u64 {
        mono_ms()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicU64);

impl ManualClock {
    pub fn new(start_ms: u64) -> Self {
        Self(std::sync::atomic::AtomicU64::new(start_ms))
    }

    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_never_goes_back_and_anchors_to_wall() {
        let a = mono_ms();
        let b = mono_ms();
        assert!(b >= a);
        let w = wall_of(b);
        // The anchor is the wall clock at the origin, so it is close to now.
        assert!(w.abs_diff(wall_ms()) < 60_000, "{w} vs {}", wall_ms());
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(5);
        assert_eq!(c.now_ms(), 5);
        c.advance(10);
        assert_eq!(c.now_ms(), 15);
    }
}
