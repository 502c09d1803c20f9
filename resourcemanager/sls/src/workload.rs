//! What the simulated applications do: jobs of tasks, read from an SLS trace
//! ([`crate::trace`]) or made up by the generator ([`crate::synth`]).

use common::Resource;
use std::collections::BTreeMap;

/// How a simulated application master asks for its containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmType {
    /// SLS's MapReduce AM: every map first, the reduces once the maps are done.
    MapReduce,
    /// SLS's stream AM: every container at once.
    Stream,
    /// Spindle's Spark AM: executors under the dynamic allocation manager (or a static
    /// count when `spark.dynamicAllocation.enabled` is false).
    Spark,
}

impl AmType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mapreduce" => Some(Self::MapReduce),
            "stream" => Some(Self::Stream),
            "spark" => Some(Self::Spark),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::MapReduce => "mapreduce",
            Self::Stream => "stream",
            Self::Spark => "spark",
        }
    }
}

/// One container's work.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// How long it runs once allocated (simulated ms).
    pub duration_ms: u64,
    pub resource: Resource,
    /// The host it would like (`container.host`'s host part), if any.
    pub host: Option<String>,
    /// `container.priority`: a MapReduce AM asks for lower numbers later (reduces).
    pub priority: u32,
    /// A reduce (`container.type` = `reduce`): asked for once every map is done.
    pub reduce: bool,
}

/// One application.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub name: String,
    pub am_type: AmType,
    /// Submission time (simulated ms from the start).
    pub start_ms: u64,
    pub queue: String,
    pub user: String,
    pub tasks: Vec<Task>,
    /// Spark properties of a `spark` job (`spark.dynamicAllocation.*`, ...).
    pub spark_conf: BTreeMap<String, String>,
}

impl Job {
    /// Containers it will ask for, its AM's excluded (re-runs after preemption excluded).
    pub fn containers(&self) -> usize {
        self.tasks.len()
    }
}
