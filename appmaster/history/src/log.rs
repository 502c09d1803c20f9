//! Reading event logs back from files.

use am_core::eventlog::{self, LogLine};
use std::path::Path;

/// Reads an event log; an error names the file and line.
pub fn read(path: &Path) -> std::io::Result<Vec<LogLine>> {
    let text = std::fs::read_to_string(path)?;
    eventlog::parse(&text).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}:{e}", path.display()),
        )
    })
}

/// Reads an event log, skipping lines that do not parse (the one being written by a
/// live application, or events of a newer version).
pub fn read_lenient(path: &Path) -> std::io::Result<Vec<LogLine>> {
    Ok(eventlog::parse_lenient(&std::fs::read_to_string(path)?))
}
