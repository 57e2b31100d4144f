//! perfsage's own files, end to end: a compile cache that cannot be planted
//! (a foreign, symlinked or tampered `.cwasm` is never deserialized, and is
//! replaced by a fresh entry of ours), and the modes of everything perfsage
//! writes for itself, under a umask of 022 in the spawned perfsage.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::*;
use sha2::{Digest, Sha256};

fn idle_snapshot() -> PathBuf {
    fixture("rules/snapshots/idle.json")
}

/// `perfsage` with its cache in `cache`, under umask 022.
fn perfsage_022(cache: &Path) -> Command {
    let mut command = perfsage(cache);
    // SAFETY: umask is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    command.stdin(Stdio::null());
    command
}

/// `perfsage -v check` of the idle snapshot with only the test plugin `name`.
fn check_only(cache: &Path, name: &str) -> (Output, serde_json::Value) {
    let out = output(
        perfsage_022(cache)
            .args(["-v", "check"])
            .arg(idle_snapshot())
            .args(["--format", "json", "--no-builtin", "--plugin"])
            .arg(test_plugin(name)),
    );
    let report = json(&out);
    (out, report)
}

fn plugin_names(report: &serde_json::Value) -> Vec<String> {
    report["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

/// The plugin ran from its own code: it is the only plugin, named `name`, ok.
fn assert_ran_itself(report: &serde_json::Value, name: &str) {
    assert_eq!(plugin_names(report), [name], "the report names the plugin whose code ran");
    assert_eq!(report["plugins"][0]["status"], "ok");
}

/// The cache entry of test plugin `name` in `cache`.
fn entry(cache: &Path, name: &str) -> PathBuf {
    let engines: Vec<_> = std::fs::read_dir(cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(engines.len(), 1, "one engine directory: {engines:?}");
    let bytes = std::fs::read(test_plugin(name)).unwrap();
    let sha: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    engines[0].join(format!("{sha}.cwasm"))
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn euid() -> u32 {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() }
}

/// A fresh entry of ours: a regular file (not a symlink), our uid, 0600.
fn assert_fresh_entry(path: &Path) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    assert!(meta.file_type().is_file(), "{} is a regular file", path.display());
    assert_eq!(meta.uid(), euid(), "owned by perfsage's user");
    assert_eq!(meta.mode() & 0o7777, 0o600);
}

/// The run logged the refusal with `reason`, compiled, and did not load the entry.
fn assert_recompiled(out: &Output, name: &str, reason: &str) {
    let log = stderr(out);
    // Plugins load under their file's name until they describe themselves.
    let label = format!("test_plugin_{}", name.replace('-', "_"));
    assert!(log.contains(&format!("compile cache: recompiling {label}: refused")), "{log}");
    assert!(log.contains(reason), "expected {reason:?} in\n{log}");
    assert!(log.contains(&format!("loaded plugin {name} 0.1.0 (")) && log.contains("cache Miss)"), "{log}");
    assert!(!log.contains("cache Hit"), "{log}");
}

/// The next run loads the replaced entry from the cache.
fn assert_next_run_hits(cache: &Path, name: &str) {
    let (out, report) = check_only(cache, name);
    assert_ran_itself(&report, name);
    assert!(stderr(&out).contains("cache Hit"), "{}", stderr(&out));
}

#[test]
fn a_cache_entry_owned_by_another_user_is_never_deserialized() {
    if euid() != 0 {
        eprintln!("skipped: planting an entry owned by `nobody` needs root (chown)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (_, report) = check_only(&cache, "echo");
    assert_ran_itself(&report, "echo");
    let path = entry(&cache, "echo");
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();

    let (out, report) = check_only(&cache, "echo");
    assert_ran_itself(&report, "echo");
    assert_recompiled(&out, "echo", "it is owned by uid 65534, not by perfsage's user (uid 0)");
    assert_fresh_entry(&path);
    assert_next_run_hits(&cache, "echo");
}

#[test]
fn a_symlinked_cache_entry_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    check_only(&cache, "echo");
    let path = entry(&cache, "echo");
    // A valid entry, elsewhere: following the link would load it happily.
    let elsewhere = dir.path().join("elsewhere.cwasm");
    std::fs::rename(&path, &elsewhere).unwrap();
    let planted = std::fs::read(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &path).unwrap();

    let (out, report) = check_only(&cache, "echo");
    assert_ran_itself(&report, "echo");
    assert_recompiled(&out, "echo", "it is a symbolic link");
    assert_fresh_entry(&path);
    assert_eq!(std::fs::read(&elsewhere).unwrap(), planted, "the link's target is left alone");
    assert_next_run_hits(&cache, "echo");
}

#[test]
fn a_valid_entry_of_another_plugin_under_this_plugins_name_is_never_deserialized() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    check_only(&cache, "echo");
    check_only(&cache, "proposer");
    let echo = entry(&cache, "echo");
    let proposer = std::fs::read(entry(&cache, "proposer")).unwrap();
    // proposer's compiled code, a perfect entry in every other respect, under
    // echo's name: deserialized, the report would name `proposer`.
    std::fs::write(&echo, &proposer).unwrap();
    std::fs::set_permissions(&echo, std::fs::Permissions::from_mode(0o600)).unwrap();

    let (out, report) = check_only(&cache, "echo");
    assert_ran_itself(&report, "echo");
    assert_recompiled(&out, "echo", "its digest does not match its content and plugin");
    assert_fresh_entry(&echo);
    assert_ne!(std::fs::read(&echo).unwrap(), proposer, "the planted entry was replaced");
    assert_next_run_hits(&cache, "echo");

    // A flipped byte inside the compiled code: the same refusal.
    let mut bytes = std::fs::read(&echo).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&echo, &bytes).unwrap();
    let (out, report) = check_only(&cache, "echo");
    assert_ran_itself(&report, "echo");
    assert_recompiled(&out, "echo", "its digest does not match");
    assert_fresh_entry(&echo);
}

#[test]
fn a_cache_dir_others_can_write_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (out, report) = check_only(&cache, "echo");
    assert_ran_itself(&report, "echo");
    let log = stderr(&out);
    assert!(log.contains("compile cache disabled for this run") && log.contains("lets other users write"), "{log}");
    assert!(log.contains("cache Disabled"), "{log}");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0, "nothing was written into it");
}

/// A rule pack for `apply`: the proposer proposes one action bound to `/bin/true`.
fn apply_pack(dir: &Path) -> PathBuf {
    let pack = dir.join("pack.toml");
    std::fs::write(
        &pack,
        "[plugins.proposer.params]\nactions = \"noop\"\n\n[hooks.noop]\ncommand = [\"/bin/true\"]\ntimeout_ms = 5000\n",
    )
    .unwrap();
    pack
}

#[test]
fn everything_perfsage_writes_for_itself_is_private_under_umask_022() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let state = dir.path().join("state");

    // Cache: both directories 0700, entries 0600.
    check_only(&cache, "echo");
    assert_eq!(mode(&cache), 0o700);
    let entry = entry(&cache, "echo");
    assert_eq!(mode(entry.parent().unwrap()), 0o700);
    assert_eq!(mode(&entry), 0o600);

    // A saved snapshot.
    let snapshot = dir.path().join("snapshot.json");
    let out = output(perfsage_022(&cache).arg("snapshot").arg("-o").arg(&snapshot).args(["--window", "100ms"]));
    assert!(out.status.success());
    assert_eq!(mode(&snapshot), 0o600, "a snapshot can hold query texts");

    // An audit: state dir, history, its lock, exports.
    let (json_export, html, prom) = (dir.path().join("a.json"), dir.path().join("a.html"), dir.path().join("a.prom"));
    let out = output(
        perfsage_022(&cache)
            .args(["audit", "--snapshot"])
            .arg(idle_snapshot())
            .arg("--state-dir")
            .arg(&state)
            .arg("--json")
            .arg(&json_export)
            .arg("--html")
            .arg(&html)
            .arg("--prometheus")
            .arg(&prom),
    );
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 1), "{}", stderr(&out));
    assert_eq!(mode(&state), 0o700);
    for name in ["history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm", "audit.lock"] {
        let path = state.join(name);
        if path.exists() || name == "history.sqlite3" || name == "audit.lock" {
            assert_eq!(mode(&path), 0o600, "{name}");
        }
    }
    assert_eq!(mode(&json_export), 0o600);
    assert_eq!(mode(&html), 0o600);
    assert_eq!(mode(&prom), 0o644, "node_exporter reads the Prometheus file as its own user");

    // `plan` with the default pack materializes the built-in hooks: 0700 folders.
    let out =
        output(perfsage_022(&cache).args(["plan", "--snapshot"]).arg(idle_snapshot()).arg("--state-dir").arg(&state));
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 3), "{}", stderr(&out));
    let mut folders = vec![state.join("builtin-rules")];
    while let Some(folder) = folders.pop() {
        assert_eq!(mode(&folder), 0o700, "{}", folder.display());
        for child in std::fs::read_dir(&folder).unwrap() {
            let child = child.unwrap().path();
            if child.is_dir() {
                folders.push(child);
            } else {
                assert_eq!(mode(&child), 0o700, "{}", child.display());
            }
        }
    }

    // `apply`: the journal and the apply lock.
    let out = output(
        perfsage_022(&cache)
            .args(["apply", "--top", "1", "--yes", "--no-builtin", "--plugin"])
            .arg(test_plugin("proposer"))
            .arg("--config")
            .arg(apply_pack(dir.path()))
            .arg("--snapshot")
            .arg(idle_snapshot())
            .arg("--state-dir")
            .arg(&state),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&state.join("journal.jsonl")), 0o600);
    assert_eq!(mode(&state.join("apply.lock")), 0o600);
}

#[test]
fn a_state_dir_readable_by_others_is_closed_and_one_they_can_write_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let audit = |state: &Path| {
        output(perfsage_022(&cache).args(["audit", "--snapshot"]).arg(idle_snapshot()).arg("--state-dir").arg(state))
    };
    let out = audit(&state);
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 1), "{}", stderr(&out));
    assert_eq!(mode(&state), 0o700, "an older perfsage's 0755 state dir is closed");

    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = audit(&state);
    assert_eq!(out.status.code(), Some(2), "a state dir others could write is a usage error");
    assert!(stderr(&out).contains("lets other users write into it"), "{}", stderr(&out));
}
