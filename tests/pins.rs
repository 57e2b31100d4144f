//! Pinning external plugins: `perfsage plugin pin` records each plugin's
//! SHA-256 in the lock file beside the rule pack; a plugin whose bytes change
//! afterwards is refused (failed, with a message saying so, exit 3) until it
//! is pinned again. The change is real: a custom section appended to a real
//! component, which stays a valid, loadable plugin.

use std::path::Path;

use crate::support::*;

fn plugin_status(report: &serde_json::Value, name: &str) -> (String, String) {
    let p = report["plugins"].as_array().unwrap().iter().find(|p| p["name"] == name).expect("plugin in report");
    (p["status"].as_str().unwrap().into(), p["error"].as_str().unwrap_or_default().into())
}

fn check(cache: &Path, pack: &Path, plugin: &Path) -> std::process::Output {
    output(
        perfsage(cache)
            .arg("check")
            .arg(fixture("rules/snapshots/idle.json"))
            .arg("--config")
            .arg(pack)
            .arg("--plugin")
            .arg(plugin)
            .args(["--format", "json"]),
    )
}

/// Append a custom section: different bytes, the same valid component.
fn append_custom_section(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let name = b"perfsage-test";
    let payload = b"changed";
    bytes.push(0); // custom section id
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_changed_pinned_plugin_is_refused_until_pinned_again() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let pack = dir.path().join("pack.toml");
    std::fs::write(&pack, "").unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let plugin = dir.path().join("plugins/echo.wasm");
    std::fs::copy(test_plugin("echo"), &plugin).unwrap();

    // No lock yet: nothing is enforced.
    assert_eq!(check(&cache, &pack, &plugin).status.code(), Some(0));

    let pinned = output(perfsage(&cache).args(["plugin", "pin", "--config"]).arg(&pack).arg("--plugin").arg(&plugin));
    assert_eq!(pinned.status.code(), Some(0));
    assert!(stdout(&pinned).contains("pinned"));
    let lock = std::fs::read_to_string(dir.path().join("perfsage.lock")).unwrap();
    assert!(lock.contains("\"plugins/echo.wasm\" = \""), "keyed relative to the lock: {lock}");
    let ok = check(&cache, &pack, &plugin);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(plugin_status(&json(&ok), "echo").0, "ok");

    append_custom_section(&plugin);
    let refused = check(&cache, &pack, &plugin);
    assert_eq!(refused.status.code(), Some(3), "a refused plugin is a failed plugin");
    let (status, error) = plugin_status(&json(&refused), "echo");
    assert_eq!(status, "failed");
    assert!(error.contains("refused: its content changed since it was pinned in"), "{error}");
    assert!(error.contains("run `perfsage plugin pin` again"), "{error}");
    assert_eq!(plugin_status(&json(&refused), "cpu").0, "ok", "the built-ins still run");

    let repinned = output(perfsage(&cache).args(["plugin", "pin", "--config"]).arg(&pack).arg("--plugin").arg(&plugin));
    assert!(stdout(&repinned).contains("re-pinned (content changed)"));
    let accepted = check(&cache, &pack, &plugin);
    assert_eq!(accepted.status.code(), Some(0));
    assert_eq!(plugin_status(&json(&accepted), "echo").0, "ok", "the changed plugin still loads once re-pinned");
}

#[test]
fn with_a_lock_in_force_an_unpinned_plugin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let lock = dir.path().join("team.lock");
    let pinned =
        output(perfsage(&cache).args(["plugin", "pin", "--lock"]).arg(&lock).arg("--plugin").arg(test_plugin("echo")));
    assert_eq!(pinned.status.code(), Some(0));
    let out = output(
        perfsage(&cache)
            .arg("check")
            .arg(fixture("rules/snapshots/idle.json"))
            .arg("--lock")
            .arg(&lock)
            .arg("--plugin")
            .arg(test_plugin("echo"))
            .arg("--plugin")
            .arg(test_plugin("panicker"))
            .args(["--format", "json"]),
    );
    assert_eq!(out.status.code(), Some(3));
    let report = json(&out);
    assert_eq!(plugin_status(&report, "echo").0, "ok");
    let (status, error) = plugin_status(&report, "test_plugin_panicker");
    assert_eq!(status, "failed");
    assert!(error.contains("is not pinned in") && error.contains("team.lock"), "{error}");
}

#[test]
fn pin_needs_a_place_for_the_lock_and_plugins_to_pin() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let nowhere = output(perfsage(&cache).args(["plugin", "pin", "--plugin"]).arg(test_plugin("echo")));
    assert_eq!(nowhere.status.code(), Some(2));
    assert!(stderr(&nowhere).contains("pinning needs a place for the lock file"));

    let nothing = output(perfsage(&cache).args(["plugin", "pin", "--lock"]).arg(dir.path().join("x.lock")));
    assert_eq!(nothing.status.code(), Some(2));
    assert!(stderr(&nothing).contains("nothing to pin"));

    let missing = output(perfsage(&cache).args(["plugin", "list", "--lock"]).arg(dir.path().join("absent.lock")));
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no such lock file"));

    std::fs::write(dir.path().join("corrupt.lock"), "version = \"one\"").unwrap();
    let corrupt = output(perfsage(&cache).args(["plugin", "list", "--lock"]).arg(dir.path().join("corrupt.lock")));
    assert_eq!(corrupt.status.code(), Some(2));
    assert!(stderr(&corrupt).contains("is not a valid perfsage lock file"));
}
