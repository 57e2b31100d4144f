//! Builds the built-in rule plugins (`plugins/*`, except the SDK) for
//! `wasm32-wasip2` and embeds them, so one `perfsage` binary works anywhere.
//!
//! The nested cargo gets its own target directory: sharing the outer build's
//! would deadlock on its lock. Variables the outer cargo sets for build scripts
//! (flags, target, profile) are removed so they do not leak into the guest build.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().and_then(|crates| crates.parent()).unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());

    println!("cargo:rerun-if-changed={}", workspace.join("wit").display());
    println!("cargo:rerun-if-changed={}", workspace.join("plugins").display());
    println!("cargo:rerun-if-changed={}", workspace.join("Cargo.lock").display());

    let plugins = builtin_plugin_names(&workspace.join("plugins"));
    for name in &plugins {
        // Directory-level rerun-if-changed only sees entries added or removed.
        println!("cargo:rerun-if-changed={}", workspace.join("plugins").join(name).join("src").display());
        println!("cargo:rerun-if-changed={}", workspace.join("plugins").join(name).join("Cargo.toml").display());
    }
    println!("cargo:rerun-if-changed={}", workspace.join("plugins/sdk/src").display());
    println!("cargo:rerun-if-changed={}", workspace.join("crates/contract/src").display());

    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("builtin-plugins");

    ensure_wasm_target();

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args(["build", "--release", "--target", WASM_TARGET, "--target-dir"])
        .arg(&target_dir);
    for name in &plugins {
        command.args(["-p", &format!("perfsage-plugin-{name}")]);
    }
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "CARGO_PROFILE_RELEASE_DEBUG",
        "CARGO_LLVM_COV",
    ] {
        command.env_remove(var);
    }
    let status = command.status().expect("failed to run cargo for the built-in plugins");
    if !status.success() {
        panic!("building the built-in plugins for {WASM_TARGET} failed (see the cargo output above)");
    }

    let mut source = String::from(
        "/// The built-in plugins: (name, component bytes), in name order.\n\
         pub static PLUGINS: &[(&str, &[u8])] = &[\n",
    );
    for name in &plugins {
        let wasm = target_dir
            .join(WASM_TARGET)
            .join("release")
            .join(format!("perfsage_plugin_{}.wasm", name.replace('-', "_")));
        assert!(wasm.exists(), "expected {} after the plugin build", wasm.display());
        source.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", wasm.display().to_string()));
    }
    source.push_str("];\n");
    fs::write(out_dir.join("builtin_plugins.rs"), source).unwrap();
}

/// Every folder under `plugins/` with a Cargo.toml, except the SDK, sorted.
fn builtin_plugin_names(plugins_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(plugins_dir)
        .expect("plugins/ is missing")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("Cargo.toml").exists())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "sdk")
        .collect();
    names.sort();
    names
}

/// `rust-toolchain.toml` lists the target, but rustup only installs listed
/// targets with a toolchain it installs itself; a machine that already had the
/// toolchain gets the target here, once.
fn ensure_wasm_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output();
    let has_target = sysroot.ok().is_some_and(|out| {
        let root = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Path::new(&root).join("lib/rustlib").join(WASM_TARGET).exists()
    });
    if has_target {
        return;
    }
    let added = Command::new("rustup").args(["target", "add", WASM_TARGET]).status();
    if !added.is_ok_and(|s| s.success()) {
        panic!(
            "the {WASM_TARGET} target is not installed and `rustup target add {WASM_TARGET}` failed; \
             install it and build again"
        );
    }
}
