//! Shared helpers for the end-to-end tests: the `perfsage` binary with an
//! isolated cache, the fixtures, and the misbehaving test plugins of
//! `tests/plugins`, built for wasm32-wasip2 once per test binary (cargo's own
//! lock serializes builds across test binaries).

pub mod db;
pub mod fleet_gen;
pub mod payloads;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The built-in plugins, loaded once per call with the default limits and
/// no compile cache, as the engine loads them for a command.
pub fn builtin_engine() -> perfsage_engine::Engine {
    use perfsage_engine::runtime::{Limits, PluginSource};
    let selection = perfsage_engine::PluginSelection {
        sources: PluginSource::builtins(perfsage_builtin::PLUGINS),
        ..Default::default()
    };
    perfsage_engine::Engine::load(Limits::default(), selection, &Default::default()).unwrap()
}

pub fn fixture(relative: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(relative)
}

/// The binary under test: `PERFSAGE_TEST_BIN` when set, else cargo's. With a
/// target directory shared by several worktrees, `target/debug/perfsage` is
/// whichever worktree built last; the variable pins a worktree's own build
/// (`target/debug/deps/perfsage-<hash>`).
pub fn perfsage_bin() -> PathBuf {
    std::env::var_os("PERFSAGE_TEST_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_perfsage")), PathBuf::from)
}

/// The `perfsage` binary, with its compile cache in `cache` and no colour.
///
/// `PERFSAGE_TEST_BIN` overrides the binary: worktrees sharing one target
/// directory overwrite each other's `target/debug/perfsage`, so a helper
/// tests a copy of its own build.
pub fn perfsage(cache: &Path) -> Command {
    let mut command = Command::new(perfsage_bin());
    command.env("PERFSAGE_CACHE_DIR", cache).env("NO_COLOR", "1").env_remove("RUST_LOG");
    command
}

/// Run and capture; print both streams on failure to explain a test's panic.
pub fn output(command: &mut Command) -> Output {
    let output = command.output().expect("cannot run perfsage");
    eprintln!("--- stdout\n{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("--- stderr\n{}", String::from_utf8_lossy(&output.stderr));
    output
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

/// The path of test plugin `name` (a crate under tests/plugins), building them all on first use.
pub fn test_plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let root = repo_root();
        let target = root.join("target/test-plugins");
        let status = Command::new(env!("CARGO"))
            .current_dir(root.join("tests/plugins"))
            .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
            .arg(&target)
            .status()
            .expect("cannot run cargo to build the test plugins");
        assert!(status.success(), "building tests/plugins failed");
        target.join("wasm32-wasip2/release")
    });
    let path = dir.join(format!("test_plugin_{}.wasm", name.replace('-', "_")));
    assert!(path.exists(), "no test plugin {}", path.display());
    path
}
