//! Which of several resource managers a client talks to (RM high availability).
//!
//! Plain data and transitions, no I/O: the transport's [`Client`](crate::transport::Client)
//! classifies each failed call into a [`Failure`] and asks [`Failover::on_failure`]
//! whether to try again now, and where.
//!
//! The rules: a standby's `NotActive` names the active RM, so the client goes straight
//! there; a standby that knows no active one, or an address that cannot be reached,
//! sends the client to the next address in its list. With a single address the client
//! keeps its old behaviour (one fresh connection after a lost one), except that it
//! follows a standby's `NotActive` to the active RM it names.

/// The RMs a config names: its `rm-addresses`, else its one `rm-address`.
pub fn rm_list(rm_address: &str, rm_addresses: &[String]) -> Vec<String> {
    if rm_addresses.is_empty() {
        vec![rm_address.to_string()]
    } else {
        rm_addresses.to_vec()
    }
}

/// Why a call to one address failed, as far as failing over is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A standby answered; `Some` names the active RM.
    NotActive(Option<String>),
    /// No connection could be made, or the peer fell silent (down or unreachable).
    Unreachable,
    /// The connection was closed or reset under the call (the peer may have restarted).
    Lost,
    /// Any other error: the peer answered, failing over would not help.
    Other,
}

/// A client's addresses and the one it uses now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failover {
    addrs: Vec<String>,
    current: usize,
}

impl Failover {
    /// `addrs` must not be empty (config validation makes sure); duplicates are dropped.
    pub fn new(addrs: impl IntoIterator<Item = String>) -> Self {
        let mut list: Vec<String> = Vec::new();
        for a in addrs {
            if !list.contains(&a) {
                list.push(a);
            }
        }
        assert!(!list.is_empty(), "a client needs an address");
        Self {
            addrs: list,
            current: 0,
        }
    }

    pub fn current(&self) -> &str {
        &self.addrs[self.current]
    }

    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    /// How many tries one call may make: every address once, plus a hop to the active
    /// RM a standby named, plus one fresh connection (a restarted peer).
    pub fn max_tries(&self) -> usize {
        if self.addrs.len() == 1 {
            2
        } else {
            2 * self.addrs.len()
        }
    }

    /// After a call to `failed` ended in `failure`: whether to try again at once, at
    /// [`Self::current`]. A failure of an address the client already left (another
    /// task moved it on) just says to try the current one.
    pub fn on_failure(&mut self, failed: &str, failure: &Failure) -> bool {
        if failed != self.current() {
            return !matches!(failure, Failure::Other);
        }
        match failure {
            Failure::Other => false,
            // The same address, on a fresh connection (the old behaviour).
            Failure::Lost if self.addrs.len() == 1 => true,
            Failure::Unreachable | Failure::NotActive(None) if self.addrs.len() == 1 => false,
            Failure::NotActive(Some(active)) => {
                match self.addrs.iter().position(|a| a == active) {
                    Some(i) => self.current = i,
                    None => {
                        // An active RM this client was not told of (its list is short):
                        // the standby knows better.
                        self.addrs.push(active.clone());
                        self.current = self.addrs.len() - 1;
                    }
                }
                true
            }
            Failure::NotActive(None) | Failure::Unreachable | Failure::Lost => {
                self.current = (self.current + 1) % self.addrs.len();
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Failover {
        Failover::new(["a:1".to_string(), "b:2".to_string()])
    }

    #[test]
    fn not_active_goes_to_the_named_active() {
        let mut f = two();
        assert!(f.on_failure("a:1", &Failure::NotActive(Some("b:2".into()))));
        assert_eq!(f.current(), "b:2");
        // Named again: stays.
        assert!(f.on_failure("b:2", &Failure::NotActive(Some("b:2".into()))));
        assert_eq!(f.current(), "b:2");
    }

    #[test]
    fn an_unknown_active_is_added() {
        let mut f = two();
        assert!(f.on_failure("a:1", &Failure::NotActive(Some("c:3".into()))));
        assert_eq!(f.current(), "c:3");
        assert_eq!(f.addrs().len(), 3);
    }

    #[test]
    fn unreachable_or_no_active_tries_the_next_round_robin() {
        let mut f = two();
        assert!(f.on_failure("a:1", &Failure::Unreachable));
        assert_eq!(f.current(), "b:2");
        assert!(f.on_failure("b:2", &Failure::NotActive(None)));
        assert_eq!(f.current(), "a:1");
        assert!(f.on_failure("a:1", &Failure::Lost));
        assert_eq!(f.current(), "b:2");
    }

    #[test]
    fn other_errors_do_not_fail_over() {
        let mut f = two();
        assert!(!f.on_failure("a:1", &Failure::Other));
        assert_eq!(f.current(), "a:1");
    }

    #[test]
    fn a_stale_failure_retries_the_current_one() {
        let mut f = two();
        assert!(f.on_failure("a:1", &Failure::Unreachable));
        // Another call on a:1 failed meanwhile: it does not move the client back.
        assert!(f.on_failure("a:1", &Failure::Unreachable));
        assert_eq!(f.current(), "b:2");
    }

    #[test]
    fn one_address_keeps_the_old_behaviour() {
        let mut f = Failover::new(["a:1".to_string(), "a:1".to_string()]);
        assert_eq!(f.addrs().len(), 1);
        assert_eq!(f.max_tries(), 2);
        assert!(f.on_failure("a:1", &Failure::Lost));
        assert!(!f.on_failure("a:1", &Failure::Unreachable));
        assert!(!f.on_failure("a:1", &Failure::NotActive(None)));
        assert_eq!(f.current(), "a:1");
    }

    #[test]
    fn a_call_visits_every_address_within_its_tries() {
        let mut f = Failover::new((1..=3).map(|i| format!("h:{i}")));
        let mut seen = vec![f.current().to_string()];
        for _ in 1..f.max_tries() {
            let cur = f.current().to_string();
            assert!(f.on_failure(&cur, &Failure::Unreachable));
            seen.push(f.current().to_string());
        }
        for a in f.addrs() {
            assert!(seen.contains(a), "{a} never tried: {seen:?}");
        }
    }

    #[test]
    fn not_active_names_the_active_in_its_message() {
        use crate::protocol::{ErrorCode, WireError};
        let e = WireError::not_active(Some("10.0.0.2:8032"));
        assert_eq!(e.code, ErrorCode::NotActive);
        assert_eq!(e.active_address(), Some("10.0.0.2:8032"));
        assert_eq!(WireError::not_active(None).active_address(), None);
        let other = WireError::new(ErrorCode::Internal, "x; the active one is at y:1");
        assert_eq!(other.active_address(), None);
    }
}
