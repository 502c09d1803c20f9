//! The leader election of an RM HA pair, as plain data and transitions (no I/O, no
//! clock): the driver in [`super`] talks to etcd, feeds the outcomes in with the time
//! they were asked at, and does what comes back.
//!
//! The leader key holds the active RM's address and is attached to its lease; a
//! standby takes the key only when it does not exist (a transaction on its create
//! revision), so at most one RM holds it. The active renews its lease every third of
//! the TTL and steps down on its own once a renewal it sent has not been confirmed
//! within the TTL less a margin: by then etcd may have let the lease go and a standby
//! may be active, so it must stop serving before that can happen.

use std::time::Duration;

/// Where this RM stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Not serving; `leader` is the active RM's address when one holds the key.
    Standby { leader: Option<String> },
    /// Serving, holding the leader key through `lease`; `revision` is the key's create
    /// revision (writes to the store are fenced on it).
    Active { lease: i64, revision: i64 },
}

/// What a campaign found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Campaign {
    Won { lease: i64, revision: i64 },
    Lost { leader: Option<String> },
}

/// What the driver must do after a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Load the state from etcd, recover and serve.
    BecomeActive { lease: i64, revision: i64 },
    /// Stop serving at once (the lease is gone, or may be).
    StepDown { reason: String },
}

#[derive(Debug, Clone)]
pub struct Election {
    ttl_ms: u64,
    role: Role,
    /// Active: when the last keep-alive etcd confirmed was sent (monotonic ms).
    renewed_ms: u64,
}

impl Election {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl_ms: ttl.as_millis() as u64,
            role: Role::Standby { leader: None },
            renewed_ms: 0,
        }
    }

    pub fn role(&self) -> &Role {
        &self.role
    }

    pub fn is_active(&self) -> bool {
        matches!(self.role, Role::Active { .. })
    }

    /// The margin before the TTL at which an active RM gives up: clocks of two
    /// machines run at slightly different rates, and stepping down takes a moment.
    fn margin_ms(&self) -> u64 {
        (self.ttl_ms / 4).clamp(100, 1000)
    }

    /// Until when an active RM may serve without a newer confirmed renewal.
    pub fn deadline_ms(&self) -> Option<u64> {
        self.is_active()
            .then(|| self.renewed_ms + self.ttl_ms - self.margin_ms())
    }

    /// How long to wait between rounds: an active RM renews three times a TTL; a
    /// standby looks often enough that a failover costs little more than the TTL.
    pub fn interval(&self) -> Duration {
        let ms = if self.is_active() {
            self.ttl_ms / 3
        } else {
            (self.ttl_ms / 12).clamp(50, 500)
        };
        Duration::from_millis(ms)
    }

    /// The outcome of a campaign started at `sent_ms`.
    pub fn campaigned(&mut self, outcome: Campaign, sent_ms: u64) -> Option<Step> {
        match (&self.role, outcome) {
            // Only a standby campaigns; an answer that arrives late changes nothing.
            (Role::Active { .. }, _) => None,
            (Role::Standby { .. }, Campaign::Lost { leader }) => {
                self.role = Role::Standby { leader };
                None
            }
            (Role::Standby { .. }, Campaign::Won { lease, revision }) => {
                // The lease was granted before the campaign: counting from the campaign
                // is later than etcd's own count only by the grant's round trip, which
                // the margin covers.
                self.renewed_ms = sent_ms;
                self.role = Role::Active { lease, revision };
                Some(Step::BecomeActive { lease, revision })
            }
        }
    }

    /// The outcome of a keep-alive sent at `sent_ms`: `Some(true)` renewed,
    /// `Some(false)` etcd no longer has the lease, `None` no answer.
    pub fn renewed(&mut self, alive: Option<bool>, sent_ms: u64) -> Option<Step> {
        if !self.is_active() {
            return None;
        }
        match alive {
            Some(true) => {
                self.renewed_ms = self.renewed_ms.max(sent_ms);
                None
            }
            Some(false) => Some(self.step_down("etcd no longer has this RM's lease")),
            None => None,
        }
    }

    /// The clock moved on: an active RM whose lease may have lapsed steps down.
    pub fn tick(&mut self, now_ms: u64) -> Option<Step> {
        match self.deadline_ms() {
            Some(d) if now_ms >= d => Some(self.step_down(&format!(
                "no lease renewal confirmed for {} ms (TTL {} ms)",
                now_ms - self.renewed_ms,
                self.ttl_ms
            ))),
            _ => None,
        }
    }

    /// Gives up being active (also when becoming active failed).
    pub fn step_down(&mut self, reason: &str) -> Step {
        self.role = Role::Standby { leader: None };
        Step::StepDown {
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e() -> Election {
        Election::new(Duration::from_secs(3))
    }

    #[test]
    fn a_standby_that_loses_knows_the_leader() {
        let mut e = e();
        assert_eq!(
            e.campaigned(
                Campaign::Lost {
                    leader: Some("a:1".into())
                },
                0
            ),
            None
        );
        assert_eq!(
            e.role(),
            &Role::Standby {
                leader: Some("a:1".into())
            }
        );
        assert_eq!(e.tick(1_000_000), None, "a standby has no deadline");
        assert_eq!(e.interval(), Duration::from_millis(250));
    }

    #[test]
    fn winning_makes_it_active_and_renewals_keep_it() {
        let mut e = e();
        let won = e.campaigned(
            Campaign::Won {
                lease: 7,
                revision: 9,
            },
            1_000,
        );
        assert_eq!(
            won,
            Some(Step::BecomeActive {
                lease: 7,
                revision: 9
            })
        );
        assert_eq!(e.interval(), Duration::from_millis(1000));
        // TTL 3 s less a 750 ms margin.
        assert_eq!(e.deadline_ms(), Some(3_250));
        assert_eq!(e.tick(3_249), None);
        assert_eq!(e.renewed(Some(true), 2_000), None);
        assert_eq!(e.deadline_ms(), Some(4_250));
        // An older renewal's late answer does not move the deadline back.
        assert_eq!(e.renewed(Some(true), 1_500), None);
        assert_eq!(e.deadline_ms(), Some(4_250));
        assert_eq!(e.tick(4_000), None);
        assert!(e.is_active());
    }

    #[test]
    fn unanswered_renewals_step_down_before_the_lease_can_lapse() {
        let mut e = e();
        e.campaigned(
            Campaign::Won {
                lease: 7,
                revision: 9,
            },
            0,
        );
        assert_eq!(e.renewed(None, 1_000), None);
        assert_eq!(e.renewed(None, 2_000), None);
        assert!(matches!(e.tick(2_250), Some(Step::StepDown { .. })));
        assert_eq!(e.role(), &Role::Standby { leader: None });
        // Stepped down once: no second step.
        assert_eq!(e.tick(10_000), None);
    }

    #[test]
    fn a_lost_lease_steps_down_at_once() {
        let mut e = e();
        e.campaigned(
            Campaign::Won {
                lease: 7,
                revision: 9,
            },
            0,
        );
        assert!(matches!(
            e.renewed(Some(false), 100),
            Some(Step::StepDown { .. })
        ));
        assert!(!e.is_active());
    }

    #[test]
    fn late_campaign_answers_do_not_change_an_active_rm() {
        let mut e = e();
        e.campaigned(
            Campaign::Won {
                lease: 7,
                revision: 9,
            },
            0,
        );
        assert_eq!(e.campaigned(Campaign::Lost { leader: None }, 5), None);
        assert_eq!(
            e.role(),
            &Role::Active {
                lease: 7,
                revision: 9
            }
        );
    }

    #[test]
    fn the_worst_case_failover_fits_in_five_seconds_at_the_default_ttl() {
        // The active dies just after a renewal at t=0: etcd drops the lease at the TTL;
        // a standby looks every interval; then it loads and serves.
        let e = e();
        let ttl = 3_000;
        let worst_detect = ttl + e.interval().as_millis() as u64;
        assert!(worst_detect < 5_000 - 1_000, "{worst_detect} ms");
    }
}
