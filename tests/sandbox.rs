//! The sandbox contains misbehaving plugins: each real, purpose-built plugin
//! (tests/plugins) fails alone with a clear reason, the built-in plugins still
//! report, the exit code is 3, and nothing hangs.

mod support;

use std::time::{Duration, Instant};

use support::*;

fn idle_snapshot() -> std::path::PathBuf {
    fixture("rules/snapshots/idle.json")
}

/// Check the idle snapshot with the built-ins plus `extra`, as JSON.
fn check_with(extra: &[std::path::PathBuf]) -> (std::process::Output, serde_json::Value, Duration) {
    let cache = tempfile::tempdir().unwrap();
    let mut command = perfsage(cache.path());
    command.arg("check").arg(idle_snapshot()).args(["--format", "json"]);
    for path in extra {
        command.arg("--plugin").arg(path);
    }
    let started = Instant::now();
    let out = output(&mut command);
    let elapsed = started.elapsed();
    let report = json(&out);
    (out, report, elapsed)
}

fn plugin<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no plugin {name} in the report"))
}

fn assert_builtins_ran(report: &serde_json::Value) {
    for name in ["cpu", "disk", "memory", "network"] {
        assert_eq!(plugin(report, name)["status"], "ok", "built-in {name} must still run");
    }
}

/// One misbehaving plugin next to the built-ins: it fails with `reason`.
fn assert_contained(test_plugin_name: &str, reported_name: &str, reason: &str) {
    let (out, report, elapsed) = check_with(&[test_plugin(test_plugin_name)]);
    assert_eq!(out.status.code(), Some(3), "a failed plugin makes the exit code 3");
    let failed = plugin(&report, reported_name);
    assert_eq!(failed["status"], "failed");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains(reason), "{reported_name}: expected {reason:?} in {error:?}");
    assert_builtins_ran(&report);
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}: something hung");
}

#[test]
fn an_endless_loop_is_stopped_at_the_deadline() {
    assert_contained("looper", "looper", "exceeded its deadline of 250 ms");
}

#[test]
fn unbounded_allocation_is_stopped_at_the_memory_cap() {
    assert_contained("hog", "hog", "exceeded its memory cap of 64 MiB");
}

#[test]
fn a_panic_is_reported_with_its_message() {
    assert_contained("panicker", "panicker", "rule bug: cannot divide by 0 cores");
}

#[test]
fn an_oversized_result_is_refused() {
    assert_contained("flood", "flood", "1000 findings; the cap is 256");
}

#[test]
fn out_of_range_numbers_are_refused() {
    assert_contained("garbage", "garbage", "impact 7.5; it must be within 0..1");
}

#[test]
fn a_file_that_is_not_wasm_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("notes.wasm");
    std::fs::write(&fake, "this is not WebAssembly\n").unwrap();
    let (out, report, _) = check_with(&[fake]);
    assert_eq!(out.status.code(), Some(3));
    let failed = plugin(&report, "notes");
    assert!(failed["error"].as_str().unwrap().contains("not a WebAssembly component"));
    assert_builtins_ran(&report);
}

#[test]
fn a_core_module_is_not_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("module.wasm");
    // The smallest valid core module: magic and version.
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    let (out, report, _) = check_with(&[module]);
    assert_eq!(out.status.code(), Some(3));
    assert!(plugin(&report, "module")["error"].as_str().unwrap().contains("not a WebAssembly component"));
}

// Contract versions (compatible and refused) are tested in contract.rs.

#[test]
fn all_misbehaving_plugins_at_once_fail_alone() {
    let bad = ["looper", "hog", "panicker", "flood", "garbage", "future-contract"].map(test_plugin);
    let mut extra = bad.to_vec();
    extra.push(test_plugin("echo"));
    let (out, report, elapsed) = check_with(&extra);
    assert_eq!(out.status.code(), Some(3));
    assert_builtins_ran(&report);
    assert_eq!(plugin(&report, "echo")["status"], "ok", "a good external plugin still runs");
    let failed = report["plugins"].as_array().unwrap().iter().filter(|p| p["status"] == "failed").count();
    assert_eq!(failed, 6);
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
}
