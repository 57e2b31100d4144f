//! Data-driven rule tests: every case file under tests/fixtures/rules runs
//! through the real sandbox against the built-in plugin it names, with the
//! fixture snapshot in and the expected findings out.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::support::{builtin_engine, fixture};
use perfsage_engine::cases::run_case_file;
use perfsage_model::Snapshot;

fn case_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_built_in_plugin_has_cases_and_every_case_holds() {
    let engine = builtin_engine();
    let (runtime, plugins) = (engine.runtime(), engine.loaded());
    assert!(engine.failed().is_empty(), "built-ins failed to load: {:?}", engine.failed());
    let files = case_files();
    let covered: BTreeSet<String> =
        files.iter().map(|f| f.file_stem().unwrap().to_string_lossy().into_owned()).collect();
    let builtins: BTreeSet<String> = plugins.iter().map(|p| p.info.name.clone()).collect();
    assert_eq!(covered, builtins, "one case file per built-in plugin");

    let mut failures = Vec::new();
    let mut cases = 0;
    for file in &files {
        let name = file.file_stem().unwrap().to_string_lossy();
        let plugin = plugins.iter().find(|p| p.info.name == name).unwrap();
        let outcomes = run_case_file(runtime, plugin, file).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            outcomes.len() >= 3,
            "{}: needs cases where the plugin fires and where it stays silent",
            file.display()
        );
        for outcome in outcomes {
            cases += 1;
            for difference in &outcome.differences {
                failures.push(format!("{name}: case `{}`: {difference}", outcome.name));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {cases} cases differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn fixture_snapshots_are_exactly_serialized_snapshots() {
    // A fixture with a missing, unknown or mistyped field would test a
    // snapshot perfsage can never produce.
    for entry in std::fs::read_dir(fixture("rules/snapshots")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let snapshot: Snapshot = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let written: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(written, serde_json::to_value(&snapshot).unwrap(), "{}", path.display());
    }
}

#[test]
fn built_in_findings_are_well_formed() {
    // The shape every built-in finding keeps, over every fixture: the plugin's
    // rule prefix, evidence, one to four actions with distinct ids and a detail.
    let engine = builtin_engine();
    for entry in std::fs::read_dir(fixture("rules/snapshots")).unwrap() {
        let snapshot = perfsage_snapshot::load(&entry.unwrap().path()).unwrap();
        for plugin in engine.loaded() {
            if plugin.info.needs.iter().any(|s| !snapshot.has(*s)) {
                continue;
            }
            let config = &engine.plans()[&plugin.info.name].config;
            for f in engine.runtime().check(plugin, &snapshot, config).unwrap() {
                let at = format!("{} {} {}", plugin.info.name, f.rule, f.target);
                assert!(f.rule.starts_with(&format!("{}/", plugin.info.name)), "{at}: rule id lacks the prefix");
                assert!(!f.evidence.is_empty(), "{at}: no evidence");
                assert!((1..=4).contains(&f.actions.len()), "{at}: {} actions", f.actions.len());
                let ids: BTreeSet<&str> = f.actions.iter().map(|a| a.id.as_str()).collect();
                assert_eq!(ids.len(), f.actions.len(), "{at}: duplicate action ids");
                assert!(f.actions.iter().all(|a| !a.detail.is_empty()), "{at}: an action without detail");
            }
        }
    }
}
