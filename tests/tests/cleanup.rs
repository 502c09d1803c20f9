//! An app that ends while one of its node managers is down has its directories removed
//! when that NM comes back: the NM names the apps it holds when it registers, and the
//! RM answers those that ended meanwhile.

use spindle_tests::{eventually, Cluster};
use std::path::PathBuf;
use std::time::Duration;

/// `app`'s directories under NM `i`'s app cache.
fn app_dirs(c: &Cluster, i: u32, app: &str) -> Vec<PathBuf> {
    let users = c
        .path()
        .join(format!("nm-{i}"))
        .join("local")
        .join("usercache");
    std::fs::read_dir(users)
        .into_iter()
        .flatten()
        .flatten()
        .map(|u| u.path().join("appcache").join(app))
        .filter(|p| p.exists())
        .collect()
}

#[test]
fn an_app_that_ended_while_its_node_manager_was_down_is_cleaned_when_it_returns() {
    let c = Cluster::up(2, &[]);
    let (run, app) = c.run_static_two_executor_app();
    // An NM that holds a directory of the app goes down.
    let i = eventually(Duration::from_secs(30), "an NM with the app's dirs", || {
        (1..=2).find(|i| !app_dirs(&c, *i, &app).is_empty())
    });
    let nm = format!("nodemanager-{i}");
    c.kill9(&nm);
    // The app ends meanwhile.
    let out = c.run(&["app", "kill", &app]);
    assert!(out.status.success(), "{}", spindle_tests::text(&out));
    drop(run);
    assert!(!app_dirs(&c, i, &app).is_empty(), "nothing to clean");
    // Back, the NM learns that the app ended and removes what it held.
    c.restart(&nm);
    eventually(Duration::from_secs(30), "the app's dirs to go", || {
        app_dirs(&c, i, &app).is_empty().then_some(())
    });
}
