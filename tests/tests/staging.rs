//! Staging under load: concurrent uploads of one binary to a cold RM are coalesced
//! into one, each succeeds, and no partial `.tmp` upload stays behind.

use spindle_tests::{bin, Cluster, NO_CONF};
use std::path::Path;
use std::time::Duration;

fn tmp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("staging dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn concurrent_uploads_of_one_binary_are_coalesced_and_leave_no_temp_file() {
    const CLIENTS: usize = 16;
    let c = Cluster::up(1, &[]);
    let binary = bin("appmaster");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let staged = rt.block_on(async {
        // Each its own connection, as separate spindle-submit processes would be.
        let mut uploads = tokio::task::JoinSet::new();
        for _ in 0..CLIENTS {
            let (rm, binary) = (c.rm_client(), binary.clone());
            uploads.spawn(async move { rm.stage_file(&binary, "appmaster", true).await });
        }
        tokio::time::timeout(Duration::from_secs(240), uploads.join_all())
            .await
            .expect("the uploads finished in time")
    });
    let digests: Vec<String> = staged
        .into_iter()
        .map(|r| r.expect("every upload succeeds").sha256)
        .collect();
    assert!(digests.iter().all(|d| *d == digests[0]));
    let dir = c.path().join("rm").join("staging");
    assert!(dir.join(&digests[0]).is_file());
    assert_eq!(tmp_files(&dir), Vec::<String>::new());
    // One upload carried the bytes; the others waited for it.
    let log = std::fs::read_to_string(c.path().join("logs/resourcemanager.log")).unwrap();
    let stored = log
        .lines()
        .filter(|l| l.contains("file staged") && l.contains(&digests[0]))
        .count();
    assert_eq!(stored, 1, "uploads of the binary stored: {stored}");
    // And a submission of it, the binary staged already, runs.
    let out = c.submit_ok(&spindle_tests::class_args(&[], NO_CONF, "SparkPi", &["2"]));
    assert!(out.contains("Pi is roughly"), "{out}");
}

#[test]
fn partial_uploads_a_crash_left_are_removed_when_the_rm_starts() {
    let c = Cluster::up(1, &[]);
    let dir = c.path().join("rm").join("staging");
    let leftover = dir.join(format!(".{}.7.tmp", "ab".repeat(32)));
    std::fs::write(&leftover, b"half an upload").unwrap();
    c.kill9("resourcemanager");
    c.restart("resourcemanager");
    spindle_tests::eventually(Duration::from_secs(20), "the RM to answer", || {
        c.run(&["node", "list"]).status.success().then_some(())
    });
    assert!(!leftover.exists(), "the partial upload is still there");
}
