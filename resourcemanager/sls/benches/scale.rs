//! `cargo bench -p spindle-sls`: the simulator at the issue's scale (10,000 nodes of
//! 8192 MB / 8 vcores, 2,000 apps of 200 containers of 2-20 s), printed beside the
//! figures measured before the scheduler's performance work (`baseline.txt`).

use sls::Options;

fn baseline() -> Vec<(String, String)> {
    include_str!("baseline.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn main() {
    let opts = Options::issue_scale();
    let s = match sls::run(&opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sls bench: {e}");
            std::process::exit(1);
        }
    };
    let before = baseline();
    let get = |k: &str| {
        before
            .iter()
            .find(|(key, _)| key == k)
            .map_or("-".to_string(), |(_, v)| v.clone())
    };
    let ratio = |b: &str, a: f64, higher_is_better: bool| match b.parse::<f64>() {
        Ok(b) if b > 0.0 && a > 0.0 => {
            let r = if higher_is_better { a / b } else { b / a };
            format!("{r:.1}x better")
        }
        _ => "-".into(),
    };
    println!(
        "in-process scheduler at 10,000 nodes (before = commit {})",
        get("commit")
    );
    println!(
        "{:<34} {:>12} {:>12} {:>14}",
        "figure", "before", "after", ""
    );
    let rows = [
        (
            "allocations per CPU second",
            "allocations_per_s",
            s.allocations_per_s() as f64,
            true,
            0,
        ),
        (
            "heartbeat handling p99 (ms)",
            "heartbeat_p99_ms",
            s.heartbeat_p99_ms,
            false,
            3,
        ),
        (
            "heartbeat handling median (ms)",
            "heartbeat_median_ms",
            s.heartbeat_median_ms,
            false,
            3,
        ),
        ("CPU seconds (user+system)", "cpu_s", s.cpu_s, false, 2),
    ];
    for (name, key, after, higher, digits) in rows {
        let b = get(key);
        println!(
            "{name:<34} {b:>12} {after:>12.digits$} {:>14}",
            ratio(&b, after, higher)
        );
    }
    println!(
        "{:<34} {:>12} {:>12}",
        "wire mode (1,000 NMs over QUIC)", "not built", "not built"
    );
}
