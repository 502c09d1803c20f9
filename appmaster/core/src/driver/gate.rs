//! The start gate: like Spark's scheduler backend on YARN, the user's code starts once
//! `spark.scheduler.minRegisteredResourcesRatio` (0.8) of the initial executors have
//! registered, or after `spark.scheduler.maxRegisteredResourcesWaitingTime` (30 s),
//! whichever comes first, so that its `defaultParallelism` counts them.

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// The application has not started.
    Closed,
    Waiting {
        expected: u32,
        since_ms: u64,
    },
    Open,
}

#[derive(Debug)]
pub(crate) struct StartGate {
    ratio: f64,
    max_wait_ms: u64,
    state: State,
}

impl StartGate {
    pub(crate) fn new(ratio: f64, max_wait_ms: u64) -> Self {
        Self {
            // Spark takes at most 1.
            ratio: ratio.min(1.0),
            max_wait_ms,
            state: State::Closed,
        }
    }

    /// The application starts wanting `expected` executors: the wait begins. True if
    /// the gate opens at once (nothing to wait for).
    pub(crate) fn arm(&mut self, expected: u32, registered: usize, now_ms: u64) -> bool {
        if self.state == State::Closed {
            self.state = State::Waiting {
                expected,
                since_ms: now_ms,
            };
        }
        self.check(registered, now_ms)
    }

    /// True exactly once: when enough executors have registered or the wait is over.
    pub(crate) fn check(&mut self, registered: usize, now_ms: u64) -> bool {
        let State::Waiting { expected, since_ms } = self.state else {
            return false;
        };
        let enough = registered as f64 >= f64::from(expected) * self.ratio;
        let waited = now_ms.saturating_sub(since_ms) >= self.max_wait_ms;
        if enough || waited {
            self.state = State::Open;
        }
        self.state == State::Open
    }
}

/// What a closed gate waits for, for the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateWait {
    /// Executors that must register (the ratio of the expected, rounded up).
    pub needed: u32,
    /// The initial executors asked for.
    pub expected: u32,
    /// The longest wait, from the start.
    pub max_wait_ms: u64,
}

impl StartGate {
    /// What the gate waits for while it is waiting.
    pub(crate) fn waiting_for(&self) -> Option<GateWait> {
        let State::Waiting { expected, .. } = self.state else {
            return None;
        };
        Some(GateWait {
            needed: (f64::from(expected) * self.ratio).ceil() as u32,
            expected,
            max_wait_ms: self.max_wait_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_at_the_share_of_the_expected_executors() {
        let mut g = StartGate::new(0.8, 30_000);
        assert!(!g.check(5, 0), "closed before the application starts");
        assert!(!g.arm(5, 0, 100));
        assert!(!g.check(3, 200));
        assert!(g.check(4, 300), "4 of 5 is 80%");
        assert!(!g.check(5, 400), "once");
    }

    #[test]
    fn opens_when_the_wait_is_over() {
        let mut g = StartGate::new(0.8, 30_000);
        assert!(!g.arm(10, 0, 1_000));
        assert!(!g.check(1, 30_999));
        assert!(g.check(1, 31_000));
        assert!(!g.check(10, 31_100));
    }

    #[test]
    fn opens_at_once_when_nothing_is_expected_or_the_ratio_is_zero() {
        assert!(StartGate::new(0.8, 30_000).arm(0, 0, 0));
        assert!(StartGate::new(0.0, 30_000).arm(4, 0, 0));
        assert!(StartGate::new(0.8, 0).arm(4, 0, 0));
        // A ratio above 1 counts as 1.
        let mut g = StartGate::new(2.0, 30_000);
        assert!(!g.arm(2, 1, 0));
        assert!(g.check(2, 1));
    }
}
