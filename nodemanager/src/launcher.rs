//! A container's launcher, when the node manager keeps its containers across its own
//! restarts (`recovery`). The NM starts its own binary with [`FLAG`] as the container's
//! process (in its process group, cgroup and account); the launcher runs the container's
//! command, writes how it ended to a file in the container's working directory (which
//! the NM reads when the container ended while the NM was away) and ends as the command
//! did, so that an NM that stayed sees the same status as without a launcher.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

/// The first argument that makes the NM binary a launcher:
/// `nodemanager --container-launcher EXIT_FILE PROGRAM [ARG]...`.
pub const FLAG: &str = "--container-launcher";

/// The file, in the container's working directory, that the launcher writes.
pub const EXIT_FILE: &str = ".exit-status";

/// Runs the launcher when the process was started as one; `None` otherwise.
pub fn main_if_launcher() -> Option<i32> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != FLAG {
        return None;
    }
    Some(run(args.collect()))
}

extern "C" fn ignore(_: libc::c_int) {}

fn run(args: Vec<OsString>) -> i32 {
    let [exit_file, program, rest @ ..] = args.as_slice() else {
        eprintln!("usage: nodemanager {FLAG} EXIT_FILE PROGRAM [ARG]...");
        return 127;
    };
    // The NM stops a container by signalling its process group: the command gets the
    // signal and this process stays to record how it ended. A handler (not SIG_IGN) so
    // that the command starts with the default disposition.
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: installs a handler that does nothing; no other thread runs yet.
        unsafe { libc::signal(sig, ignore as *const () as libc::sighandler_t) };
    }
    let (code, signal) = match std::process::Command::new(program).args(rest).status() {
        Ok(s) => (s.code(), s.signal()),
        Err(e) => {
            eprintln!("cannot run {}: {e}", Path::new(program).display());
            (Some(127), None)
        }
    };
    let text = match (code, signal) {
        (Some(c), _) => format!("exit {c}\n"),
        (None, Some(s)) => format!("signal {s}\n"),
        _ => "unknown\n".to_string(),
    };
    let tmp = Path::new(exit_file).with_extension("tmp");
    if std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, exit_file))
        .is_err()
    {
        eprintln!("cannot write {}", Path::new(exit_file).display());
    }
    if let Some(sig) = signal {
        // End as the command did: by its signal, with the default disposition.
        // SAFETY: restores the default action and raises the signal on this process.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
        return 128 + sig;
    }
    code.unwrap_or(127)
}

/// How a container ended, from the file its launcher wrote: `(code, signal)` as
/// [`crate::lifecycle::process_exit`] takes them; `None` when the file is missing or
/// unreadable (the launcher itself was killed).
pub fn read_exit(exit_file: &Path) -> Option<(Option<i32>, Option<i32>)> {
    let text = std::fs::read_to_string(exit_file).ok()?;
    let (kind, n) = text.trim().split_once(' ')?;
    let n: i32 = n.parse().ok()?;
    match kind {
        "exit" => Some((Some(n), None)),
        "signal" => Some((None, Some(n))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_files_read_back_as_written() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join(EXIT_FILE);
        assert_eq!(read_exit(&f), None);
        for (text, want) in [
            ("exit 3\n", Some((Some(3), None))),
            ("signal 15\n", Some((None, Some(15)))),
            ("exit x\n", None),
            ("unknown\n", None),
        ] {
            std::fs::write(&f, text).unwrap();
            assert_eq!(read_exit(&f), want, "{text:?}");
        }
    }
}
