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
