//! Comparing runs of an application from their event logs only (DESIGN.md, "Event log and
//! comparison"), so any two past runs can be compared.
//!
//! - [`accounting`]: what one run used and how long it took, per application and per job,
//!   computed from its event log (executor-seconds, idle executor-seconds, MB- and
//!   vcore-seconds as YARN counts them, scale-up delays, ...).
//! - [`ideal`]: the best a run of the `Bursty` workload can do under Spark's allocation rules
//!   (or the eager policy), static and dynamic, to print next to what was measured.
//! - [`report`]: the side-by-side text table and the self-contained HTML report.
//! - [`charts`]: the report's charts (inline SVG drawn with plotters).
//! - [`whatif`]: the `spindle what-if` report (policies replayed from an event log).

pub mod accounting;
pub mod charts;
pub mod ideal;
pub mod report;
pub mod whatif;
