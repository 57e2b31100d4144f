//! The sandbox contains misbehaving plugins: each real, purpose-built plugin
//! (tests/plugins) fails alone with a clear reason, the built-in plugins still
//! report, the exit code is 3, and nothing hangs.

use std::time::{Duration, Instant};

use crate::support::*;

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

#[test]
fn a_plugin_flooding_the_host_log_is_stopped_at_its_log_caps() {
    assert_contained("chatter", "chatter", "flooded the host log (more than 1000 messages or 1024 KiB in one call)");
}

// Limits that are totals. Rust plugins have one memory and one table, so the
// components that try more are built by hand: a core module in WAT exporting
// the rule interface's functions, made a real component for the real WIT
// (wit/rule.wit) by wit-component, and loaded through `--plugin` like any
// other. Their functions trap (`unreachable`), so a component that gets past
// instantiation fails with "trapped": the control cases show that the limits,
// not the hand-made component, are what refuses the others.

/// A component of `world plugin` whose core module adds `extra` (WAT module fields).
fn hand_built_component(dir: &std::path::Path, name: &str, extra: &str) -> std::path::PathBuf {
    let core = format!(
        r#"(module
             (memory (export "memory") 1)
             {extra}
             (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) unreachable)
             (func (export "perfsage:rule/rule@0.1.1#describe") (result i32) unreachable)
             (func (export "perfsage:rule/rule@0.1.1#check") (param i32) (result i32) unreachable))"#
    );
    let mut module = wat::parse_str(&core).expect("the WAT parses");
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(repo_root().join("wit")).expect("wit/ parses");
    let world = resolve.select_world(&[package], Some("plugin")).unwrap();
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8).unwrap();
    let component =
        wit_component::ComponentEncoder::default().validate(true).module(&module).unwrap().encode().unwrap();
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, component).unwrap();
    path
}

/// Load one hand-built component next to the built-ins; its error.
fn hand_built_error(name: &str, extra: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = hand_built_component(dir.path(), name, extra);
    let (out, report, _) = check_with(&[path]);
    assert_eq!(out.status.code(), Some(3));
    assert_builtins_ran(&report);
    let failed = plugin(&report, name);
    assert_eq!(failed["status"], "failed");
    failed["error"].as_str().unwrap().to_string()
}

/// 640 pages of 64 KiB: 40 MiB.
const FORTY_MIB: &str = "640";

#[test]
fn two_memories_are_capped_together() {
    // 1 page + 2 × 20 MiB: within 64 MiB, so it instantiates, then traps.
    let error = hand_built_error("small-memories", "(memory 320) (memory 320)");
    assert!(error.starts_with("trapped"), "{error}");
    // 1 page + 2 × 40 MiB: each memory is under the cap, their sum is not.
    let error = hand_built_error("two-memories", &format!("(memory {FORTY_MIB}) (memory {FORTY_MIB})"));
    assert_eq!(error, "exceeded its memory cap of 64 MiB (all its memories and tables together) and was stopped");
}

#[test]
fn tables_count_against_the_memory_and_element_caps() {
    let error = hand_built_error("few-elements", "(table 1000 funcref)");
    assert!(error.starts_with("trapped"), "{error}");
    let error = hand_built_error("many-elements", "(table 60000 funcref) (table 60000 funcref)");
    assert_eq!(error, "exceeded a sandbox limit and was stopped: its tables need more than 100000 elements in total");
}

#[test]
fn too_many_memories_or_tables_are_refused_by_count() {
    let error = hand_built_error("many-memories", &"(memory 1) ".repeat(4));
    assert_eq!(
        error,
        "exceeded a sandbox limit and was stopped: memory count too high at 5 \
         (the sandbox allows 32 instances, 4 memories, 16 tables)"
    );
    let error = hand_built_error("many-tables", &"(table 1 funcref) ".repeat(17));
    assert!(error.starts_with("exceeded a sandbox limit and was stopped: table count too high at"), "{error}");
}
