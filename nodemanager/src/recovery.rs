//! What the node manager keeps of its containers so that a restarted NM takes them back
//! (YARN's NM recovery, `recovery = true`): one JSON file per container under
//! `local-dir/nm-recovery`, written when its process starts and when it ends, removed
//! once the RM has its final status. A record is replaced by rename, so a kill -9 leaves
//! the old one or the new one, never half of one.

use common::{ContainerId, Resource};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The folder under `local-dir`.
pub const DIR: &str = "nm-recovery";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: ContainerId,
    pub user: String,
    pub resource: Resource,
    /// Its process group: the launcher's pid.
    pub pid: i32,
    /// When that process started, in clock ticks after boot (`/proc/PID/stat`): a pid
    /// that another process took since does not pass for the container.
    pub start_ticks: u64,
    /// Where its launcher writes how it ended.
    pub exit_file: PathBuf,
    /// How it ended (status, diagnostics), once it did.
    pub exit: Option<(i32, String)>,
}

pub struct RecoveryStore {
    dir: PathBuf,
}

impl RecoveryStore {
    /// The store in `local_dir` (made, readable by the NM's user only).
    pub fn open(local_dir: &Path) -> io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = local_dir.join(DIR);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(Self { dir })
    }

    fn path(&self, id: ContainerId) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    pub fn save(&self, r: &ContainerRecord) -> io::Result<()> {
        let path = self.path(r.id);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(r).map_err(io::Error::other)?)?;
        std::fs::rename(&tmp, &path)
    }

    pub fn remove(&self, id: ContainerId) {
        let _ = std::fs::remove_file(self.path(id));
    }

    pub fn get(&self, id: ContainerId) -> Option<ContainerRecord> {
        serde_json::from_slice(&std::fs::read(self.path(id)).ok()?).ok()
    }

    /// Every record a previous run left; unreadable ones are logged and dropped.
    pub fn load(&self) -> Vec<ContainerRecord> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "tmp") {
                let _ = std::fs::remove_file(&p);
                continue;
            }
            match std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::warn!(record = %p.display(), error = %e, "unreadable container record dropped");
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
        out.sort_by_key(|r: &ContainerRecord| r.id);
        out
    }
}

/// When process `pid` started (clock ticks after boot), if it exists and is not a zombie.
pub fn start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ...`: comm may hold spaces and parentheses; the last `)` ends it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    // starttime is field 22 of the line, the 20th after comm.
    fields.get(19)?.parse().ok()
}

/// Whether the process a record names still runs.
pub fn is_alive(pid: i32, start_ticks_then: u64) -> bool {
    start_ticks(pid) == Some(start_ticks_then)
}

/// Waits until process `pid` (not a child of this one) has ended: on its pidfd where the
/// kernel has them, else by looking every 100 ms.
pub async fn wait_gone(pid: i32, start_ticks_then: u64) {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd >= 0 && is_alive(pid, start_ticks_then) {
        use std::os::fd::{FromRawFd, OwnedFd};
        // SAFETY: a fresh fd that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: `owned` is an open fd that the AsyncFd owns until it is dropped.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE)
        };
        if let Ok(afd) = registered {
            let _ = afd.readable().await;
            return;
        }
    } else if fd >= 0 {
        // SAFETY: closes the fd opened above, which nothing else holds.
        unsafe { libc::close(fd as i32) };
    }
    while is_alive(pid, start_ticks_then) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> ContainerRecord {
        ContainerRecord {
            id: format!("container_1_0001_01_{n:06}").parse().unwrap(),
            user: "alice".into(),
            resource: Resource::new(512, 1),
            pid: 42,
            start_ticks: 7,
            exit_file: "/x/.exit-status".into(),
            exit: None,
        }
    }

    #[test]
    fn records_are_saved_replaced_and_removed() {
        let d = tempfile::tempdir().unwrap();
        let s = RecoveryStore::open(d.path()).unwrap();
        let (a, mut b) = (record(1), record(2));
        s.save(&a).unwrap();
        s.save(&b).unwrap();
        b.exit = Some((3, "gone".into()));
        s.save(&b).unwrap();
        // Leftovers of a write cut short, and damaged records, go.
        std::fs::write(d.path().join(DIR).join("x.tmp"), "{").unwrap();
        std::fs::write(d.path().join(DIR).join("bad.json"), "{").unwrap();
        assert_eq!(s.load(), vec![a.clone(), b.clone()]);
        assert_eq!(s.get(b.id), Some(b));
        s.remove(a.id);
        assert_eq!(s.load().len(), 1);
        assert_eq!(std::fs::read_dir(d.path().join(DIR)).unwrap().count(), 1);
    }

    #[tokio::test]
    async fn a_process_is_known_by_its_pid_and_start_time_until_it_ends() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.3")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let ticks = start_ticks(pid).unwrap();
        assert!(is_alive(pid, ticks));
        assert!(!is_alive(pid, ticks + 1), "another process with that pid");
        let reaper = std::thread::spawn(move || child.wait());
        tokio::time::timeout(Duration::from_secs(5), wait_gone(pid, ticks))
            .await
            .expect("noticed the end");
        reaper.join().unwrap().unwrap();
        assert!(!is_alive(pid, ticks));
    }
}
