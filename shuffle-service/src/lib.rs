//! The shuffle service: serves executors' map output so executors can go away (issue 6).
