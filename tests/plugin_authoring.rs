//! Writing a rule plugin, end to end, as docs/writing-plugins.md tells it:
//! `perfsage plugin new` scaffolds a crate outside the repository, plain
//! `cargo build --release --target wasm32-wasip2` builds it, `perfsage plugin
//! test` runs its cases, and `perfsage check --plugin` runs it beside the
//! built-ins. Then the scaffold's `check` is edited to misbehave (loop forever,
//! allocate without bound) and the sandbox must stop it with a clear reason,
//! and a wrong expectation must fail with a diff naming the field.
//!
//! The scaffolded crates build into their own target directory under the
//! workspace's target/, so reruns only recompile the crate itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// Scaffold `name` (in a fresh temporary directory, so outside the repository's
/// workspace), optionally edit its `check`, and build it; returns (crate dir, wasm).
fn scaffold_and_build(name: &str, sdk: &str, edit: impl FnOnce(&Path)) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let out = output(perfsage(&cache).args(["plugin", "new", name, "--sdk", sdk, "--dir"]).arg(work.path()));
    assert_eq!(out.status.code(), Some(0), "plugin new failed");
    let dir = work.path().join(name);
    edit(&dir);
    let target = repo_root().join("target/scaffolded-plugins");
    let status = Command::new(env!("CARGO"))
        .current_dir(&dir)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("cannot run cargo");
    assert!(status.success(), "the scaffolded plugin {name} does not build");
    let wasm = target.join(format!("wasm32-wasip2/release/{}.wasm", name.replace('-', "_")));
    assert!(wasm.exists(), "{} is missing after the build", wasm.display());
    (work, dir, wasm)
}

/// Replace the body of the scaffold's `check` with `body`.
fn edit_check(dir: &Path, body: &str) {
    let lib = dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    let start = source.find("fn check(").expect("the scaffold has a check");
    let open = start + source[start..].find('{').unwrap();
    let close = open + source[open..].find("\n    }\n").unwrap();
    let edited = format!("{}{{\n        let _ = (snapshot, config);\n{body}{}", &source[..open], &source[close..]);
    std::fs::write(&lib, edited).unwrap();
}

#[test]
fn a_scaffolded_plugin_builds_passes_its_cases_and_runs_in_a_check() {
    let (work, dir, wasm) = scaffold_and_build("crm-slo", "auto", |_| {});
    let cache = work.path().join("cache");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let sdk = repo_root().join("plugins/sdk").canonicalize().unwrap();
    assert!(manifest.contains(&sdk.display().to_string()), "from a checkout the SDK is a path dependency: {manifest}");

    let cases =
        output(perfsage(&cache).current_dir(&dir).arg("plugin").arg("test").arg(&wasm).args(["--cases", "cases.toml"]));
    assert_eq!(cases.status.code(), Some(0), "the scaffold's own cases must pass");
    assert!(stdout(&cases).contains("all 3 cases passed"));

    let checked = output(
        perfsage(&cache)
            .arg("check")
            .arg(dir.join("fixtures/slow-endpoint.json"))
            .arg("--plugin")
            .arg(&wasm)
            .args(["--format", "json"]),
    );
    assert_eq!(checked.status.code(), Some(0));
    let report = json(&checked);
    let finding =
        report["findings"].as_array().unwrap().iter().find(|f| f["plugin"] == "crm-slo").expect("its finding");
    assert_eq!(finding["rule"], "crm-slo/slow-endpoint");
    assert_eq!(finding["target"], "GET /api/reports/pipeline");
    assert_eq!(finding["severity"], "high");
    assert_eq!(finding["actions"][0]["id"], "crm-slo.profile-endpoint");
    let statuses: Vec<&str> =
        report["plugins"].as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s != "failed"), "{statuses:?}");

    // Its parameters are checked against describe(), naming plugin, key and expectation.
    let pack = work.path().join("pack.toml");
    std::fs::write(&pack, "[plugins.crm-slo]\nparams = { p95_slo_ms = 0 }\n").unwrap();
    let refused = output(
        perfsage(&cache)
            .arg("check")
            .arg(dir.join("fixtures/slow-endpoint.json"))
            .arg("--plugin")
            .arg(&wasm)
            .arg("--config")
            .arg(&pack),
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("plugin `crm-slo`, parameter `p95_slo_ms`: 0 is outside its range 1..=600000"));

    // A wrong expectation fails the run with a diff naming the finding and field.
    let wrong = std::fs::read_to_string(dir.join("cases.toml")).unwrap().replacen(
        "severity = \"high\"",
        "severity = \"critical\"",
        1,
    );
    std::fs::write(dir.join("wrong.toml"), wrong).unwrap();
    let failed =
        output(perfsage(&cache).current_dir(&dir).arg("plugin").arg("test").arg(&wasm).args(["--cases", "wrong.toml"]));
    assert_eq!(failed.status.code(), Some(1), "a failing case exits 1");
    let text = stdout(&failed);
    assert!(text.contains("FAIL  a slow report endpoint breaks its SLO"), "{text}");
    assert!(
        text.contains(
            "finding (crm-slo/slow-endpoint, GET /api/reports/pipeline): severity: expected critical, got high"
        ),
        "{text}"
    );
    assert!(text.contains("1 of 3 cases failed"), "{text}");

    let junit = output(perfsage(&cache).current_dir(&dir).arg("plugin").arg("test").arg(&wasm).args([
        "--cases",
        "wrong.toml",
        "--format",
        "junit",
    ]));
    assert_eq!(junit.status.code(), Some(1));
    let xml = stdout(&junit);
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("tests=\"3\"") && xml.contains("failures=\"1\""), "{xml}");
    assert!(xml.contains("<failure message=\"finding (crm-slo/slow-endpoint, GET /api/reports/pipeline): severity: expected critical, got high\""), "{xml}");
}

#[test]
fn a_scaffolded_plugin_edited_to_loop_forever_is_stopped_at_its_deadline() {
    let (work, dir, wasm) = scaffold_and_build("crm-looping", "auto", |dir| {
        edit_check(
            dir,
            "        let mut n = 1u64;\n        loop {\n            n = std::hint::black_box(n.wrapping_mul(3).wrapping_add(1));\n        }\n",
        );
    });
    let cache = work.path().join("cache");
    let out = output(
        perfsage(&cache)
            .arg("check")
            .arg(dir.join("fixtures/slow-endpoint.json"))
            .arg("--plugin")
            .arg(&wasm)
            .args(["--format", "json"]),
    );
    assert_eq!(out.status.code(), Some(3), "a stopped plugin makes the exit code 3");
    let report = json(&out);
    let plugin = report["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "crm-looping").unwrap();
    assert_eq!(plugin["status"], "failed");
    assert_eq!(plugin["error"], "exceeded its deadline of 250 ms and was stopped");

    // In its own test run the loop fails the case with the same reason.
    let cases =
        output(perfsage(&cache).current_dir(&dir).arg("plugin").arg("test").arg(&wasm).args(["--cases", "cases.toml"]));
    assert_eq!(cases.status.code(), Some(1));
    assert!(stdout(&cases).contains("the plugin failed: exceeded its deadline of 250 ms and was stopped"));
}

#[test]
fn a_scaffolded_plugin_edited_to_allocate_without_bound_is_stopped_at_its_memory_cap() {
    let (work, dir, wasm) = scaffold_and_build("crm-hungry", "auto", |dir| {
        edit_check(
            dir,
            "        let mut hoard: Vec<Vec<u8>> = Vec::new();\n        loop {\n            hoard.push(vec![1u8; 1 << 20]);\n            std::hint::black_box(&hoard);\n        }\n",
        );
    });
    let cache = work.path().join("cache");
    let out = output(
        perfsage(&cache)
            .arg("check")
            .arg(dir.join("fixtures/slow-endpoint.json"))
            .arg("--plugin")
            .arg(&wasm)
            .args(["--format", "json"]),
    );
    assert_eq!(out.status.code(), Some(3));
    let report = json(&out);
    let plugin = report["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "crm-hungry").unwrap();
    assert_eq!(plugin["status"], "failed");
    assert_eq!(
        plugin["error"],
        "exceeded its memory cap of 64 MiB (all its memories and tables together) and was stopped"
    );
}

#[test]
fn a_vendored_scaffold_builds_without_the_checkout_and_passes_its_cases() {
    // What an installed perfsage (no source checkout) writes: the SDK and the
    // WIT copied into the crate.
    let (work, dir, wasm) = scaffold_and_build("crm-vendored", "vendor", |_| {});
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("path = \"vendor/perfsage-sdk\""), "{manifest}");
    assert_eq!(
        std::fs::read_to_string(dir.join("wit/rule.wit")).unwrap(),
        std::fs::read_to_string(repo_root().join("wit/rule.wit")).unwrap()
    );
    let cache = work.path().join("cache");
    let cases =
        output(perfsage(&cache).current_dir(&dir).arg("plugin").arg("test").arg(&wasm).args(["--cases", "cases.toml"]));
    assert_eq!(cases.status.code(), Some(0));

    // The scaffold's native unit test (the SDK's `testing` helpers, feature `json`) passes too.
    let native = Command::new(env!("CARGO"))
        .current_dir(&dir)
        .args(["test", "--target-dir"])
        .arg(repo_root().join("target/scaffolded-native"))
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("cannot run cargo");
    let report = String::from_utf8_lossy(&native.stdout);
    let errors = String::from_utf8_lossy(&native.stderr);
    assert!(native.status.success(), "cargo test in the scaffold failed:\n{report}\n{errors}");
    assert!(report.contains("test tests::the_fixture_has_one_slow_endpoint ... ok"), "{report}");
}

#[test]
fn plugin_test_reports_a_missing_plugin_and_a_wrong_case_file_as_usage_errors() {
    let cache = tempfile::tempdir().unwrap();
    let out = output(perfsage(cache.path()).args(["plugin", "test", "nope", "--cases"]).arg(fixture("rules/cpu.toml")));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope: no such file, nor a built-in plugin (built-ins: cpu, db-cache, db-connections, disk, errors, hotspots, latency, long-transactions, memory, missing-index, network, saturation, slow-queries, temp-spill, upstream, vacuum)"));

    // A built-in can be tested by name; its case file must name it.
    let ok = output(perfsage(cache.path()).args(["plugin", "test", "cpu", "--cases"]).arg(fixture("rules/cpu.toml")));
    assert_eq!(ok.status.code(), Some(0));
    let wrong =
        output(perfsage(cache.path()).args(["plugin", "test", "disk", "--cases"]).arg(fixture("rules/cpu.toml")));
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).contains("tests plugin `cpu`, but the plugin under test is `disk`"));
}
