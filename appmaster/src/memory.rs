//! This process's memory, for the peak-RSS line the driver and executors print at exit
//! (the benchmarks read it).

fn rss_peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

pub(crate) fn peak_rss_line(who: &str) -> String {
    format!("{who} peak RSS: {} KB", rss_peak_kb())
}
