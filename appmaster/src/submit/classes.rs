//! `--class` checked against the binary's classes before anything reaches the cluster:
//! a typo is an error on the submitting host, not a failed AM container later.
//!
//! A Spindle app binary answers `--list-classes` with the classes it runs, one per line
//! (none: one main, which any `--class` names). It is run only when it carries
//! [`crate::driver::APP_BINARY_MARKER`], so no other program is started with a flag it
//! may take for something else.

use crate::driver::{APP_BINARY_MARKER, LIST_CLASSES};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the binary may take to list its classes.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why `--class` was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClassError {
    #[error("--class {class}: {binary} has no such class; its classes are {}", known.join(", "))]
    Unknown {
        class: String,
        binary: String,
        known: Vec<String>,
    },
}

/// Whether `bytes` contain `needle`.
fn contains(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// The classes `binary` lists, or `None` when it is not a Spindle app binary or does
/// not answer (then nothing is checked here; the driver reports an unknown class).
pub fn list(binary: &Path) -> Option<Vec<String>> {
    let bytes = std::fs::read(binary).ok()?;
    if !contains(&bytes, APP_BINARY_MARKER) {
        return None;
    }
    drop(bytes);
    let mut child = Command::new(binary)
        .arg(LIST_CLASSES)
        // Not a driver or an executor: the listing.
        .env_remove(common::launch::ROLE)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + LIST_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    Some(
        out.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// Checks `class` (a simple or qualified name) against what `binary` lists.
pub fn check(binary: &Path, class: &str) -> Result<(), ClassError> {
    let Some(known) = list(binary) else {
        return Ok(());
    };
    check_against(&known, class).map_err(|known| ClassError::Unknown {
        class: class.to_string(),
        binary: binary.display().to_string(),
        known,
    })
}

/// `Err(known)` when a non-empty list lacks the class's simple name.
fn check_against(known: &[String], class: &str) -> Result<(), Vec<String>> {
    let simple = class.trim().rsplit('.').next().unwrap_or_default();
    if known.is_empty() || known.iter().any(|k| k == simple) {
        Ok(())
    } else {
        Err(known.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_and_qualified_names_match_and_an_empty_list_takes_any() {
        let known = vec!["SparkPi".to_string(), "Bursty".to_string()];
        assert!(check_against(&known, "SparkPi").is_ok());
        assert!(check_against(&known, "org.apache.spark.examples.SparkPi").is_ok());
        assert_eq!(check_against(&known, "NoSuch"), Err(known.clone()));
        assert!(check_against(&[], "Anything").is_ok());
    }

    #[test]
    fn a_program_without_the_marker_is_not_run() {
        // /bin/sh would take --list-classes as an option; it must not be started.
        assert_eq!(list(Path::new("/bin/sh")), None);
        assert!(check(Path::new("/bin/sh"), "NoSuch").is_ok());
    }
}
