//! The shuffle service over real QUIC + mutual TLS on loopback: map output
//! written in Spark's layout, registered, fetched in batches; secrets (set by
//! the node manager's registration of the app, never by the first executor),
//! block ids that escape, dirs outside the allowed roots, app cleanup, restarts.

use common::protocol::ErrorCode;
use common::tls::{init_cluster_certs, TlsFiles, TlsIdentity};
use common::ApplicationId;
use shuffle_service::layout::{self, write_map_output};
use shuffle_service::{FetchError, Handle, ServerConfig, ShuffleClient};
use spindle_tests::xorshift;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

const ADMIN: &str = "admin-token-for-tests";

struct Env {
    dir: tempfile::TempDir,
    node: TlsIdentity,
    container: TlsIdentity,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        init_cluster_certs(&certs, "test", "127.0.0.1:0", &[]).unwrap();
        let node = TlsIdentity::load(&TlsFiles::in_dir(&certs, "node")).unwrap();
        let container = TlsIdentity::load(&TlsFiles::in_dir(&certs, "container")).unwrap();
        std::fs::create_dir_all(dir.path().join("local")).unwrap();
        Self {
            dir,
            node,
            container,
        }
    }

    /// The NM local dir: the service's allowed root.
    fn root(&self) -> PathBuf {
        self.dir.path().join("local")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// An executor's shuffle dir, where the NM would put it.
    fn exec_dir(&self, app: ApplicationId, exec: &str) -> PathBuf {
        let d = app_cache(&self.root(), app).join(format!("container_{exec}/shuffle"));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// An executor's shuffle dir holding map outputs `maps` of `shuffle` with `reduces` blocks.
    fn maps(
        &self,
        app: ApplicationId,
        exec: &str,
        shuffle: u32,
        maps: std::ops::Range<u64>,
        reduces: u32,
    ) -> PathBuf {
        let d = self.exec_dir(app, exec);
        write_maps(&d, shuffle, maps, reduces);
        d
    }

    async fn server(&self, state: bool) -> Handle {
        let mut config = ServerConfig::new("127.0.0.1:0", self.node.clone(), vec![self.root()]);
        config.state_dir = state.then(|| self.state());
        config.admin_token = Some(ADMIN.into());
        shuffle_service::start(config).await.unwrap()
    }

    fn client(&self) -> ShuffleClient {
        ShuffleClient::new(&self.container).unwrap()
    }
}

/// The app's directory under an NM local dir (user `test`'s).
fn app_cache(local_dir: &Path, app: ApplicationId) -> PathBuf {
    local_dir
        .join("usercache/test/appcache")
        .join(app.to_string())
}

/// A fresh env and its server (no state dir), with the server's address.
async fn serving() -> (Env, Handle, String) {
    let env = Env::new();
    let server = env.server(false).await;
    let s = addr(&server);
    (env, server, s)
}

fn app(seq: u32) -> ApplicationId {
    ApplicationId {
        cluster_ts: 1_700_000_000_000,
        seq,
    }
}

fn addr(h: &Handle) -> String {
    h.addr().to_string()
}

/// Shuts the server down and drops it.
async fn stop(h: Handle) {
    h.shutdown().await;
    drop(h);
}

/// A fresh env whose app 1 has map outputs `maps` of `shuffle` with `reduces` blocks each in
/// executor 1's dir, which a client registered (secret `k`) with a server with a state dir,
/// now stopped: (env, that client, the app, the address the server had).
async fn registered_then_stopped(
    shuffle: u32,
    maps: std::ops::Range<u64>,
    reduces: u32,
) -> (Env, ShuffleClient, ApplicationId, String) {
    let env = Env::new();
    let a = app(1);
    let d = env.maps(a, "1", shuffle, maps, reduces);
    let c = env.client();
    let first = env.server(true).await;
    let s = addr(&first);
    first.register_app(a, "k").await.unwrap();
    c.register(&s, a, "1", "k", &[&d]).await.unwrap();
    stop(first).await;
    (env, c, a, s)
}

/// Deterministic bytes for (shuffle, map, reduce), sizes from 0 to ~300 KiB.
fn block_bytes(s: u32, m: u64, r: u32) -> Vec<u8> {
    let mut x = (u64::from(s) << 40) ^ (m << 20) ^ u64::from(r) ^ 0x9e37_79b9_7f4a_7c15;
    let len = if r.is_multiple_of(5) {
        0
    } else {
        (x % 300_000) as usize
    };
    (0..len).map(|_| xorshift(&mut x) as u8).collect()
}

fn write_maps(dir: &Path, shuffle: u32, maps: std::ops::Range<u64>, reduces: u32) {
    for m in maps {
        let parts: Vec<Vec<u8>> = (0..reduces).map(|r| block_bytes(shuffle, m, r)).collect();
        let sizes = write_map_output(dir, shuffle, m, &parts).unwrap();
        assert_eq!(
            sizes,
            parts.iter().map(|p| p.len() as u64).collect::<Vec<_>>()
        );
    }
}

fn code(e: &FetchError) -> Option<ErrorCode> {
    e.code()
}

/// Asserts that `r` is an error with code `want` (the error in the message); returns it.
#[track_caller]
fn refused<T: Debug>(r: Result<T, FetchError>, want: ErrorCode) -> FetchError {
    let e = r.unwrap_err();
    assert_eq!(code(&e), Some(want), "{e}");
    e
}

/// Block names as the client takes them.
fn names(blocks: &[&str]) -> Vec<String> {
    blocks.iter().map(|b| b.to_string()).collect()
}

/// Asserts that executor 1 of `a` is served block (shuffle, map, reduce) by `server`, whole.
async fn assert_serves(
    c: &ShuffleClient,
    server: &str,
    a: ApplicationId,
    secret: &str,
    (shuffle, map, reduce): (u32, u64, u32),
) {
    let block = format!("shuffle_{shuffle}_{map}_{reduce}");
    let got = c.fetch(server, a, "1", secret, &[block]).await.unwrap();
    assert_eq!(got, vec![block_bytes(shuffle, map, reduce)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_blocks_in_one_request_come_back_byte_for_byte() {
    let (env, server, s) = serving().await;
    let a = app(1);
    let d1 = env.maps(a, "1", 0, 0..6, 16);
    let d2 = env.maps(a, "2", 0, 6..8, 16);
    let client = env.client();
    server.register_app(a, "s3cret").await.unwrap();
    client.register(&s, a, "1", "s3cret", &[&d1]).await.unwrap();
    // A second executor of the same app, registering with a path that is not canonical.
    let messy = d2.join("..").join("shuffle");
    client
        .register(&s, a, "2", "s3cret", &[messy])
        .await
        .unwrap();
    // Every block of executor 1 in one request, in a scrambled order.
    let mut ids: Vec<(u64, u32)> = (0..6).flat_map(|m| (0..16).map(move |r| (m, r))).collect();
    ids.sort_by_key(|(m, r)| (r * 7 + *m as u32 * 3) % 11);
    let blocks: Vec<String> = ids
        .iter()
        .map(|(m, r)| format!("shuffle_0_{m}_{r}"))
        .collect();
    let got = client.fetch(&s, a, "1", "s3cret", &blocks).await.unwrap();
    assert_eq!(got.len(), blocks.len());
    for ((m, r), data) in ids.iter().zip(&got) {
        assert!(
            *data == block_bytes(0, *m, *r),
            "block shuffle_0_{m}_{r} differs"
        );
    }
    // The same through one and three parallel connections, and executor 2's blocks.
    let one = ShuffleClient::with_connections(&env.container, 1).unwrap();
    let got1 = one.fetch(&s, a, "1", "s3cret", &blocks).await.unwrap();
    assert!(got1 == got);
    let two = ShuffleClient::with_connections(&env.container, 3).unwrap();
    let got2 = two.fetch(&s, a, "1", "s3cret", &blocks).await.unwrap();
    assert!(got2 == got);
    let ids2: Vec<shuffle_service::BlockId> = (6..8)
        .map(|m| shuffle_service::BlockId::new(0, m, 3))
        .collect();
    let got = two.fetch_ids(&s, a, "2", "s3cret", &ids2).await.unwrap();
    assert_eq!(got, vec![block_bytes(0, 6, 3), block_bytes(0, 7, 3)]);
    // Executor 1 does not serve executor 2's maps.
    let e = client
        .fetch(&s, a, "1", "s3cret", &names(&["shuffle_0_6_3"]))
        .await;
    let e = refused(e, ErrorCode::UnknownFile);
    assert_eq!(e.block(), Some("shuffle_0_6_3"));
    assert!(e.to_string().contains(&s), "{e}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_missing_or_other_apps_secret_is_refused() {
    let (env, server, s) = serving().await;
    let (a, b) = (app(1), app(2));
    let da = env.maps(a, "1", 0, 0..1, 4);
    let db = env.maps(b, "1", 0, 0..1, 4);
    let c = env.client();
    server.register_app(a, "secret-a").await.unwrap();
    server.register_app(b, "secret-b").await.unwrap();
    c.register(&s, a, "1", "secret-a", &[&da]).await.unwrap();
    c.register(&s, b, "1", "secret-b", &[&db]).await.unwrap();
    let block = names(&["shuffle_0_0_1"]);
    assert_serves(&c, &s, a, "secret-a", (0, 0, 1)).await;
    for secret in ["wrong", "", "secret-b"] {
        let e = c.fetch(&s, a, "1", secret, &block).await.unwrap_err();
        assert_eq!(code(&e), Some(ErrorCode::Unauthorized), "{secret:?}: {e}");
        assert!(matches!(e, FetchError::Refused { .. }), "{e:?}");
    }
    // Later registrations must present the app's secret too.
    let unauthorized = ErrorCode::Unauthorized;
    refused(
        c.register(&s, a, "2", "secret-b", &[&da]).await,
        unauthorized,
    );
    refused(c.register(&s, app(3), "1", "", &[&da]).await, unauthorized);
    // Removing a shuffle needs the secret as well.
    refused(c.remove_shuffle(&s, a, "secret-b", 0).await, unauthorized);
    assert!(layout::data_path(&da, 0, 0).exists());
    // An unknown app or executor.
    let unknown = ErrorCode::UnknownApplication;
    refused(c.fetch(&s, app(9), "1", "x", &block).await, unknown);
    refused(c.fetch(&s, a, "7", "secret-a", &block).await, unknown);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_secret_is_set_by_its_node_manager_never_by_the_first_executor() {
    let (env, server, s) = serving().await;
    let c = env.client();
    let (victim, other) = (app(1), app(2));
    // Another app's executor (any holder of the container certificate) claims the
    // victim's id first, with a dir it can make in its own app dir: refused.
    let claim = env.exec_dir(other, "9").join(victim.to_string());
    std::fs::create_dir_all(&claim).unwrap();
    let e = refused(
        c.register(&s, victim, "1", "mallory", &[&claim]).await,
        ErrorCode::Unauthorized,
    );
    assert!(e.to_string().contains("not registered"), "{e}");
    // Registering an app over the wire takes the admin token.
    for token in ["", "mallory", "victim-secret"] {
        let e = c.register_app(&s, victim, "mallory", token).await;
        refused(e, ErrorCode::Unauthorized);
    }
    // The NM registers it with the RM's secret; again is a no-op, another secret is refused.
    c.register_app(&s, victim, "victim-secret", ADMIN)
        .await
        .unwrap();
    c.register_app(&s, victim, "victim-secret", ADMIN)
        .await
        .unwrap();
    let e = c.register_app(&s, victim, "mallory", ADMIN).await;
    refused(e, ErrorCode::Unauthorized);
    let e = server.register_app(victim, "mallory").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Unauthorized);
    // The claim still fails; the victim's executors register and are served.
    let e = c.register(&s, victim, "1", "mallory", &[&claim]).await;
    refused(e, ErrorCode::Unauthorized);
    let d = env.maps(victim, "1", 0, 0..1, 3);
    c.register(&s, victim, "1", "victim-secret", &[&d])
        .await
        .unwrap();
    assert_serves(&c, &s, victim, "victim-secret", (0, 0, 1)).await;
    let e = c
        .fetch(&s, victim, "1", "mallory", &names(&["shuffle_0_0_1"]))
        .await;
    refused(e, ErrorCode::Unauthorized);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaping_and_garbage_block_ids_are_refused_by_name() {
    let (env, server, s) = serving().await;
    let a = app(1);
    let d = env.maps(a, "1", 0, 0..2, 4);
    // A file an escaping id could aim at.
    std::fs::write(d.parent().unwrap().join("private"), b"not yours").unwrap();
    let c = env.client();
    server.register_app(a, "k").await.unwrap();
    c.register(&s, a, "1", "k", &[&d]).await.unwrap();
    for bad in [
        "../private",
        "shuffle_0_0_1/../../private",
        "/etc/passwd",
        "shuffle_0_0_..",
        "garbage",
        "shuffle_0_0",
        "shuffle_0_00_1",
        "",
    ] {
        let blocks = names(&["shuffle_0_0_1", bad, "shuffle_0_1_1"]);
        let e = c.fetch(&s, a, "1", "k", &blocks).await.unwrap_err();
        assert_eq!(code(&e), Some(ErrorCode::BadRequest), "{bad:?}: {e}");
        assert_eq!(e.block(), Some(bad), "{e}");
        assert!(matches!(e, FetchError::Block { .. }), "{e:?}");
        assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
    }
    // Well-formed but missing: named too.
    for missing in ["shuffle_9_0_1", "shuffle_0_0_4"] {
        let blocks = names(&["shuffle_0_0_1", missing]);
        let e = c.fetch(&s, a, "1", "k", &blocks).await.unwrap_err();
        assert_eq!(code(&e), Some(ErrorCode::UnknownFile), "{missing}: {e}");
        assert_eq!(e.block(), Some(missing));
    }
    // The connection is still good afterwards.
    assert_serves(&c, &s, a, "k", (0, 1, 2)).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dirs_outside_the_allowed_roots_or_the_apps_dirs_are_refused() {
    let (env, server, s) = serving().await;
    let (a, b) = (app(1), app(2));
    let c = env.client();
    let outside = env.dir.path().join("elsewhere").join(a.to_string());
    std::fs::create_dir_all(&outside).unwrap();
    let link = app_cache(&env.root(), a).join("link");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let other_app = env.exec_dir(b, "1");
    server.register_app(a, "k").await.unwrap();
    let cases: Vec<(PathBuf, ErrorCode)> = vec![
        (outside.clone(), ErrorCode::Unauthorized),
        (link, ErrorCode::Unauthorized),
        (PathBuf::from("/etc"), ErrorCode::Unauthorized),
        // Inside the root, but another application's directory.
        (other_app, ErrorCode::Unauthorized),
        (env.root(), ErrorCode::Unauthorized),
        (
            env.exec_dir(a, "1")
                .join("../../../../..")
                .join("elsewhere"),
            ErrorCode::BadRequest,
        ),
        (PathBuf::from("relative/dir"), ErrorCode::BadRequest),
        (
            env.root().join("usercache/none").join(a.to_string()),
            ErrorCode::BadRequest,
        ),
    ];
    for (dir, want) in cases {
        let e = c.register(&s, a, "1", "k", &[&dir]).await.unwrap_err();
        assert_eq!(code(&e), Some(want), "{}: {e}", dir.display());
    }
    // None of that registered anything: the app is still unknown.
    let e = c.fetch(&s, a, "1", "k", &names(&["shuffle_0_0_0"])).await;
    refused(e, ErrorCode::UnknownApplication);
    c.register(&s, a, "1", "k", &[env.exec_dir(a, "1")])
        .await
        .unwrap();
    server.shutdown().await;
}

fn shuffle_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("shuffle_"))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_finished_and_remove_shuffle_delete_files() {
    let (env, server, s) = serving().await;
    let (a, b) = (app(1), app(2));
    let c = env.client();
    let d1 = env.maps(a, "1", 0, 0..2, 3);
    write_maps(&d1, 1, 0..2, 3);
    let d2 = env.maps(a, "2", 1, 2..3, 3);
    let db = env.maps(b, "1", 0, 0..1, 3);
    server.register_app(a, "ka").await.unwrap();
    server.register_app(b, "kb").await.unwrap();
    c.register(&s, a, "1", "ka", &[&d1]).await.unwrap();
    c.register(&s, a, "2", "ka", &[&d2]).await.unwrap();
    c.register(&s, b, "1", "kb", &[&db]).await.unwrap();
    // RemoveShuffle takes that shuffle in all the app's dirs, nothing else.
    assert_eq!(c.remove_shuffle(&s, a, "ka", 1).await.unwrap(), 6);
    assert_eq!(
        shuffle_files(&d1),
        [
            "shuffle_0_0_0.data",
            "shuffle_0_0_0.index",
            "shuffle_0_1_0.data",
            "shuffle_0_1_0.index"
        ]
    );
    assert!(shuffle_files(&d2).is_empty());
    // AppFinished over the wire needs the admin token, not an app secret.
    for token in ["ka", "", "nope"] {
        refused(c.app_finished(&s, a, token).await, ErrorCode::Unauthorized);
    }
    assert_eq!(c.app_finished(&s, a, ADMIN).await.unwrap(), 4);
    assert!(shuffle_files(&d1).is_empty(), "files still on disk");
    let e = c.fetch(&s, a, "1", "ka", &names(&["shuffle_0_0_0"])).await;
    refused(e, ErrorCode::UnknownApplication);
    // Other apps are untouched; the in-process call does the same.
    assert_eq!(shuffle_files(&db).len(), 2);
    assert_eq!(server.app_finished(b).await.unwrap(), 2);
    assert!(shuffle_files(&db).is_empty());
    // The app id can be used again with a new secret (it was forgotten).
    server.register_app(a, "new").await.unwrap();
    c.register(&s, a, "1", "new", &[&d1]).await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_survive_a_restart() {
    let (env, c, a, _) = registered_then_stopped(3, 0..2, 4).await;
    assert!(env.state().join(shuffle_service::STATE_FILE).is_file());
    // A new process would see only the store: same state dir, new port.
    let second = env.server(true).await;
    let s = addr(&second);
    let both = names(&["shuffle_3_1_1", "shuffle_3_0_3"]);
    let got = c.fetch(&s, a, "1", "k", &both).await.unwrap();
    assert_eq!(got, vec![block_bytes(3, 1, 1), block_bytes(3, 0, 3)]);
    let e = c.fetch(&s, a, "1", "other", &both[..1]).await;
    refused(e, ErrorCode::Unauthorized);
    // Forgetting is persisted too.
    second.app_finished(a).await.unwrap();
    stop(second).await;
    let third = env.server(true).await;
    let e = c.fetch(&addr(&third), a, "1", "k", &both[..1]).await;
    refused(e, ErrorCode::UnknownApplication);
    third.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_on_the_same_port_is_reached_again() {
    // The client's cached connection dies with the server; the next call reconnects.
    let (env, c, a, s) = registered_then_stopped(0, 0..1, 2).await;
    let mut config = ServerConfig::new(s.clone(), env.node.clone(), vec![env.root()]);
    config.state_dir = Some(env.state());
    let second = shuffle_service::start(config).await.unwrap();
    assert_serves(&c, &s, a, "k", (0, 0, 1)).await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_serves_its_own_blocks_in_memory() {
    // Shuffle service off: the executor runs the same server with no state dir.
    let env = Env::new();
    let a = app(4);
    let d = env.maps(a, "1", 0, 0..1, 3);
    let config = ServerConfig::new("127.0.0.1:0", env.container.clone(), vec![d.clone()]);
    let own = shuffle_service::start(config).await.unwrap();
    own.register_executor(a, "1", "k", &[&d]).await.unwrap();
    let c = env.client();
    assert_serves(&c, &addr(&own), a, "k", (0, 0, 2)).await;
    // No admin token configured: AppFinished over the wire is refused.
    let e = c.app_finished(&addr(&own), a, "").await;
    refused(e, ErrorCode::Unauthorized);
    assert_eq!(own.remove_shuffle(a, 0).await.unwrap(), 2);
    own.shutdown().await;
}

fn nm_config(env: &Env, name: &str, shuffle_address: &str) -> nodemanager::NmConfig {
    let certs = env.dir.path().join("certs");
    let nm = env.dir.path().join(name);
    nodemanager::NmConfig {
        address: "127.0.0.1:0".into(),
        // Nothing listens there: the NM keeps retrying in the background.
        rm_address: "127.0.0.1:9".into(),
        local_dir: nm.join("local"),
        log_dir: nm.join("logs"),
        ca: certs.join("ca.pem"),
        cert: certs.join("node.pem"),
        key: certs.join("node.key"),
        container_cert: certs.join("container.pem"),
        container_key: certs.join("container.key"),
        shuffle_service_address: shuffle_address.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_manager_hosts_the_service_on_a_free_port() {
    let env = Env::new();
    let config = nm_config(&env, "nm-1", "127.0.0.1:0");
    let nm = nodemanager::start(&config).await.unwrap();
    let served = nm.shuffle_service.clone().expect("aux service running");
    let port: u16 = served.rsplit_once(':').unwrap().1.parse().unwrap();
    assert_ne!(port, 0, "{served}");
    // An executor's dir under the NM's local dir registers and serves.
    let a = app(5);
    let d = app_cache(&config.local_dir, a).join("container_1/blockmgr-1");
    std::fs::create_dir_all(&d).unwrap();
    write_maps(&d, 0, 0..1, 2);
    let c = env.client();
    // What the NM does when it starts one of the app's containers.
    let service = nm.shuffle_service_node().expect("aux service");
    service.register_app(a, "k").await.unwrap();
    c.register(&served, a, "1", "k", &[&d]).await.unwrap();
    assert_serves(&c, &served, a, "k", (0, 0, 1)).await;
    // Outside the NM's local dir: refused.
    let e = c
        .register(&served, a, "1", "k", &[env.exec_dir(a, "2")])
        .await;
    refused(e, ErrorCode::Unauthorized);
    assert!(config.local_dir.join(shuffle_service::STATE_FILE).is_file());
    // A second NM on the same fixed port is refused at start, naming the key.
    let taken = nm_config(&env, "nm-2", &served);
    let e = nodemanager::start(&taken).await.err().expect("port taken");
    assert!(e.to_string().contains("shuffle-service-address"), "{e}");
    nm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_manager_tells_a_standalone_service_that_an_app_ended() {
    // The standalone binary's setup: admin token derived from the node key,
    // which the NM on the same host reads too.
    let env = Env::new();
    let key = env.dir.path().join("certs/node.key");
    let mut config = ServerConfig::new("127.0.0.1:0", env.node.clone(), vec![env.root()]);
    config.admin_token = Some(shuffle_service::admin_token_from_key(&key).unwrap());
    let standalone = shuffle_service::start(config).await.unwrap();
    let a = app(6);
    let d = env.maps(a, "1", 0, 0..2, 2);
    let nm_side = shuffle_service::NodeService::standalone(
        &format!("0.0.0.0:{}", standalone.addr().port()),
        &env.node,
        &key,
    )
    .unwrap();
    assert_eq!(nm_side.port(), standalone.addr().port());
    // The NM registers the app over the wire with the admin token.
    nm_side.register_app(a, "k").await.unwrap();
    env.client()
        .register(&addr(&standalone), a, "1", "k", &[&d])
        .await
        .unwrap();
    nm_side.app_finished(a).await;
    assert!(shuffle_files(&d).is_empty(), "files still on disk");
    // A different key derives a different token: refused.
    let other = env.dir.path().join("certs/container.key");
    let token = shuffle_service::admin_token_from_key(&other).unwrap();
    let e = env
        .client()
        .app_finished(&addr(&standalone), a, &token)
        .await;
    refused(e, ErrorCode::Unauthorized);
    standalone.shutdown().await;
}
