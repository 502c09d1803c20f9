//! Replays the dynamic-allocation cases (the project's in `docs/dra-cases` and this
//! crate's own in `tests/dra-cases`) through the simulator and checks every expectation,
//! comparing as `dra-check` does; then runs `dra-check` itself on the real binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value};

const SHARED_CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/dra-cases");
const OWN_CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dra-cases");
const CHECKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/dra-check");

fn case_files(dir: &str) -> Option<Vec<PathBuf>> {
    let dir = Path::new(dir);
    if !dir.is_dir() {
        return None;
    }
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    files.sort();
    Some(files)
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn executors(state: &Value) -> &Map<String, Value> {
    state["executors"]
        .as_object()
        .expect("state has an executors map")
}

/// Executors timed out at `at`, sorted by id.
fn timed_out(state: &Value, at: &Value) -> Vec<String> {
    let at = at.as_f64().expect("timed_out.at is a number");
    let mut ids: Vec<String> = executors(state)
        .iter()
        .filter(|(_, e)| {
            e["deadline"].as_f64().is_some_and(|d| d <= at)
                && e["pending_removal"] != Value::Bool(true)
                && e["decommissioning"] != Value::Bool(true)
        })
        .map(|(id, _)| id.clone())
        .collect();
    ids.sort();
    ids
}

fn flagged(state: &Value, flag: &str) -> Vec<String> {
    let mut ids: Vec<String> = executors(state)
        .iter()
        .filter(|(_, e)| e[flag] == Value::Bool(true))
        .map(|(id, _)| id.clone())
        .collect();
    ids.sort();
    ids
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn ids_value(ids: &[String]) -> Value {
    Value::from(ids.to_vec())
}

/// The parts of one expectation the state does not meet, as `(key, expected, got)`.
fn check_expectation(x: &Map<String, Value>, st: &Value) -> Vec<(String, Value, Value)> {
    let mut failures = Vec::new();
    for (k, v) in x {
        let (ok, got) = match k.as_str() {
            "after_event_index" | "note" | "error" => continue,
            "target"
            | "num_to_add"
            | "max_needed"
            | "add_time"
            | "running_tasks"
            | "locality_aware_tasks"
            | "host_to_local_task_count" => {
                let got = st.get(k).cloned().unwrap_or(Value::Null);
                (json_eq(&got, v), got)
            }
            "add_timer" => {
                let got = if st["add_time"].is_null() {
                    "not_set"
                } else {
                    "set"
                };
                (v == got, Value::from(got))
            }
            "executor_count" => {
                let got = Value::from(executors(st).len());
                (json_eq(&got, v), got)
            }
            key if key.starts_with("to_remove") || key.starts_with("decommissioning") => {
                let flag = if key.starts_with("to_remove") {
                    "pending_removal"
                } else {
                    "decommissioning"
                };
                let got = flagged(st, flag);
                let ok = if key.ends_with("_count") {
                    json_eq(&Value::from(got.len()), v)
                } else if key.ends_with("_contains") {
                    strings(v).iter().all(|i| got.contains(i))
                } else if key.ends_with("_excludes") {
                    strings(v).iter().all(|i| !got.contains(i))
                } else {
                    let mut want = strings(v);
                    want.sort();
                    got == want
                };
                (ok, ids_value(&got))
            }
            "idle" => {
                let id = v["executor"].as_str().unwrap_or_default();
                let got = executors(st)
                    .get(id)
                    .map_or(Value::Null, |e| e["idle"].clone());
                (json_eq(&got, &v["value"]), got)
            }
            "timed_out" => {
                let got = timed_out(st, &v["at"]);
                let mut ok = true;
                if let Some(want) = v.get("executors") {
                    let mut want = strings(want);
                    if v.get("ordered") != Some(&Value::Bool(true)) {
                        want.sort();
                    }
                    ok = got == want;
                }
                if let Some(c) = v.get("contains") {
                    ok = ok && strings(c).iter().all(|i| got.contains(i));
                }
                if let Some(c) = v.get("excludes") {
                    ok = ok && strings(c).iter().all(|i| !got.contains(i));
                }
                if let Some(c) = v.get("count") {
                    ok = ok && json_eq(&Value::from(got.len()), c);
                }
                (ok, ids_value(&got))
            }
            "delta" | "removed" => {
                let got = st["returned"].clone();
                (json_eq(&got, v), got)
            }
            "removed_not_equal" => {
                let got = st["returned"].clone();
                (!json_eq(&got, v), got)
            }
            _ => (false, Value::from("unknown expectation kind")),
        };
        if !ok {
            failures.push((k.clone(), v.clone(), got));
        }
    }
    failures
}

fn check_case(case: &Value, out: Option<&Value>) -> Vec<String> {
    let Some(out) = out else {
        return vec!["simulator printed no line for this case".to_owned()];
    };
    let expectations: Vec<&Map<String, Value>> = case["expect"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let want_error = expectations
        .iter()
        .any(|x| x.get("error") == Some(&Value::Bool(true)));
    let error = &out["error"];
    if !error.is_null() && error != &Value::Bool(false) && error != "" {
        return if want_error {
            Vec::new()
        } else {
            vec![format!("unexpected config error: {error}")]
        };
    }
    if want_error {
        return vec!["expected a config error, none reported".to_owned()];
    }
    let states = out["states"].as_array().cloned().unwrap_or_default();
    let mut errs = Vec::new();
    for x in expectations {
        let i = &x["after_event_index"];
        let Some(st) = states.iter().find(|s| json_eq(&s["i"], i)) else {
            errs.push(format!("no state after event {i}"));
            continue;
        };
        for (k, v, got) in check_expectation(x, st) {
            errs.push(format!("after event {i}: {k} expected {v} got {got}"));
        }
    }
    errs
}

/// Runs one case file through the library's simulator; returns (cases, failure report).
fn check_file(path: &Path) -> (usize, Vec<String>) {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect();
    let outputs: Vec<Value> = am_core::simulate::run_lines(&text)
        .iter()
        .map(|l| serde_json::from_str(l).expect("simulator output is JSON"))
        .collect();
    assert_eq!(outputs.len(), cases.len(), "{}", path.display());
    let mut report = Vec::new();
    for case in &cases {
        let name = &case["name"];
        let out = outputs.iter().find(|o| &o["name"] == name);
        let errs = check_case(case, out);
        if !errs.is_empty() {
            report.push(format!("FAIL {} :: {name}", path.display()));
            report.extend(errs.into_iter().take(8).map(|e| format!("    {e}")));
        }
    }
    (cases.len(), report)
}

fn check_dir(dir: &str) -> Option<(usize, Vec<String>)> {
    let files = case_files(dir)?;
    let mut total = 0;
    let mut report = Vec::new();
    for file in files {
        let (n, r) = check_file(&file);
        total += n;
        report.extend(r);
    }
    Some((total, report))
}

#[test]
fn shared_cases_pass() {
    let Some((n, report)) = check_dir(SHARED_CASES) else {
        println!("skipping: {SHARED_CASES} does not exist");
        return;
    };
    println!("{n} shared cases, {} failing", report.len());
    assert!(report.is_empty(), "\n{}", report.join("\n"));
    assert!(n > 0, "no shared cases found");
}

#[test]
fn own_cases_pass() {
    let (n, report) = check_dir(OWN_CASES).expect("tests/dra-cases exists");
    println!("{n} own cases");
    assert!(report.is_empty(), "\n{}", report.join("\n"));
    assert!(n > 0, "no cases in tests/dra-cases");
}

#[test]
fn every_case_name_is_unique() {
    for dir in [SHARED_CASES, OWN_CASES] {
        let Some(files) = case_files(dir) else {
            continue;
        };
        let mut names = std::collections::BTreeSet::new();
        for file in files {
            for line in fs::read_to_string(&file).unwrap().lines() {
                if line.trim().is_empty() {
                    continue;
                }
                let case: Value = serde_json::from_str(line).unwrap();
                let name = case["name"].as_str().unwrap_or_default().to_owned();
                assert!(
                    names.insert(name.clone()),
                    "duplicate case name {name:?} in {dir}"
                );
            }
        }
    }
}

/// The checker shipped with the shared cases, run against the real CLI.
#[test]
fn dra_check_passes_on_the_binary() {
    if !Path::new(CHECKER).is_file() {
        println!("skipping: {CHECKER} does not exist");
        return;
    }
    if Command::new("python3").arg("--version").output().is_err() {
        println!("skipping: python3 is not available");
        return;
    }
    let mut dirs = vec![OWN_CASES];
    if Path::new(SHARED_CASES).is_dir() {
        dirs.push(SHARED_CASES);
    }
    for dir in dirs {
        for file in case_files(dir).unwrap_or_default() {
            let out = Command::new("python3")
                .arg(CHECKER)
                .arg(&file)
                .arg(env!("CARGO_BIN_EXE_appmaster"))
                .arg("simulate-allocation")
                .arg("--cases")
                .output()
                .expect("running dra-check");
            let stdout = String::from_utf8_lossy(&out.stdout);
            println!("{}: {}", file.display(), stdout.trim_end());
            assert!(
                out.status.success(),
                "dra-check failed on {}:\n{stdout}{}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The Rust comparison above must reject what dra-check rejects.
#[test]
fn comparison_detects_a_wrong_expectation() {
    let case: Value = serde_json::from_str(
        r#"{"name": "w", "conf": {"minExecutors": 1, "maxExecutors": 3},
            "events": [{"t": 0, "type": "executor_added", "executor": "a"}],
            "expect": [{"after_event_index": -1, "target": 2},
                       {"after_event_index": 0, "executor_count": 1, "to_remove": ["a"]},
                       {"after_event_index": 0, "timed_out": {"at": 60000, "executors": ["a"]}}]}"#,
    )
    .unwrap();
    let line = serde_json::to_string(&case).unwrap();
    let out: Value = serde_json::from_str(&am_core::simulate::run_lines(&line)[0]).unwrap();
    let errs = check_case(&case, Some(&out));
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].contains("target expected 2 got 1"), "{errs:?}");
    assert!(errs[1].contains("to_remove"), "{errs:?}");

    let refused: Value =
        serde_json::from_str(r#"{"name": "r", "conf": {"maxExecutors": 0}, "expect": [{"after_event_index": -1, "error": true}]}"#)
            .unwrap();
    let line = serde_json::to_string(&refused).unwrap();
    let out: Value = serde_json::from_str(&am_core::simulate::run_lines(&line)[0]).unwrap();
    assert!(check_case(&refused, Some(&out)).is_empty());
    assert!(out["error"]
        .as_str()
        .unwrap()
        .contains("spark.dynamicAllocation.maxExecutors"));
}
