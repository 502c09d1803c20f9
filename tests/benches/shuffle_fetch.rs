//! Shuffle fetch throughput through the shuffle service (QUIC + mutual TLS,
//! the Bulk transport profile) on loopback, next to a plain TCP copy of the
//! same bytes (no TLS) in the same run, with CPU-seconds per GB of both.
//!
//! `cargo bench -p spindle-tests --bench shuffle_fetch`
//!
//! 1 GiB of map output (16 maps x 16 reduce partitions of 4 MiB, Spark's
//! layout, in the page cache) is fetched by 16 reducers, each asking for its
//! partition of every map in one request, one reducer after another. Server
//! and client run in this process (2 tokio workers); CPU is getrusage of the
//! process (server + client), so it is the cost of both ends.
//! Runs go in rounds (each transport once per round) and the medians are shown.
//! Environment: `SHUFFLE_BENCH_MAPS`, `SHUFFLE_BENCH_MAP_MB`, `SHUFFLE_BENCH_RUNS` (default 5),
//! `SHUFFLE_BENCH_CONNS` (connection counts, default `1,2`), `SHUFFLE_BENCH_TCP=0`
//! (skips the TCP rows, to profile the shuffle service alone).

use common::tls::{init_cluster_certs, TlsFiles, TlsIdentity};
use common::ApplicationId;
use shuffle_service::layout::{self, MapOutputWriter};
use shuffle_service::{BlockId, ServerConfig, ShuffleClient};
use spindle_tests::xorshift;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokio::io::AsyncReadExt;

const REDUCES: u32 = 16;
const SECRET: &str = "bench-secret";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

#[derive(Clone, Copy)]
struct Run {
    secs: f64,
    cpu: f64,
    bytes: u64,
}

impl Run {
    fn gbps(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e9
    }
    fn cpu_per_gb(&self) -> f64 {
        self.cpu / (self.bytes as f64 / 1e9)
    }
}

/// The run with the median throughput.
fn median(runs: &[Run]) -> Run {
    let mut v = runs.to_vec();
    v.sort_by(|a, b| a.gbps().total_cmp(&b.gbps()));
    v[v.len() / 2]
}

async fn measure<F, Fut>(f: F) -> Run
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let c0 = cpu_seconds();
    let t0 = Instant::now();
    let bytes = f().await;
    Run {
        secs: t0.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - c0,
        bytes,
    }
}

/// Writes `maps` map outputs of `map_bytes` each (incompressible bytes).
fn write_maps(dir: &Path, maps: u64, map_bytes: usize) {
    let block = map_bytes / REDUCES as usize;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; block];
    for m in 0..maps {
        let mut w = MapOutputWriter::create(dir, 0, m, REDUCES).unwrap();
        for r in 0..REDUCES {
            for c in buf.chunks_mut(8) {
                c.copy_from_slice(&xorshift(&mut x).to_le_bytes()[..c.len()]);
            }
            w.write_partition(r, &buf).unwrap();
        }
        w.commit().unwrap();
    }
}

/// Reads every map output once so both transports start from the page cache.
fn warm(dir: &Path, maps: u64) -> u64 {
    (0..maps)
        .map(|m| std::fs::read(layout::data_path(dir, 0, m)).unwrap().len() as u64)
        .sum()
}

/// Every reducer fetches its partition of every map in one request.
async fn fetch_all(client: &ShuffleClient, server: &str, app: ApplicationId, maps: u64) -> u64 {
    let mut total = 0u64;
    for r in 0..REDUCES {
        let ids: Vec<BlockId> = (0..maps).map(|m| BlockId::new(0, m, r)).collect();
        let blocks = client
            .fetch_ids(server, app, "1", SECRET, &ids)
            .await
            .expect("fetch");
        total += blocks.iter().map(|b| b.len() as u64).sum::<u64>();
    }
    total
}

/// The plain TCP baseline: the same blocks, in the same order, read from the
/// same files with one reused 1 MiB buffer and written to the socket by a
/// blocking thread; the client (a tokio TcpStream) reads each block into its
/// own buffer (the shuffle client holds each block too, as quinn's chunks).
async fn tcp_copy(dir: PathBuf, maps: u64) -> u64 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sizes: Vec<Vec<u64>> = (0..maps)
        .map(|m| layout::read_lengths(&dir, 0, m).unwrap())
        .collect();
    let sizes2 = sizes.clone();
    let server = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let mut sock = sock.into_std().unwrap();
        sock.set_nonblocking(false).unwrap();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            use std::os::unix::fs::FileExt;
            let files: Vec<std::fs::File> = (0..maps)
                .map(|m| std::fs::File::open(layout::data_path(&dir, 0, m)).unwrap())
                .collect();
            let mut buf = vec![0u8; 1 << 20];
            for r in 0..REDUCES as usize {
                for (m, f) in files.iter().enumerate() {
                    let offset: u64 = sizes2[m][..r].iter().sum();
                    let len = sizes2[m][r];
                    let mut pos = 0;
                    while pos < len {
                        let n = (len - pos).min(buf.len() as u64) as usize;
                        f.read_exact_at(&mut buf[..n], offset + pos).unwrap();
                        sock.write_all(&buf[..n]).unwrap();
                        pos += n as u64;
                    }
                }
            }
        })
        .await
        .unwrap();
    });
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut total = 0u64;
    for r in 0..REDUCES as usize {
        for s in &sizes {
            let len = s[r] as usize;
            let mut block = Vec::with_capacity(len);
            while block.len() < len {
                let want = len - block.len();
                let n = (&mut sock)
                    .take(want as u64)
                    .read_buf(&mut block)
                    .await
                    .unwrap();
                assert!(n > 0, "TCP stream ended early");
            }
            total += block.len() as u64;
        }
    }
    server.await.unwrap();
    total
}

/// `SHUFFLE_BENCH_CONNS`: the connection counts to measure, comma-separated (default 1,2).
fn conn_counts() -> Vec<usize> {
    let v: Vec<usize> = std::env::var("SHUFFLE_BENCH_CONNS")
        .unwrap_or_default()
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .filter(|&c| c > 0)
        .collect();
    if v.is_empty() {
        vec![1, 2]
    } else {
        v
    }
}

fn main() {
    let maps = env_or("SHUFFLE_BENCH_MAPS", 16);
    let map_mb = env_or("SHUFFLE_BENCH_MAP_MB", 64);
    let runs = env_or("SHUFFLE_BENCH_RUNS", 5).max(1) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::Builder::new()
        .prefix("spindle-shuffle-bench-")
        .tempdir()
        .unwrap();
    let certs = tmp.path().join("certs");
    init_cluster_certs(&certs, "bench", "127.0.0.1:0", &[]).unwrap();
    let node = TlsIdentity::load(&TlsFiles::in_dir(&certs, "node")).unwrap();
    let container = TlsIdentity::load(&TlsFiles::in_dir(&certs, "container")).unwrap();
    let app = ApplicationId::new(1, 1);
    let root = tmp.path().join("local");
    let dir = root
        .join("usercache/bench/appcache")
        .join(app.to_string())
        .join("blockmgr-1");
    std::fs::create_dir_all(&dir).unwrap();
    write_maps(&dir, maps, (map_mb << 20) as usize);
    let total = warm(&dir, maps);
    println!(
        "shuffle fetch: {maps} maps x {REDUCES} reduce partitions, {:.0} MiB total, {REDUCES} fetch requests of {maps} blocks of {:.1} MiB",
        total as f64 / (1u64 << 20) as f64,
        (map_mb as f64) / REDUCES as f64,
    );
    rt.block_on(async {
        let server = shuffle_service::start(ServerConfig::new(
            "127.0.0.1:0",
            node.clone(),
            vec![root.clone()],
        ))
        .await
        .unwrap();
        let addr = server.addr().to_string();
        // What the NM does before it starts the app's containers.
        server.register_app(app, SECRET).await.unwrap();
        // One client per connection count, registered and warmed up (one untimed pass:
        // handshakes, MTU discovery, windows, and the allocator's heap).
        let mut clients = Vec::new();
        for conns in conn_counts() {
            let client = ShuffleClient::with_connections(&container, conns).unwrap();
            client
                .register(&addr, app, "1", SECRET, std::slice::from_ref(&dir))
                .await
                .unwrap();
            fetch_all(&client, &addr, app, maps).await;
            clients.push((conns, client, Vec::new()));
        }
        // Rounds of one run each, side by side, so a busy spell of this noisy machine
        // falls on every transport alike.
        let mut tcp = Vec::new();
        for _ in 0..runs {
            for (_, client, v) in &mut clients {
                let r = measure(|| fetch_all(client, &addr, app, maps)).await;
                assert_eq!(r.bytes, total);
                v.push(r);
            }
            if std::env::var("SHUFFLE_BENCH_TCP").is_ok_and(|v| v == "0") {
                continue;
            }
            let r = measure(|| tcp_copy(dir.clone(), maps)).await;
            assert_eq!(r.bytes, total);
            tcp.push(r);
        }
        let mut rows: Vec<(String, Vec<Run>)> = Vec::new();
        for (conns, client, v) in clients {
            if std::env::var_os("SHUFFLE_BENCH_STATS").is_some() {
                for (server, st) in client.connection_stats() {
                    println!(
                        "  {server}: mtu {} rtt {:?} cwnd {} lost {} sent {} udp_rx {} udp_tx {}",
                        st.path.current_mtu,
                        st.path.rtt,
                        st.path.cwnd,
                        st.path.lost_packets,
                        st.path.sent_packets,
                        st.udp_rx.datagrams,
                        st.udp_tx.datagrams
                    );
                }
            }
            rows.push((format!("shuffle service, {conns} connection(s)"), v));
        }
        if tcp.is_empty() {
            for (name, v) in &rows {
                let m = median(v);
                println!("{name}: {:.2} GB/s, {:.2} CPU-s/GB", m.gbps(), m.cpu_per_gb());
            }
            server.shutdown().await;
            return;
        }
        let base = median(&tcp);
        rows.push(("plain TCP copy (no TLS)".into(), tcp));
        println!(
            "{:<34} {:>10} {:>8} {:>10} {:>12}   runs (GB/s)",
            "", "MB/s", "GB/s", "vs TCP", "CPU-s/GB"
        );
        for (name, v) in &rows {
            let m = median(v);
            println!(
                "{name:<34} {:>10.0} {:>8.2} {:>10.2} {:>12.2}   {}",
                m.gbps() * 1e3,
                m.gbps(),
                m.gbps() / base.gbps(),
                m.cpu_per_gb(),
                v.iter()
                    .map(|r| format!("{:.2}", r.gbps()))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        println!("(medians of {runs} runs; MB = 10^6 bytes, GB = 10^9; CPU = user + system of server and client together)");
        server.shutdown().await;
    });
}
