//! Containers in cgroups: one group per container, with a hard memory limit of its
//! allocation, CPU weighted by its vcores (optionally capped), joined by the child
//! before it execs, signalled and killed as a whole, removed when it is done.
//!
//! Layout: `<mount>/<hierarchy>/nm-<port>-<pid>/<container_id>`, under the unified
//! hierarchy (v2) or under both the v1 `memory` and `cpu` hierarchies. The NM's own
//! group carries its pid, so a node manager that starts removes what a dead one left
//! behind and never touches a live one's.
//!
//! The pure parts (what to write, where, and how to read the kernel's OOM counters)
//! are functions here with tests; [`Cgroups`] and [`ContainerGroup`] do the I/O.

use common::protocol::IsolationMode;
use common::{ContainerId, Resource};
use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// CFS period for strict CPU quotas, µs (the kernel's default).
pub const CFS_PERIOD_US: u64 = 100_000;

/// v1 `cpu.shares` for `vcores` (YARN: 1024 per vcore).
pub fn v1_shares(vcores: u32) -> u64 {
    1024 * u64::from(vcores.max(1))
}

/// v2 `cpu.weight` for `vcores`: 100 (the default) per vcore, within the kernel's 1..=10000.
pub fn v2_weight(vcores: u32) -> u64 {
    (100 * u64::from(vcores.max(1))).min(10_000)
}

/// A strict quota per period (µs) for `vcores` of a node offering `node_vcores` on
/// `host_cpus` cores: the container's share of the host, as YARN's strict mode.
pub fn cpu_quota_us(vcores: u32, node_vcores: u32, host_cpus: u32, period_us: u64) -> u64 {
    let share = period_us * u64::from(vcores.max(1)) * u64::from(host_cpus.max(1))
        / u64::from(node_vcores.max(1));
    share.max(1_000)
}

/// What a container's group gets, computed from its allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Hard memory limit in bytes (none when memory is not enforced).
    pub memory_bytes: Option<u64>,
    /// v1 `cpu.shares` or v2 `cpu.weight`.
    pub cpu_weight: u64,
    /// CFS quota per [`CFS_PERIOD_US`], with `cpu-strict-quota`.
    pub cpu_quota_us: Option<u64>,
}

/// How this node sets containers' groups up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `pmem-check`: a hard memory limit.
    pub enforce_memory: bool,
    /// `cpu-strict-quota`.
    pub strict_cpu: bool,
    /// The vcores this node offers, and the host's cores (for strict quotas).
    pub node_vcores: u32,
    pub host_cpus: u32,
}

impl Policy {
    pub fn limits(&self, v2: bool, r: Resource) -> Limits {
        Limits {
            memory_bytes: self.enforce_memory.then_some(r.memory_mb << 20),
            cpu_weight: if v2 {
                v2_weight(r.vcores)
            } else {
                v1_shares(r.vcores)
            },
            cpu_quota_us: self
                .strict_cpu
                .then(|| cpu_quota_us(r.vcores, self.node_vcores, self.host_cpus, CFS_PERIOD_US)),
        }
    }

    /// The weight of the node's own group: as many vcores as the node offers, so that
    /// its containers together weigh what the node promises against other groups.
    pub fn node_weight(&self, v2: bool) -> u64 {
        if v2 {
            v2_weight(self.node_vcores)
        } else {
            v1_shares(self.node_vcores)
        }
    }
}

/// The files to write in a container's group, in order: `(hierarchy index, file, value,
/// required)`. v1 indexes are 0 = memory, 1 = cpu; v2 has one hierarchy. A file that is
/// not required may be missing (no swap accounting, an older kernel).
pub fn settings(v2: bool, l: &Limits) -> Vec<(usize, &'static str, String, bool)> {
    let mut out = Vec::new();
    if v2 {
        if let Some(m) = l.memory_bytes {
            out.push((0, "memory.max", m.to_string(), true));
            out.push((0, "memory.swap.max", "0".into(), false));
            // An OOM kill takes the whole container, not one process of it.
            out.push((0, "memory.oom.group", "1".into(), false));
        }
        out.push((0, "cpu.weight", l.cpu_weight.to_string(), true));
        if let Some(q) = l.cpu_quota_us {
            out.push((0, "cpu.max", format!("{q} {CFS_PERIOD_US}"), true));
        }
    } else {
        if let Some(m) = l.memory_bytes {
            out.push((0, "memory.limit_in_bytes", m.to_string(), true));
            // No swapping past the limit either (only with swap accounting).
            out.push((0, "memory.memsw.limit_in_bytes", m.to_string(), false));
        }
        out.push((1, "cpu.shares", l.cpu_weight.to_string(), true));
        if let Some(q) = l.cpu_quota_us {
            out.push((1, "cpu.cfs_period_us", CFS_PERIOD_US.to_string(), true));
            out.push((1, "cpu.cfs_quota_us", q.to_string(), true));
        }
    }
    out
}

/// The `oom_kill` count of v1 `memory.oom_control` (kernels since 4.13 have it).
pub fn parse_oom_control(text: &str) -> Option<u64> {
    field(text, "oom_kill")
}

/// The `oom_kill` count of v2 `memory.events`.
pub fn parse_memory_events(text: &str) -> Option<u64> {
    field(text, "oom_kill")
}

fn field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(name))
            .then(|| it.next()?.parse().ok())
            .flatten()
    })
}

/// What the kernel says about a group's memory after an OOM kill may have happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OomReport {
    /// Processes the kernel's OOM killer killed in the group.
    pub kills: u64,
    /// The group's peak memory use in bytes (0 when the kernel does not say).
    pub peak_bytes: u64,
}

/// Where the cgroup hierarchies are mounted, from `/proc/self/mountinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mounts {
    pub v2: Option<PathBuf>,
    pub memory: Option<PathBuf>,
    pub cpu: Option<PathBuf>,
}

/// Parses `/proc/self/mountinfo`: the cgroup2 mount and the v1 mounts holding the
/// `memory` and `cpu` controllers (the first of each).
pub fn parse_mountinfo(text: &str) -> Mounts {
    let mut m = Mounts::default();
    for line in text.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(point) = left.split_whitespace().nth(4) else {
            continue;
        };
        let point = PathBuf::from(unescape(point));
        let mut r = right.split_whitespace();
        let (fstype, superopts) = (r.next(), r.nth(1).unwrap_or(""));
        match fstype {
            Some("cgroup2") if m.v2.is_none() => m.v2 = Some(point),
            Some("cgroup") => {
                let opts: Vec<&str> = superopts.split(',').collect();
                if opts.contains(&"memory") && m.memory.is_none() {
                    m.memory = Some(point.clone());
                }
                if opts.contains(&"cpu") && m.cpu.is_none() {
                    m.cpu = Some(point);
                }
            }
            _ => {}
        }
    }
    m
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The name of a node manager's group: `nm-<port>-<pid>`.
pub fn nm_group_name(port: u16, pid: u32) -> String {
    format!("nm-{port}-{pid}")
}

/// The pid in a node manager group's name.
pub fn nm_group_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("nm-")?;
    let (port, pid) = rest.split_once('-')?;
    port.parse::<u16>().ok()?;
    pid.parse().ok()
}

/// The cgroups of this node's containers, once set up and probed.
#[derive(Debug)]
pub struct Cgroups {
    v2: bool,
    /// The NM's group in each hierarchy (v2: one; v1: memory, cpu).
    nm_dirs: Vec<PathBuf>,
    /// `<mount>/<hierarchy>` in each, shared with other NMs on the host.
    shared: Vec<PathBuf>,
    policy: Policy,
}

/// The first success, else the last error.
trait FindMapOrLast<T> {
    fn find_map_or_last(self) -> Result<T, String>;
}

impl<T, I: Iterator<Item = Result<T, String>>> FindMapOrLast<T> for I {
    fn find_map_or_last(self) -> Result<T, String> {
        let mut last = Err("not tried".to_string());
        for r in self {
            if r.is_ok() {
                return r;
            }
            last = r;
        }
        last
    }
}

/// Which modes to try (`cgroups` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Auto,
    V2,
    V1,
}

impl Cgroups {
    /// Sets up this NM's group (`<hierarchy>/nm-<port>-<pid>`) in the first mode of
    /// `want` that works here, checking that a container's group can be made and
    /// limited; removes the groups that dead node managers left. `Err` lists why
    /// each mode tried did not work.
    pub fn setup(want: Want, hierarchy: &str, port: u16, policy: Policy) -> Result<Self, String> {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")
            .map(|t| parse_mountinfo(&t))
            .unwrap_or_default();
        let name = nm_group_name(port, std::process::id());
        let mut why = Vec::new();
        // Another NM that stops removes the shared `<hierarchy>` group when it is empty:
        // a setup that lost that race is tried again.
        type Setup = fn(&Mounts, &str, &str, Policy) -> Result<Cgroups, String>;
        let modes: [(&str, Want, Setup); 2] = [
            ("v2", Want::V2, Self::setup_v2),
            ("v1", Want::V1, Self::setup_v1),
        ];
        for (mode, only, setup) in modes {
            if want != Want::Auto && want != only {
                continue;
            }
            match (0..3)
                .map(|_| setup(&mounts, hierarchy, &name, policy))
                .find_map_or_last()
            {
                Ok(c) => return Ok(c),
                Err(e) => why.push(format!("cgroups {mode}: {e}")),
            }
        }
        Err(why.join("; "))
    }

    fn setup_v2(m: &Mounts, hierarchy: &str, name: &str, policy: Policy) -> Result<Self, String> {
        let root = m.v2.as_ref().ok_or("no cgroup2 mount")?;
        let controllers = read(&root.join("cgroup.controllers")).map_err(|e| e.to_string())?;
        let have: Vec<&str> = controllers.split_whitespace().collect();
        if !(have.contains(&"memory") && have.contains(&"cpu")) {
            return Err(format!(
                "{} has no memory and cpu controllers (it has: {})",
                root.display(),
                controllers.trim()
            ));
        }
        // Each level enables the controllers for its children, down to the NM's group.
        let mut dir = root.clone();
        enable_v2(&dir)?;
        for part in hierarchy.split('/') {
            dir.push(part);
            make_dir(&dir)?;
            enable_v2(&dir)?;
        }
        sweep(&dir);
        let weight = policy.node_weight(true);
        raise_weight(&dir.join("cpu.weight"), weight);
        dir.push(name);
        make_dir(&dir)?;
        enable_v2(&dir)?;
        write(&dir.join("cpu.weight"), &weight.to_string()).map_err(|e| e.to_string())?;
        let me = Self {
            v2: true,
            nm_dirs: vec![dir],
            shared: vec![root.join(hierarchy)],
            policy,
        };
        me.probe()?;
        Ok(me)
    }

    fn setup_v1(m: &Mounts, hierarchy: &str, name: &str, policy: Policy) -> Result<Self, String> {
        let (Some(memory), Some(cpu)) = (&m.memory, &m.cpu) else {
            return Err("no v1 memory and cpu hierarchies mounted".into());
        };
        let weight = policy.node_weight(false);
        let mut dirs = Vec::new();
        for mount in [memory, cpu] {
            let parent = mount.join(hierarchy);
            std::fs::create_dir_all(&parent)
                .map_err(|e| format!("creating {}: {e}", parent.display()))?;
            sweep(&parent);
            let dir = parent.join(name);
            make_dir(&dir)?;
            dirs.push(dir);
        }
        raise_weight(&cpu.join(hierarchy).join("cpu.shares"), weight);
        write(&dirs[1].join("cpu.shares"), &weight.to_string()).map_err(|e| e.to_string())?;
        let me = Self {
            v2: false,
            nm_dirs: dirs,
            shared: vec![memory.join(hierarchy), cpu.join(hierarchy)],
            policy,
        };
        me.probe()?;
        Ok(me)
    }

    /// Makes, limits and removes a container group.
    fn probe(&self) -> Result<(), String> {
        let g = self
            .create_named("probe", Resource::new(64, 1))
            .map_err(|e| format!("a container's group: {e}"))?;
        g.remove(Duration::from_secs(1));
        Ok(())
    }

    pub fn mode(&self) -> IsolationMode {
        if self.v2 {
            IsolationMode::CgroupsV2
        } else {
            IsolationMode::CgroupsV1
        }
    }

    /// The NM's own group(s).
    pub fn nm_dirs(&self) -> &[PathBuf] {
        &self.nm_dirs
    }

    /// Makes the container's group with the limits of its allocation.
    pub fn create(&self, id: ContainerId, resource: Resource) -> io::Result<ContainerGroup> {
        self.create_named(&id.to_string(), resource)
    }

    fn create_named(&self, name: &str, resource: Resource) -> io::Result<ContainerGroup> {
        let dirs: Vec<PathBuf> = self.nm_dirs.iter().map(|d| d.join(name)).collect();
        for d in &dirs {
            match std::fs::create_dir(d) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(at(d, e)),
            }
        }
        let group = ContainerGroup {
            v2: self.v2,
            dirs,
            limit_bytes: resource.memory_mb << 20,
        };
        let limits = self.policy.limits(self.v2, resource);
        for (i, file, value, required) in settings(self.v2, &limits) {
            let path = group.dirs[i].join(file);
            match write(&path, &value) {
                Ok(()) => {}
                Err(_) if !required => {}
                Err(e) => {
                    group.remove(Duration::from_millis(200));
                    return Err(at(&path, e));
                }
            }
        }
        Ok(group)
    }

    /// Removes the NM's own group(s) (containers' groups first), and the shared
    /// `<hierarchy>` groups when no other NM uses them; at shutdown.
    pub fn remove_all(&self) {
        for d in &self.nm_dirs {
            remove_tree(d, Duration::from_secs(2));
        }
        self.remove_shared();
    }

    /// Removes `<hierarchy>` unless another NM's groups are in it (then it is busy).
    fn remove_shared(&self) {
        for d in &self.shared {
            for level in d.ancestors().take(self.depth()) {
                if std::fs::remove_dir(level).is_err() {
                    break;
                }
            }
        }
    }

    /// How many levels `<hierarchy>` has.
    fn depth(&self) -> usize {
        self.nm_dirs[0]
            .strip_prefix(self.shared[0].parent().unwrap_or(Path::new("/")))
            .map_or(1, |p| p.components().count().saturating_sub(1))
    }
}

impl Drop for Cgroups {
    /// An NM that goes without its graceful stop (a test's, dropped) leaves no empty
    /// groups: its own group goes if it is empty (never waiting), and the shared one if
    /// no other NM uses it.
    fn drop(&mut self) {
        for d in &self.nm_dirs {
            let _ = std::fs::remove_dir(d);
        }
        self.remove_shared();
    }
}

/// One container's group (v2: one directory; v1: its memory and cpu directories).
#[derive(Debug)]
pub struct ContainerGroup {
    v2: bool,
    dirs: Vec<PathBuf>,
    limit_bytes: u64,
}

impl ContainerGroup {
    /// The `cgroup.procs` files the child writes itself into before it execs.
    pub fn procs_files(&self) -> Vec<CString> {
        self.dirs
            .iter()
            .filter_map(|d| {
                CString::new(d.join("cgroup.procs").into_os_string().into_encoded_bytes()).ok()
            })
            .collect()
    }

    pub fn limit_bytes(&self) -> u64 {
        self.limit_bytes
    }

    /// Processes in the group.
    pub fn pids(&self) -> Vec<i32> {
        let mut out: Vec<i32> = self
            .dirs
            .iter()
            .filter_map(|d| read(&d.join("cgroup.procs")).ok())
            .flat_map(|t| {
                t.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Sends `sig` to every process in the group.
    pub fn signal(&self, sig: i32) {
        for pid in self.pids() {
            if pid > 1 {
                // SAFETY: kill only sends a signal; a pid gone since is ESRCH.
                unsafe {
                    libc::kill(pid, sig);
                }
            }
        }
    }

    /// Kills every process in the group: v2 `cgroup.kill` where the kernel has it,
    /// else SIGKILL to each process (once; [`Self::remove`] repeats until it is empty).
    pub fn kill(&self) {
        if self.v2 && write(&self.dirs[0].join("cgroup.kill"), "1").is_ok() {
            return;
        }
        self.signal(libc::SIGKILL);
    }

    /// The kernel's OOM kills in the group and its peak memory use.
    pub fn oom(&self) -> OomReport {
        let d = &self.dirs[0];
        if self.v2 {
            OomReport {
                kills: read(&d.join("memory.events"))
                    .ok()
                    .and_then(|t| parse_memory_events(&t))
                    .unwrap_or(0),
                peak_bytes: number(&d.join("memory.peak"))
                    .or_else(|| number(&d.join("memory.current")))
                    .unwrap_or(0),
            }
        } else {
            OomReport {
                kills: read(&d.join("memory.oom_control"))
                    .ok()
                    .and_then(|t| parse_oom_control(&t))
                    .unwrap_or(0),
                peak_bytes: number(&d.join("memory.max_usage_in_bytes")).unwrap_or(0),
            }
        }
    }

    /// Kills what is left and removes the group, trying for at most `bound`; false
    /// when a process would not go (the group is left behind, and logged).
    pub fn remove(&self, bound: Duration) -> bool {
        let mut ok = true;
        for d in &self.dirs {
            ok &= remove_tree(d, bound);
        }
        ok
    }
}

/// Kills every process under `dir` until it is empty, then removes it and its subgroups;
/// false if that did not happen within `bound`.
fn remove_tree(dir: &Path, bound: Duration) -> bool {
    if !dir.exists() {
        return true;
    }
    let deadline = Instant::now() + bound;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(
                    &e.path(),
                    deadline.saturating_duration_since(Instant::now()),
                );
            }
        }
    }
    loop {
        let pids: Vec<i32> = read(&dir.join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default();
        for pid in &pids {
            if *pid > 1 {
                // SAFETY: kill only sends a signal.
                unsafe {
                    libc::kill(*pid, libc::SIGKILL);
                }
            }
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return true,
            Err(e) => {
                if Instant::now() >= deadline {
                    tracing::warn!(group = %dir.display(), error = %e, "cannot remove a container's cgroup");
                    return false;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Removes the groups of node managers that are gone (their pid is not alive).
fn sweep(parent: &Path) {
    let Ok(rd) = std::fs::read_dir(parent) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(nm_group_pid) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            tracing::info!(group = %e.path().display(), "removing the cgroup of a node manager that is gone");
            remove_tree(&e.path(), Duration::from_secs(2));
        }
    }
}

fn enable_v2(dir: &Path) -> Result<(), String> {
    let control = dir.join("cgroup.subtree_control");
    let on = read(&control).unwrap_or_default();
    let on: Vec<&str> = on.split_whitespace().collect();
    if on.contains(&"memory") && on.contains(&"cpu") {
        return Ok(());
    }
    write(&control, "+memory +cpu").map_err(|e| format!("{}: {e}", control.display()))
}

/// Sets a group's weight to `w` unless it already has more (groups shared by several NMs).
fn raise_weight(file: &Path, w: u64) {
    if number(file).is_none_or(|cur| cur < w) {
        let _ = write(file, &w.to_string());
    }
}

fn make_dir(d: &Path) -> Result<(), String> {
    match std::fs::create_dir(d) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("creating {}: {e}", d.display())),
    }
}

fn read(p: &Path) -> io::Result<String> {
    std::fs::read_to_string(p)
}

fn number(p: &Path) -> Option<u64> {
    read(p).ok()?.trim().parse().ok()
}

fn write(p: &Path, v: &str) -> io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .open(p)?
        .write_all(v.as_bytes())
}

fn at(p: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", p.display()))
}

/// Writes this process into each of `procs` (`cgroup.procs` paths; "0" means the
/// writer). Runs in the child between fork and exec: async-signal-safe calls only.
pub(crate) fn join_in_child(procs: &[CString]) -> io::Result<()> {
    for p in procs {
        // SAFETY: open/write/close are async-signal-safe; p is a valid C string.
        unsafe {
            let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let n = libc::write(fd, b"0".as_ptr().cast(), 1);
            let err = io::Error::last_os_error();
            libc::close(fd);
            if n != 1 {
                return Err(err);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        enforce_memory: true,
        strict_cpu: false,
        node_vcores: 8,
        host_cpus: 2,
    };

    #[test]
    fn limits_follow_the_allocation() {
        let r = Resource::new(1408, 3);
        let v1 = POLICY.limits(false, r);
        assert_eq!(
            v1,
            Limits {
                memory_bytes: Some(1408 << 20),
                cpu_weight: 3072,
                cpu_quota_us: None
            }
        );
        assert_eq!(POLICY.limits(true, r).cpu_weight, 300);
        assert_eq!(v1_shares(1), 1024);
        assert_eq!(v2_weight(0), 100, "at least one vcore's weight");
        assert_eq!(v2_weight(1000), 10_000, "within the kernel's range");
        let loose = Policy {
            enforce_memory: false,
            ..POLICY
        };
        assert_eq!(loose.limits(false, r).memory_bytes, None);
        assert_eq!(POLICY.node_weight(false), 8192);
        assert_eq!(POLICY.node_weight(true), 800);
    }

    #[test]
    fn strict_quotas_are_the_containers_share_of_the_host() {
        // 2 of 8 vcores on a 2-core host: half a core.
        assert_eq!(cpu_quota_us(2, 8, 2, CFS_PERIOD_US), 50_000);
        // 4 vcores of a 4-vcore node on 4 cores: 4 cores.
        assert_eq!(cpu_quota_us(4, 4, 4, CFS_PERIOD_US), 400_000);
        // Never below the kernel's 1 ms minimum.
        assert_eq!(cpu_quota_us(1, 1000, 1, CFS_PERIOD_US), 1_000);
        let strict = Policy {
            strict_cpu: true,
            ..POLICY
        };
        assert_eq!(
            strict.limits(false, Resource::new(64, 2)).cpu_quota_us,
            Some(50_000)
        );
    }

    #[test]
    fn settings_name_each_versions_files_in_order() {
        let l = Limits {
            memory_bytes: Some(64 << 20),
            cpu_weight: 1024,
            cpu_quota_us: Some(50_000),
        };
        let files = |v2, l: &Limits| -> Vec<(usize, &str, String)> {
            settings(v2, l)
                .into_iter()
                .map(|(i, f, v, _)| (i, f, v))
                .collect()
        };
        assert_eq!(
            files(false, &l),
            vec![
                (0, "memory.limit_in_bytes", "67108864".into()),
                (0, "memory.memsw.limit_in_bytes", "67108864".into()),
                (1, "cpu.shares", "1024".into()),
                (1, "cpu.cfs_period_us", "100000".into()),
                (1, "cpu.cfs_quota_us", "50000".into()),
            ]
        );
        let l2 = Limits {
            cpu_weight: 100,
            ..l.clone()
        };
        assert_eq!(
            files(true, &l2),
            vec![
                (0, "memory.max", "67108864".into()),
                (0, "memory.swap.max", "0".into()),
                (0, "memory.oom.group", "1".into()),
                (0, "cpu.weight", "100".into()),
                (0, "cpu.max", "50000 100000".into()),
            ]
        );
        // Swap and group-kill files may be missing; the limits may not.
        let optional: Vec<&str> = settings(true, &l2)
            .into_iter()
            .filter(|s| !s.3)
            .map(|s| s.1)
            .collect();
        assert_eq!(optional, vec!["memory.swap.max", "memory.oom.group"]);
    }

    #[test]
    fn oom_counters_are_read_from_either_version() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(parse_oom_control(v1), Some(2));
        assert_eq!(parse_oom_control("oom_kill_disable 0\nunder_oom 0\n"), None);
        let v2 = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 1\n";
        assert_eq!(parse_memory_events(v2), Some(1));
        assert_eq!(parse_memory_events("oom_group_kill 3\n"), None);
        assert_eq!(parse_memory_events(""), None);
    }

    #[test]
    fn mountinfo_finds_v2_and_the_v1_memory_and_cpu_hierarchies() {
        let text = "\
35 25 0:30 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
40 35 0:35 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:18 - cgroup cgroup rw,cpu,cpuacct
41 35 0:36 / /sys/fs/cgroup/cpuset rw,nosuid - cgroup cgroup rw,cpuset
42 35 0:37 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
43 25 0:38 / /mnt/with\\040space rw - ext4 /dev/vda rw
";
        assert_eq!(
            parse_mountinfo(text),
            Mounts {
                v2: Some("/sys/fs/cgroup/unified".into()),
                memory: Some("/sys/fs/cgroup/memory".into()),
                cpu: Some("/sys/fs/cgroup/cpu,cpuacct".into()),
            }
        );
        let pure_v2 = "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            parse_mountinfo(pure_v2),
            Mounts {
                v2: Some("/sys/fs/cgroup".into()),
                ..Mounts::default()
            }
        );
        assert_eq!(unescape("a\\040b"), "a b");
    }

    #[test]
    fn node_manager_groups_carry_their_pid() {
        assert_eq!(nm_group_name(8041, 4242), "nm-8041-4242");
        assert_eq!(nm_group_pid("nm-8041-4242"), Some(4242));
        for other in ["probe", "nm-x-1", "nm-8041", "container_1_0001_01_000001"] {
            assert_eq!(nm_group_pid(other), None, "{other}");
        }
    }
}
