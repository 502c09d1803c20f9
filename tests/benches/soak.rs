//! The soak bench: short applications of mixed kinds (SparkPi 4, the seed job, Bursty
//! `--jobs 1 --tasks 8 --task-ms 100`, WordCount `--generate 20000`), about 10 at a
//! time, on a 3-NM local cluster, with an NM killed -9 and restarted a third of the way
//! through and the RM two thirds of the way. Prints apps succeeded (and the right
//! answers), RM and NM RSS after the first 100 apps and at the end, files left in the NM
//! dirs, and the longest any app took from submission to its end.
//!
//! `cargo build --release --workspace --bins && cargo bench -p spindle-tests --bench soak`
//! (`SOAK_APPS=200` for a shorter run; 1,000 by default).

use spindle_tests::{bin, text, Cluster};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One kind of app: its class, arguments, and a line its right answer prints.
struct Kind {
    class: &'static str,
    args: &'static [&'static str],
    answer: &'static str,
}

const KINDS: [Kind; 4] = [
    Kind {
        class: "SparkPi",
        args: &["4"],
        answer: "Pi is roughly 3.1",
    },
    Kind {
        class: "SeedRangeSquareCount",
        args: &[],
        answer: "1291890006563070912",
    },
    Kind {
        class: "Bursty",
        args: &[
            "--jobs",
            "1",
            "--tasks",
            "8",
            "--task-ms",
            "100",
            "--work",
            "sleep",
        ],
        answer: "",
    },
    Kind {
        class: "WordCount",
        args: &["--generate", "20000"],
        answer: "",
    },
];

/// One app's end: its number, whether it succeeded, with the right answer, and how long
/// it took from submission (s).
type Outcome = (usize, bool, bool, f64);

/// Resident memory of `pid` in MB.
fn rss_mb(pid: i32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The daemons' RSS: (RM, each NM).
fn daemons_rss(c: &Cluster) -> (f64, Vec<f64>) {
    let nms = (1..=3)
        .map(|i| rss_mb(c.pid(&format!("nodemanager-{i}"))))
        .collect();
    (rss_mb(c.pid("resourcemanager")), nms)
}

/// Files left under the NMs' app caches and recovery records.
fn leftovers(c: &Cluster) -> Vec<String> {
    let mut out = Vec::new();
    for i in 1..=3 {
        let local = c.path().join(format!("nm-{i}")).join("local");
        let users = std::fs::read_dir(local.join("usercache"));
        for u in users.into_iter().flatten().flatten() {
            for a in std::fs::read_dir(u.path().join("appcache"))
                .into_iter()
                .flatten()
                .flatten()
            {
                out.push(a.path().display().to_string());
            }
        }
        for r in std::fs::read_dir(local.join("nm-recovery"))
            .into_iter()
            .flatten()
            .flatten()
        {
            out.push(r.path().display().to_string());
        }
    }
    out
}

fn main() {
    let total: usize = std::env::var("SOAK_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let parallel = 10;
    let c = Arc::new(Cluster::up(3, &[]));
    let appmaster = bin("appmaster").display().to_string();
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let results: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let start = Instant::now();
    let workers: Vec<_> = (0..parallel)
        .map(|_| {
            let (c, next, done, results, appmaster) = (
                c.clone(),
                next.clone(),
                done.clone(),
                results.clone(),
                appmaster.clone(),
            );
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    return;
                }
                let kind = &KINDS[i % KINDS.len()];
                let mut args = vec!["--class", kind.class, appmaster.as_str()];
                args.extend(kind.args);
                let t0 = Instant::now();
                let out = c.submit(&args);
                let took = t0.elapsed().as_secs_f64();
                let t = text(&out);
                let ok = out.status.success();
                let right = ok && t.contains(kind.answer);
                if !ok {
                    eprintln!("app {i} ({}) failed:\n{t}", kind.class);
                }
                results.lock().unwrap().push((i, ok, right, took));
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let wait_for = |n: usize| {
        while done.load(Ordering::SeqCst) < n.min(total) {
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(total / 10);
    let (rm_first, nm_first) = daemons_rss(&c);
    wait_for(total / 3);
    eprintln!("kill -9 and restart nodemanager-2");
    c.kill_and_restart("nodemanager-2");
    wait_for(2 * total / 3);
    eprintln!("kill -9 and restart the resourcemanager");
    c.kill_and_restart("resourcemanager");
    for w in workers {
        w.join().unwrap();
    }
    let wall = start.elapsed().as_secs_f64();
    // The last cleanups (app directories go after the app's last container).
    std::thread::sleep(Duration::from_secs(5));
    let (rm_end, nm_end) = daemons_rss(&c);
    let left = leftovers(&c);
    let r = results.lock().unwrap();
    let succeeded = r.iter().filter(|x| x.1).count();
    let right = r.iter().filter(|x| x.2).count();
    let longest = r.iter().map(|x| x.3).fold(0.0, f64::max);
    println!("soak: {total} apps, {parallel} at a time, 3 NMs, one NM and the RM killed -9 and restarted");
    println!("apps succeeded: {succeeded}/{total} ({right} with the right answer) in {wall:.0} s");
    println!(
        "RM RSS: {rm_first:.1} MB after the first {} apps, {rm_end:.1} MB at the end ({:+.1} MB)",
        total / 10,
        rm_end - rm_first
    );
    println!("NM RSS: {nm_first:.1?} MB then {nm_end:.1?} MB (NM 2 restarted)");
    println!("files left in NM dirs: {}", left.len());
    for f in left.iter().take(10) {
        println!("  {f}");
    }
    println!("longest app, submission to end: {longest:.1} s");
}
