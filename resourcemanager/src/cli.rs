//! The spindle admin CLI.
