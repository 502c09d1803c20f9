//! Measuring containers: resident memory of every process in a container's
//! process group, read from `/proc` in one pass for all containers.

use std::collections::HashMap;

/// Parses `/proc/<pid>/stat` into (process group, resident pages).
pub fn parse_stat(stat: &str) -> Option<(i32, u64)> {
    // The command name is in parentheses and may hold spaces: fields count from after ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) pgrp(2) ... rss is field 24 overall, 21 here.
    let pgrp = f.get(2)?.parse().ok()?;
    let rss = f.get(21)?.parse().ok()?;
    Some((pgrp, rss))
}

/// Resident bytes per process group, for the groups in `groups`.
pub fn rss_by_group(groups: &[i32]) -> HashMap<i32, u64> {
    let page = page_size();
    let mut out: HashMap<i32, u64> = groups.iter().map(|g| (*g, 0)).collect();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((pgrp, pages)) = parse_stat(&stat) {
            if let Some(total) = out.get_mut(&pgrp) {
                *total += pages * page;
            }
        }
    }
    out
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as u64
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parens() {
        let s = "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 100 1000000 250 18446744073709551615";
        assert_eq!(parse_stat(s), Some((1234, 250)));
    }

    #[test]
    fn measures_own_group() {
        // SAFETY: getpgrp has no preconditions.
        let g = unsafe { libc::getpgrp() };
        let m = rss_by_group(&[g]);
        assert!(m[&g] > 1 << 20, "{m:?}");
    }
}
