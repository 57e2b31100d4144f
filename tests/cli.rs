//! End-to-end tests of the `perfsage` command line: run, snapshot, check,
//! plugin list, rule-pack errors, exit codes and the compile cache.

use std::path::Path;

use crate::support::*;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The plugins built into perfsage (`plugins/*`).
const BUILT_INS: usize = 16;

#[test]
fn run_audits_this_machine_and_prints_a_ranked_report() {
    let cache = tempfile::tempdir().unwrap();
    let out = output(perfsage(cache.path()).args(["run", "--window", "200ms", "--format", "json"]));
    assert_eq!(out.status.code(), Some(0), "no --fail-on: findings alone do not fail the run");
    let report = json(&out);
    assert_eq!(report["snapshot_meta"]["sources"][0], "system");
    let plugins = report["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), BUILT_INS);
    for p in plugins {
        // Without --probe or --access-log there are no endpoints to check, and
        // without --postgres or --mysql no databases or queries.
        let skipped = [
            "errors",
            "hotspots",
            "latency",
            "saturation",
            "upstream",
            "db-cache",
            "db-connections",
            "long-transactions",
            "missing-index",
            "slow-queries",
            "temp-spill",
            "vacuum",
        ]
        .contains(&p["name"].as_str().unwrap());
        assert_eq!(p["status"], if skipped { "skipped" } else { "ok" }, "{p}");
    }
    let scores: Vec<f64> =
        report["findings"].as_array().unwrap().iter().map(|f| f["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "findings are ranked: {scores:?}");

    let table = output(perfsage(cache.path()).args(["run", "--window", "200ms"]));
    assert_eq!(table.status.code(), Some(0));
    assert!(stdout(&table).contains(&format!("Plugins: 4 of {BUILT_INS} ran.")));
}

#[test]
fn snapshot_then_check_replays_and_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snap.json");
    let out = output(perfsage(dir.path()).args(["snapshot", "--window", "200ms", "-o"]).arg(&file));
    assert_eq!(out.status.code(), Some(0));
    let snapshot: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(snapshot["cpu"]["logical_cores"].as_u64().unwrap() >= 1);

    let first = output(perfsage(dir.path()).arg("check").arg(&file).args(["--format", "json"]));
    let second = output(perfsage(dir.path()).arg("check").arg(&file).args(["--format", "json"]));
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(first.stdout, second.stdout, "same snapshot, same rules: same bytes");
}

#[test]
fn check_of_a_fixture_gives_the_expected_public_json() {
    let cache = tempfile::tempdir().unwrap();
    let out = output(
        perfsage(cache.path())
            .arg("check")
            .arg(fixture("rules/snapshots/disk-filling.json"))
            .args(["--format", "json"]),
    );
    let report = json(&out);
    let finding = &report["findings"][0];
    for key in ["rule", "severity", "category", "target", "score", "evidence", "actions"] {
        assert!(!finding[key].is_null(), "finding lacks `{key}`");
    }
    let action = &finding["actions"][0];
    for key in ["id", "title", "score", "hook", "params"] {
        assert!(action.get(key).is_some(), "action lacks `{key}`");
    }
    assert!(report["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "disk/space-used"));
    assert!(report["snapshot_meta"]["hostname"].is_string());
}

#[test]
fn fail_on_sets_exit_code_one_at_or_above_the_severity() {
    let cache = tempfile::tempdir().unwrap();
    let saturated = fixture("rules/snapshots/cpu-saturated.json");
    let at = |severity: &str| {
        output(perfsage(cache.path()).arg("check").arg(&saturated).args(["--fail-on", severity])).status.code()
    };
    assert_eq!(at("high"), Some(1));
    assert_eq!(at("critical"), Some(0));
    let idle = fixture("rules/snapshots/idle.json");
    let out = output(perfsage(cache.path()).arg("check").arg(&idle).args(["--fail-on", "info"]));
    assert_eq!(out.status.code(), Some(0), "an idle machine has no findings");
    assert!(stdout(&out).contains("No findings"));
}

#[test]
fn markdown_report_lists_findings_and_plugins() {
    let cache = tempfile::tempdir().unwrap();
    let out = output(
        perfsage(cache.path())
            .arg("check")
            .arg(fixture("rules/snapshots/memory-oom.json"))
            .args(["--format", "markdown"]),
    );
    let text = stdout(&out);
    assert!(text.starts_with("# perfsage report: "));
    assert!(text.contains("| # | Severity | Target | Finding | Best action | Score |"));
    assert!(text.contains("## Plugins"));
}

#[test]
fn plugin_list_shows_builtins_and_external_plugins() {
    let cache = tempfile::tempdir().unwrap();
    let echo = test_plugin("echo");
    let out = output(perfsage(cache.path()).args(["plugin", "list", "--params", "--plugin"]).arg(&echo));
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for name in ["cpu", "memory", "disk", "network", "echo"] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(text.contains("built-in"));
    assert!(text.contains(&echo.display().to_string()));
    assert!(text.contains(perfsage_model::CONTRACT_VERSION), "contract version shown");
    assert!(text.contains("load_per_core_high = 1"), "parameters with defaults");
}

#[test]
fn plugins_dir_loads_every_wasm_file_and_config_reaches_them() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(test_plugin("echo"), dir.path().join("echo.wasm")).unwrap();
    let config = write(dir.path(), "pack.toml", "[plugins.echo]\nparams = { score_hint = 0.25 }\n");
    let out = output(
        perfsage(cache.path())
            .args(["check", "--no-builtin", "--format", "json", "--plugins-dir"])
            .arg(dir.path())
            .arg("--config")
            .arg(&config)
            .arg(fixture("rules/snapshots/idle.json")),
    );
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    assert_eq!(report["plugins"].as_array().unwrap().len(), 1);
    assert_eq!(report["findings"][0]["actions"][0]["impact"], 0.25);
}

#[test]
fn rule_pack_errors_exit_two_with_a_clear_message() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let idle = fixture("rules/snapshots/idle.json");
    let cases = [
        ("[plugins.nosuch]\n", "plugin `nosuch`, which is not loaded"),
        ("[plugins.cpu]\nparams = { nosuch = 1 }\n", "plugin `cpu` has no parameter `nosuch`"),
        ("[plugins.cpu]\nparams = { load_per_core_high = \"high\" }\n", "expected a number"),
        ("[plugins.disk]\nparams = { space_used_high_pct = 250 }\n", "outside its range"),
        ("[runtime]\ndeadline = 1\n", "unknown field `deadline`"),
        ("not toml at all [", "is not a valid rule pack"),
    ];
    for (text, message) in cases {
        let config = write(dir.path(), "bad.toml", text);
        let out = output(perfsage(cache.path()).arg("check").arg(&idle).arg("--config").arg(&config));
        assert_eq!(out.status.code(), Some(2), "{text:?}");
        assert!(stderr(&out).contains(message), "{text:?}: expected {message:?}");
    }
}

#[test]
fn usage_errors_exit_two() {
    let cache = tempfile::tempdir().unwrap();
    let missing = output(perfsage(cache.path()).args(["check", "/nonexistent/snap.json"]));
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read snapshot /nonexistent/snap.json"));

    let dir = tempfile::tempdir().unwrap();
    let corrupt = write(dir.path(), "corrupt.json", "{\"meta\": 1");
    let out = output(perfsage(cache.path()).arg("check").arg(&corrupt));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not a perfsage snapshot"));

    let out = output(perfsage(cache.path()).args(["check", "--format", "yaml", "x.json"]));
    assert_eq!(out.status.code(), Some(2));
    let out = output(perfsage(cache.path()).args(["run", "--plugin", "/nonexistent.wasm"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--plugin /nonexistent.wasm: no such file"));
}

#[test]
fn disabled_and_skipped_plugins_are_reported_not_run() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "pack.toml", "[plugins.network]\nenabled = false\n");
    let mut snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("rules/snapshots/cpu-saturated.json")).unwrap()).unwrap();
    snapshot["disks"] = serde_json::Value::Null;
    let file = write(dir.path(), "no-disks.json", &snapshot.to_string());
    let out =
        output(perfsage(cache.path()).arg("check").arg(&file).arg("--config").arg(&config).args(["--format", "json"]));
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    let status = |name: &str| report["plugins"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap().clone();
    assert_eq!(status("network")["status"], "disabled");
    assert_eq!(status("disk")["status"], "skipped");
    assert!(status("disk")["note"].as_str().unwrap().contains("needs disks"));
    assert_eq!(status("cpu")["status"], "ok");
}

#[test]
fn severity_overrides_apply() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "pack.toml", "[plugins.cpu]\nseverity = { \"cpu/saturation\" = \"critical\" }\n");
    let out = output(
        perfsage(cache.path())
            .arg("check")
            .arg(fixture("rules/snapshots/cpu-saturated.json"))
            .arg("--config")
            .arg(&config)
            .args(["--format", "json", "--fail-on", "critical"]),
    );
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    let saturation = report["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "cpu/saturation").unwrap();
    assert_eq!(saturation["severity"], "critical");
}

#[test]
fn the_compile_cache_is_written_once_and_reused() {
    let cache = tempfile::tempdir().unwrap();
    let idle = fixture("rules/snapshots/idle.json");
    let first = output(perfsage(cache.path()).arg("-v").arg("check").arg(&idle));
    assert!(stderr(&first).contains("cache Miss"), "first run compiles");
    let entries = |dir: &Path| -> Vec<(std::path::PathBuf, std::time::SystemTime)> {
        let mut found = Vec::new();
        for engine_dir in std::fs::read_dir(dir).unwrap() {
            for entry in std::fs::read_dir(engine_dir.unwrap().path()).unwrap() {
                let path = entry.unwrap().path();
                found.push((path.clone(), std::fs::metadata(&path).unwrap().modified().unwrap()));
            }
        }
        found.sort();
        found
    };
    let after_first = entries(cache.path());
    assert_eq!(after_first.len(), BUILT_INS, "one artifact per built-in plugin: {after_first:?}");
    assert!(after_first.iter().all(|(p, _)| p.extension().unwrap() == "cwasm"), "no temp files left behind");

    let second = output(perfsage(cache.path()).arg("-v").arg("check").arg(&idle));
    assert!(!stderr(&second).contains("cache Miss"), "second run compiles nothing");
    assert_eq!(stderr(&second).matches("cache Hit").count(), BUILT_INS);
    assert_eq!(entries(cache.path()), after_first, "artifacts untouched");
    assert_eq!(first.stdout, second.stdout);
}

#[test]
fn a_corrupt_cache_entry_is_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let idle = fixture("rules/snapshots/idle.json");
    output(perfsage(cache.path()).arg("check").arg(&idle));
    for engine_dir in std::fs::read_dir(cache.path()).unwrap() {
        for entry in std::fs::read_dir(engine_dir.unwrap().path()).unwrap() {
            std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
        }
    }
    let out = output(perfsage(cache.path()).arg("-v").arg("check").arg(&idle));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out).matches("cache Miss").count(), BUILT_INS);
}
