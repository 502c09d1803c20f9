//! Resources as YARN counts them: memory in MB and virtual cores.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Resource {
    pub memory_mb: u64,
    pub vcores: u32,
}

impl Resource {
    pub const ZERO: Self = Self {
        memory_mb: 0,
        vcores: 0,
    };

    pub fn new(memory_mb: u64, vcores: u32) -> Self {
        Self { memory_mb, vcores }
    }

    /// Whether `other` fits inside `self` in every dimension.
    pub fn fits(&self, other: &Self) -> bool {
        other.memory_mb <= self.memory_mb && other.vcores <= self.vcores
    }

    pub fn saturating_sub(&self, other: &Self) -> Self {
        Self {
            memory_mb: self.memory_mb.saturating_sub(other.memory_mb),
            vcores: self.vcores.saturating_sub(other.vcores),
        }
    }

    pub fn add(&self, other: &Self) -> Self {
        Self {
            memory_mb: self.memory_mb + other.memory_mb,
            vcores: self.vcores + other.vcores,
        }
    }

    /// `n` of these (saturating: an absurd ask cannot overflow a sum).
    pub fn times(&self, n: u32) -> Self {
        Self {
            memory_mb: self.memory_mb.saturating_mul(u64::from(n)),
            vcores: self.vcores.saturating_mul(n),
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<memory:{}, vCores:{}>", self.memory_mb, self.vcores)
    }
}

/// An executor's memory settings, worked out by the driver from Spark's properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorMemory {
    /// Spark's unified memory region: (`spark.executor.memory` − 300 MiB reserved) ×
    /// `spark.memory.fraction`, shared by execution (shuffles, aggregations, sorts) and
    /// storage (cached partitions); bytes.
    pub unified_pool_bytes: u64,
    /// `spark.shuffle.spill.numElementsForceSpillThreshold`: spill after this many
    /// elements whatever the memory (tests); `None` when unset.
    pub force_spill_elements: Option<u64>,
    /// `spark.reducer.maxSizeInFlight`: the bytes of shuffle blocks a reduce task
    /// fetches at once.
    pub max_bytes_in_flight: u64,
}
