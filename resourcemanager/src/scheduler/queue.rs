//! The capacity scheduler's queue tree: what `resourcemanager.toml` says about each
//! queue (`[queues.NAME]`), checked once into a tree with absolute capacities.
//!
//! Names follow YARN: `root` is the top; a queue's path is `root.a.x`; config keys are
//! the path below root (`a`, `a.x`) or the whole path. Capacities are percentages of the
//! parent; siblings sum to 100.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;

/// A queue setting's value type.
pub trait Setting: Clone + Debug + Default + PartialEq + Serialize + DeserializeOwned {}

impl<T: Clone + Debug + Default + PartialEq + Serialize + DeserializeOwned> Setting for T {}

/// How a queue's settings are held: as configured, where each may be unset
/// ([`Configured`]), or resolved from the queue, its ancestors and the defaults
/// ([`Resolved`]). One list of settings serves both, so the config and the checked tree
/// cannot drift apart.
pub trait Form: Clone + Copy + Debug + Default + PartialEq {
    type Of<T: Setting>: Setting;
}

/// Settings as `resourcemanager.toml` gives them: each may be unset.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Configured;

impl Form for Configured {
    type Of<T: Setting> = Option<T>;
}

/// Settings as a queue of the checked tree holds them: every one decided.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Resolved;

impl Form for Resolved {
    type Of<T: Setting> = T;
}

/// One queue's keys (YARN's `yarn.scheduler.capacity.<queue-path>.*`), configured or
/// resolved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case", bound = "")]
pub struct QueueSettings<F: Form> {
    /// Guaranteed share of the parent, in percent.
    pub capacity: F::Of<f64>,
    /// Most of the parent it may use when others are idle, in percent (default 100).
    pub maximum_capacity: F::Of<f64>,
    /// How many times its guarantee one user may hold (default 1).
    pub user_limit_factor: F::Of<f64>,
    /// The least share each active user is promised, in percent (default 100).
    pub minimum_user_limit_percent: F::Of<f64>,
    /// Apps (pending and running) it holds at most; more are refused at submission.
    pub maximum_applications: F::Of<u32>,
    /// Fraction of its guarantee AM containers may use (default: the scheduler's).
    pub maximum_am_resource_percent: F::Of<f64>,
    /// `fifo` (oldest app first) or `fair` (the app holding least first).
    pub ordering_policy: F::Of<OrderingPolicy>,
    /// Users who may submit here (and below); `*` is everyone. Unset: the parent's (in
    /// both forms: ACLs are inherited when checked).
    pub acl_submit_applications: Option<Vec<String>>,
    /// Users who may administer (kill apps in) it and below; `*` is everyone.
    pub acl_administer_queue: Option<Vec<String>>,
    /// `RUNNING` or `STOPPED` (takes no new apps; running ones finish).
    pub state: F::Of<QueueState>,
}

/// A queue as configured (`[queues.NAME]`).
pub type QueueConf = QueueSettings<Configured>;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderingPolicy {
    #[default]
    Fifo,
    Fair,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum QueueState {
    #[default]
    Running,
    Stopped,
}

impl std::fmt::Display for OrderingPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fifo => "fifo",
            Self::Fair => "fair",
        })
    }
}

impl std::fmt::Display for QueueState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Running => "RUNNING",
            Self::Stopped => "STOPPED",
        })
    }
}

/// Scheduler-wide defaults for keys a queue leaves unset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueDefaults {
    pub maximum_am_resource_percent: f64,
    pub user_limit_factor: f64,
    pub maximum_applications: u32,
}

impl Default for QueueDefaults {
    fn default() -> Self {
        Self {
            maximum_am_resource_percent: 0.1,
            user_limit_factor: 1.0,
            maximum_applications: 10_000,
        }
    }
}

/// A queue in the checked tree: its full path (`root.a.x`), the indexes of its parent
/// (`None` for root) and children in [`QueueTree::queues`], its resolved settings
/// (capacities in percent of the parent) and its capacities as fractions of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    pub path: String,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    pub settings: QueueSettings<Resolved>,
    pub absolute: Absolute,
}

/// A queue's guaranteed and maximum shares as fractions of the cluster: products of the
/// percentages down its path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Absolute {
    pub capacity: f64,
    pub maximum_capacity: f64,
}

impl Queue {
    /// Its own name, the last part of its path (`x`).
    pub fn name(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }

    pub fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }
}

/// The checked tree; index 0 is `root`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueTree {
    pub queues: Vec<Queue>,
}

/// A queue config that cannot be used, naming the queue and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("queue {queue}: {reason}")]
pub struct QueueConfigError {
    pub queue: String,
    pub reason: String,
}

fn bad(queue: &str, reason: impl Into<String>) -> QueueConfigError {
    QueueConfigError {
        queue: queue.to_string(),
        reason: reason.into(),
    }
}

/// `a.x` or `root.a.x` to `root.a.x`.
fn full_path(key: &str) -> String {
    if key == "root" || key.starts_with("root.") {
        key.to_string()
    } else {
        format!("root.{key}")
    }
}

impl QueueTree {
    /// The tree `confs` describe; none: YARN's unconfigured `root.default` at 100%.
    pub fn build(
        confs: &BTreeMap<String, QueueConf>,
        defaults: QueueDefaults,
    ) -> Result<Self, QueueConfigError> {
        let mut by_path: BTreeMap<String, QueueConf> = BTreeMap::new();
        for (key, conf) in confs {
            let path = full_path(key);
            for part in path.split('.') {
                if part.is_empty()
                    || !part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(bad(
                        &path,
                        format!("{part:?} is not a queue name (letters, digits, _ and -)"),
                    ));
                }
            }
            if by_path.insert(path.clone(), conf.clone()).is_some() {
                return Err(bad(
                    &path,
                    "configured twice (as a path below root and as a full path)",
                ));
            }
        }
        if by_path.keys().all(|p| p == "root") {
            by_path.insert(
                "root.default".into(),
                QueueConf {
                    capacity: Some(100.0),
                    ..QueueConf::default()
                },
            );
        }
        // Every ancestor of a configured queue exists, configured or not.
        let paths: Vec<String> = by_path.keys().cloned().collect();
        for p in paths {
            let mut cur = p.as_str();
            while let Some((parent, _)) = cur.rsplit_once('.') {
                by_path.entry(parent.to_string()).or_default();
                cur = parent;
            }
        }
        by_path.entry("root".into()).or_default();
        let mut queues: Vec<Queue> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        // BTreeMap order puts a parent before its children ("root.a" < "root.a.x").
        for (path, conf) in &by_path {
            let parent = path.rsplit_once('.').map(|(p, _)| index[p]);
            let capacity = match (parent, conf.capacity) {
                (None, None | Some(_)) => 100.0,
                (Some(_), Some(c)) => c,
                (Some(_), None) => return Err(bad(path, "capacity is not set")),
            };
            let maximum_capacity = conf.maximum_capacity.unwrap_or(100.0);
            if !(0.0..=100.0).contains(&capacity) {
                return Err(bad(
                    path,
                    format!("capacity {capacity} is not within 0..100"),
                ));
            }
            if !(0.0..=100.0).contains(&maximum_capacity) || maximum_capacity < capacity {
                return Err(bad(
                    path,
                    format!("maximum-capacity {maximum_capacity} is not within capacity ({capacity})..100"),
                ));
            }
            let inherit = |f: &dyn Fn(&Queue) -> f64, own: Option<f64>, default: f64| {
                own.unwrap_or_else(|| parent.map_or(default, |p| f(&queues[p])))
            };
            let ulf = inherit(
                &|q| q.settings.user_limit_factor,
                conf.user_limit_factor,
                defaults.user_limit_factor,
            );
            if ulf.is_nan() || ulf <= 0.0 {
                return Err(bad(
                    path,
                    format!("user-limit-factor {ulf} must be above 0"),
                ));
            }
            let mulp = conf.minimum_user_limit_percent.unwrap_or(100.0);
            if !(mulp > 0.0 && mulp <= 100.0) {
                return Err(bad(
                    path,
                    format!("minimum-user-limit-percent {mulp} is not within 0..100"),
                ));
            }
            let am = inherit(
                &|q| q.settings.maximum_am_resource_percent,
                conf.maximum_am_resource_percent,
                defaults.maximum_am_resource_percent,
            );
            if !(0.0..=1.0).contains(&am) {
                return Err(bad(
                    path,
                    format!("maximum-am-resource-percent {am} is not a fraction within 0..1 (as YARN: 0.1 is 10%)"),
                ));
            }
            for acl in [&conf.acl_submit_applications, &conf.acl_administer_queue]
                .into_iter()
                .flatten()
            {
                for u in acl.iter().filter(|u| *u != "*") {
                    common::identity::check_user_name(u)
                        .map_err(|e| bad(path, format!("ACL entry {u:?}: {e}")))?;
                }
            }
            let (abs, abs_max) = match parent {
                None => (1.0, 1.0),
                Some(p) => (
                    queues[p].absolute.capacity * capacity / 100.0,
                    queues[p].absolute.maximum_capacity * maximum_capacity / 100.0,
                ),
            };
            let state = match (conf.state, parent) {
                (Some(s), _) => s,
                (None, Some(p)) => queues[p].settings.state,
                (None, None) => QueueState::Running,
            };
            let i = queues.len();
            queues.push(Queue {
                path: path.clone(),
                parent,
                children: Vec::new(),
                settings: QueueSettings {
                    capacity,
                    maximum_capacity,
                    user_limit_factor: ulf,
                    minimum_user_limit_percent: mulp,
                    maximum_applications: conf
                        .maximum_applications
                        .unwrap_or(((defaults.maximum_applications as f64) * abs).ceil() as u32),
                    maximum_am_resource_percent: am,
                    ordering_policy: conf.ordering_policy.unwrap_or_default(),
                    acl_submit_applications: conf.acl_submit_applications.clone(),
                    acl_administer_queue: conf.acl_administer_queue.clone(),
                    state,
                },
                absolute: Absolute {
                    capacity: abs,
                    maximum_capacity: abs_max,
                },
            });
            index.insert(path.clone(), i);
            if let Some(p) = parent {
                queues[p].children.push(i);
            }
        }
        for q in &queues {
            if q.is_leaf() {
                continue;
            }
            let sum: f64 = q
                .children
                .iter()
                .map(|&c| queues[c].settings.capacity)
                .sum();
            if (sum - 100.0).abs() > 1e-6 {
                let kids: Vec<String> = q
                    .children
                    .iter()
                    .map(|&c| format!("{}={}", queues[c].name(), queues[c].settings.capacity))
                    .collect();
                return Err(bad(
                    &q.path,
                    format!(
                        "its children's capacities sum to {sum}, not 100 ({})",
                        kids.join(", ")
                    ),
                ));
            }
        }
        let mut leaves: BTreeMap<&str, &str> = BTreeMap::new();
        for q in queues.iter().filter(|q| q.is_leaf()) {
            if let Some(other) = leaves.insert(q.name(), &q.path) {
                return Err(bad(
                    &q.path,
                    format!("its name is also the leaf {other}'s: leaf names must be unique, as apps name leaves by their short names"),
                ));
            }
        }
        Ok(Self { queues })
    }

    pub fn root(&self) -> &Queue {
        &self.queues[0]
    }

    /// The queue a submission names: a leaf's short name or any queue's full path.
    pub fn find(&self, name: &str) -> Option<usize> {
        let by = |f: &dyn Fn(&Queue) -> bool| self.queues.iter().position(f);
        by(&|q| q.path == name)
            .or_else(|| by(&|q| q.is_leaf() && q.name() == name))
            .or_else(|| by(&|q| q.name() == name))
    }

    pub fn leaves(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.queues.len()).filter(|&i| self.queues[i].is_leaf())
    }

    /// `i` and its ancestors, up to root.
    pub fn path_up(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(Some(i), move |&q| self.queues[q].parent)
    }

    /// May `user` submit to leaf `i`? Its or an ancestor's submit or administer ACL
    /// names them (YARN: ACLs are inherited downwards). An unset submit ACL at root is
    /// `*`, as in YARN; an unset administer ACL names nobody, since Spindle always
    /// enforces ACLs (YARN's default `*` only matters with yarn.acl.enable).
    pub fn may_submit(&self, i: usize, user: &str) -> bool {
        self.path_up(i).any(|q| {
            let q = &self.queues[q];
            let names = |acl: &Option<Vec<String>>, root_default: bool| match acl {
                Some(list) => list.iter().any(|u| u == "*" || u == user),
                None => q.parent.is_none() && root_default,
            };
            names(&q.settings.acl_submit_applications, true)
                || names(&q.settings.acl_administer_queue, false)
        })
    }

    /// May `user` administer (kill apps in) queue `i`?
    pub fn may_administer(&self, i: usize, user: &str) -> bool {
        self.path_up(i).any(|q| {
            let q = &self.queues[q];
            // Unset everywhere: nobody (the RM's admin-acl still may).
            q.settings
                .acl_administer_queue
                .as_ref()
                .is_some_and(|list| list.iter().any(|u| u == "*" || u == user))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(cap: f64) -> QueueConf {
        QueueConf {
            capacity: Some(cap),
            ..QueueConf::default()
        }
    }

    fn tree(entries: &[(&str, QueueConf)]) -> Result<QueueTree, QueueConfigError> {
        let m = entries
            .iter()
            .map(|(k, c)| (k.to_string(), c.clone()))
            .collect();
        QueueTree::build(&m, QueueDefaults::default())
    }

    #[test]
    fn unconfigured_is_root_default_at_100() {
        let t = tree(&[]).unwrap();
        let d = t.find("default").unwrap();
        assert_eq!(t.queues[d].path, "root.default");
        assert_eq!(t.queues[d].absolute.capacity, 1.0);
        assert_eq!(t.queues[d].settings.maximum_am_resource_percent, 0.1);
        assert_eq!(t.queues[d].settings.user_limit_factor, 1.0);
    }

    #[test]
    fn hierarchy_multiplies_capacities_and_names_resolve() {
        let t = tree(&[
            ("a", conf(40.0)),
            ("root.b", conf(60.0)),
            ("a.x", conf(25.0)),
            ("a.y", conf(75.0)),
        ])
        .unwrap();
        let x = t.find("x").unwrap();
        assert!((t.queues[x].absolute.capacity - 0.10).abs() < 1e-9);
        assert_eq!(t.find("root.a.y"), t.find("y"));
        assert!(!t.queues[t.find("root.a").unwrap()].is_leaf());
        assert_eq!(
            t.find("a"),
            t.find("root.a"),
            "a parent is found by its path"
        );
        assert_eq!(t.find("nosuch"), None);
    }

    #[test]
    fn capacities_not_summing_to_100_name_the_parent() {
        let e = tree(&[("a", conf(50.0)), ("b", conf(40.0))]).unwrap_err();
        assert_eq!(e.queue, "root");
        assert!(e.reason.contains("sum to 90"), "{e}");
        let e = tree(&[("a", conf(100.0)), ("a.x", conf(30.0))]).unwrap_err();
        assert_eq!(e.queue, "root.a");
    }

    #[test]
    fn bad_values_are_refused_naming_the_queue_and_key() {
        let mut c = conf(100.0);
        c.maximum_am_resource_percent = Some(10.0);
        let e = tree(&[("a", c)]).unwrap_err();
        assert!(
            e.to_string().contains("root.a") && e.reason.contains("fraction"),
            "{e}"
        );
        let mut c = conf(100.0);
        c.maximum_capacity = Some(50.0);
        assert!(tree(&[("a", c)])
            .unwrap_err()
            .reason
            .contains("maximum-capacity"));
        assert!(tree(&[("a", QueueConf::default())])
            .unwrap_err()
            .reason
            .contains("capacity is not set"));
        assert!(tree(&[("a/b", conf(100.0))]).is_err());
    }

    #[test]
    fn acls_inherit_down_and_root_defaults_to_everyone() {
        let mut a = conf(50.0);
        a.acl_submit_applications = Some(vec!["alice".into()]);
        let t = tree(&[("a", a.clone()), ("b", conf(50.0))]).unwrap();
        let (ia, ib) = (t.find("a").unwrap(), t.find("b").unwrap());
        assert!(t.may_submit(ia, "bob"), "root's unset ACLs admit everyone");
        let root = QueueConf {
            acl_submit_applications: Some(vec![]),
            acl_administer_queue: Some(vec!["ops".into()]),
            ..QueueConf::default()
        };
        let t = tree(&[("root", root), ("a", a), ("b", conf(50.0))]).unwrap();
        assert!(t.may_submit(ia, "alice"));
        assert!(!t.may_submit(ia, "bob"));
        assert!(!t.may_submit(ib, "alice"));
        assert!(t.may_submit(ib, "ops"), "an administer ACL also submits");
        assert!(t.may_administer(ia, "ops") && !t.may_administer(ia, "alice"));
    }
}
