//! Contract versions: the host loads plugins built against any
//! semver-compatible version of `perfsage:rule` and refuses the others with a
//! message naming both versions. Each test plugin (tests/plugins/*-contract)
//! is built from a copy of the real WIT with only the version changed.

use crate::support::*;
use perfsage_model::CONTRACT_VERSION;

fn check_with(plugin: &str) -> (std::process::Output, serde_json::Value) {
    let cache = tempfile::tempdir().unwrap();
    let out = output(
        perfsage(cache.path())
            .arg("check")
            .arg(fixture("rules/snapshots/idle.json"))
            .arg("--plugin")
            .arg(test_plugin(plugin))
            .args(["--format", "json"]),
    );
    let report = json(&out);
    (out, report)
}

fn entry<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["plugins"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn a_plugin_built_against_an_older_compatible_contract_loads_and_runs() {
    let (out, report) = check_with("older-contract");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(entry(&report, "older-contract")["status"], "ok");
    let finding = report["findings"].as_array().unwrap().iter().find(|f| f["plugin"] == "older-contract").unwrap();
    assert_eq!(finding["title"], "checked crm-web-1 across contract versions", "the snapshot crossed the wall intact");

    let cache = tempfile::tempdir().unwrap();
    let listed = output(perfsage(cache.path()).args(["plugin", "list", "--plugin"]).arg(test_plugin("older-contract")));
    let line = stdout(&listed).lines().find(|l| l.contains("older-contract")).unwrap().to_string();
    assert!(line.contains("0.1.0"), "the plugin's own contract version is listed: {line}");
}

#[test]
fn incompatible_contracts_are_refused_naming_both_versions() {
    for (plugin, version) in [("future-contract", "0.2.0"), ("major-contract", "1.0.0")] {
        let (out, report) = check_with(plugin);
        assert_eq!(out.status.code(), Some(3), "{plugin}");
        let failed = entry(&report, &format!("test_plugin_{}", plugin.replace('-', "_")));
        assert_eq!(failed["status"], "failed");
        let expected = format!(
            "incompatible contract: the plugin was built against perfsage:rule@{version}, \
             this perfsage speaks perfsage:rule@{CONTRACT_VERSION}; rebuild the plugin with a matching SDK"
        );
        assert_eq!(failed["error"], expected.as_str(), "{plugin}");
    }
}

#[test]
fn the_contract_copies_differ_from_the_real_one_only_in_their_version() {
    let real = std::fs::read_to_string(repo_root().join("wit/rule.wit")).unwrap();
    let real_package = format!("package perfsage:rule@{CONTRACT_VERSION};");
    assert!(real.contains(&real_package), "CONTRACT_VERSION matches wit/rule.wit");
    for (plugin, version) in [("future-contract", "0.2.0"), ("older-contract", "0.1.0"), ("major-contract", "1.0.0")] {
        let copy = std::fs::read_to_string(repo_root().join(format!("tests/plugins/{plugin}/wit/rule.wit"))).unwrap();
        let package = format!("package perfsage:rule@{version};");
        assert!(copy.contains(&package), "{plugin}");
        assert_eq!(copy.replace(&package, &real_package), real, "{plugin}: only the version may differ");
    }
}
