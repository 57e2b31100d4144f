//! `perfsage plugin new`: a rule plugin crate, ready to build, test and run,
//! written outside the repository.
//!
//! The crate is its own workspace (an empty `[workspace]` table), builds with
//! plain `cargo build --release --target wasm32-wasip2`, and holds one example
//! rule with parameters, a fixture snapshot, a case file and a native unit
//! test. Its templates are the files under `src/scaffold/template/`,
//! with `{{name}}`-style placeholders.
//!
//! How the crate finds the SDK and the WIT ([`SdkSource`]):
//! - **path**: a path dependency on `plugins/sdk` of the source checkout this
//!   perfsage was built from (the default when that checkout is still there:
//!   the plugin follows the SDK as it changes);
//! - **vendor**: a copy of the SDK in `vendor/perfsage-sdk/` and of the
//!   contract in `wit/rule.wit`, written from bytes embedded in the binary
//!   (`include_str!` of the real files, so never a hand-kept copy): an
//!   installed perfsage scaffolds plugins with no checkout and no network
//!   access beyond crates.io. The SDK's manifest inherits from the workspace;
//!   the copy gets those values resolved from the embedded workspace manifest.

use std::path::{Path, PathBuf};

/// Where the scaffolded crate gets the SDK from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdkSource {
    /// The source checkout's `plugins/sdk`, by path.
    Path,
    /// A copy written into the new crate.
    Vendor,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "`{0}` is not a valid plugin name: use lowercase letters, digits and `-`, starting with a letter \
         (it becomes the crate name and the prefix of rule ids)"
    )]
    InvalidName(String),
    #[error("{0} already exists; choose another name or --dir")]
    Exists(PathBuf),
    #[error("there is no source checkout beside this perfsage ({0}); use the vendored SDK")]
    NoCheckout(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// The source checkout this binary was built from.
const CHECKOUT: &str = env!("CARGO_MANIFEST_DIR");

/// The template files: (path in the new crate, text with placeholders).
const TEMPLATE: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("scaffold/template/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("scaffold/template/src/lib.rs")),
    ("cases.toml", include_str!("scaffold/template/cases.toml")),
    ("fixtures/slow-endpoint.json", include_str!("scaffold/template/fixtures/slow-endpoint.json")),
    ("README.md", include_str!("scaffold/template/README.md")),
    (".gitignore", include_str!("scaffold/template/gitignore")),
    ("rust-toolchain.toml", include_str!("../rust-toolchain.toml")),
];

/// The SDK's files, embedded for the vendored copy (`sdk_sources_are_all_embedded` keeps the list whole).
const SDK_SOURCES: &[(&str, &str)] = &[
    ("src/lib.rs", include_str!("../plugins/sdk/src/lib.rs")),
    ("src/builders.rs", include_str!("../plugins/sdk/src/builders.rs")),
    ("src/config.rs", include_str!("../plugins/sdk/src/config.rs")),
    ("src/databases.rs", include_str!("../plugins/sdk/src/databases.rs")),
    ("src/endpoints.rs", include_str!("../plugins/sdk/src/endpoints.rs")),
    ("src/machine.rs", include_str!("../plugins/sdk/src/machine.rs")),
    ("src/metrics.rs", include_str!("../plugins/sdk/src/metrics.rs")),
    ("src/processes.rs", include_str!("../plugins/sdk/src/processes.rs")),
    ("src/series.rs", include_str!("../plugins/sdk/src/series.rs")),
    ("src/severity.rs", include_str!("../plugins/sdk/src/severity.rs")),
    ("src/testing.rs", include_str!("../plugins/sdk/src/testing.rs")),
];
const SDK_MANIFEST: &str = include_str!("../plugins/sdk/Cargo.toml");
/// The contract's names, which the SDK depends on (vendored beside it).
const CONTRACT_CRATE: &[(&str, &str)] = &[("src/lib.rs", include_str!("../crates/contract/src/lib.rs"))];
const CONTRACT_MANIFEST: &str = include_str!("../crates/contract/Cargo.toml");
const WORKSPACE_MANIFEST: &str = include_str!("../Cargo.toml");
const CONTRACT: &str = include_str!("../wit/rule.wit");

/// The checkout's SDK directory, when this perfsage runs beside its source.
pub fn checkout_sdk() -> Option<PathBuf> {
    std::fs::canonicalize(Path::new(CHECKOUT).join("plugins/sdk")).ok().filter(|sdk| sdk.join("Cargo.toml").exists())
}

/// Write a new plugin crate `name` into `dir/name`; returns its path.
pub fn scaffold(name: &str, dir: &Path, sdk: SdkSource) -> Result<PathBuf, ScaffoldError> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        return Err(ScaffoldError::InvalidName(name.into()));
    }
    let root = dir.join(name);
    if root.exists() {
        return Err(ScaffoldError::Exists(root));
    }
    let (dependency, note, mut files) = match sdk {
        SdkSource::Path => {
            let sdk = checkout_sdk().ok_or_else(|| ScaffoldError::NoCheckout(PathBuf::from(CHECKOUT)))?;
            let path = toml::Value::String(sdk.display().to_string());
            (
                format!("path = {path}"),
                format!(
                    "a path dependency on `{}` (the perfsage checkout it was scaffolded from; \
                     the SDK reads the contract from `wit/rule.wit` there).",
                    sdk.display()
                ),
                Vec::new(),
            )
        }
        SdkSource::Vendor => (
            "path = \"vendor/perfsage-sdk\"".to_string(),
            "a copy in `vendor/perfsage-sdk`, reading the contract from `wit/rule.wit`, \
             both written by `perfsage plugin new` from the perfsage that scaffolded it. \
             To follow a newer perfsage, copy those two from a newer scaffold."
                .to_string(),
            vendored_sdk(),
        ),
    };
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate_ident}}", &name.replace('-', "_"))
            .replace("{{sdk_dependency}}", &format!("perfsage-sdk = {{ {dependency} }}"))
            .replace("{{sdk_dev_dependency}}", &format!("perfsage-sdk = {{ {dependency}, features = [\"json\"] }}"))
            .replace("{{sdk_note}}", &note)
    };
    files.extend(TEMPLATE.iter().map(|(path, text)| (path.to_string(), fill(text))));
    for (relative, text) in files {
        let path = root.join(relative);
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(path.parent().expect("a file in the crate"))?;
            std::fs::write(&path, text)
        };
        write().map_err(|source| ScaffoldError::Write { path: path.clone(), source })?;
    }
    Ok(root)
}

/// The SDK and the contract as files of the new crate.
fn vendored_sdk() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> =
        SDK_SOURCES.iter().map(|(path, text)| (format!("vendor/perfsage-sdk/{path}"), text.to_string())).collect();
    files.push(("vendor/perfsage-sdk/Cargo.toml".into(), standalone_manifest(SDK_MANIFEST)));
    files.extend(
        CONTRACT_CRATE.iter().map(|(path, text)| (format!("vendor/perfsage-contract/{path}"), text.to_string())),
    );
    files.push(("vendor/perfsage-contract/Cargo.toml".into(), standalone_manifest(CONTRACT_MANIFEST)));
    // The SDK's bindings read `../../wit` from its manifest directory.
    files.push(("wit/rule.wit".into(), CONTRACT.into()));
    files
}

/// A vendored crate's manifest with every `workspace = true` resolved from
/// the workspace manifest, so the copy builds outside this workspace; a
/// dependency on another of the workspace's crates points at its vendored
/// sibling (`../perfsage-contract`).
fn standalone_manifest(text: &str) -> String {
    let workspace: toml::Table = toml::from_str(WORKSPACE_MANIFEST).expect("the workspace manifest parses");
    let inherited = |table: &str| {
        workspace
            .get("workspace")
            .and_then(|w| w.get(table))
            .and_then(toml::Value::as_table)
            .cloned()
            .unwrap_or_default()
    };
    let (package_values, dependency_values) = (inherited("package"), inherited("dependencies"));
    let mut manifest: toml::Table = toml::from_str(text).expect("a workspace manifest parses");
    let inherits = |v: &toml::Value| v.get("workspace").and_then(toml::Value::as_bool) == Some(true);
    let section = |manifest: &toml::Table, name: &str| -> toml::Table {
        manifest.get(name).and_then(toml::Value::as_table).cloned().unwrap_or_default()
    };
    let mut package = section(&manifest, "package");
    for (key, value) in package.iter_mut() {
        if inherits(value) {
            *value = package_values[key.as_str()].clone();
        }
    }
    let mut dependencies = section(&manifest, "dependencies");
    for (key, value) in dependencies.iter_mut() {
        if inherits(value) {
            let mut resolved = match &dependency_values[key.as_str()] {
                toml::Value::Table(table) if table.contains_key("path") => {
                    toml::Table::from_iter([("path".to_string(), toml::Value::String(format!("../{key}")))])
                }
                toml::Value::Table(table) => table.clone(),
                version => toml::Table::from_iter([("version".to_string(), version.clone())]),
            };
            let local = value.as_table().expect("an inheriting dependency is a table");
            for (k, v) in local.iter().filter(|(k, _)| *k != "workspace") {
                match (resolved.get_mut(k), v) {
                    (Some(toml::Value::Array(features)), toml::Value::Array(more)) => features.extend(more.clone()),
                    _ => {
                        resolved.insert(k.clone(), v.clone());
                    }
                }
            }
            *value = toml::Value::Table(resolved);
        }
    }
    manifest.insert("package".into(), toml::Value::Table(package));
    manifest.insert("dependencies".into(), toml::Value::Table(dependencies));
    format!(
        "# A copy of a perfsage crate for plugins, written by `perfsage plugin new`.\n{}",
        toml::to_string(&manifest).unwrap()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_sources_are_all_embedded() {
        let sdk_src = Path::new(CHECKOUT).join("plugins/sdk/src");
        let mut on_disk: Vec<String> = std::fs::read_dir(&sdk_src)
            .unwrap()
            .map(|e| format!("src/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = SDK_SOURCES.iter().map(|(path, _)| path.to_string()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "add the SDK's new file to SDK_SOURCES");
    }

    #[test]
    fn the_vendored_manifest_inherits_nothing() {
        let manifest: toml::Table = toml::from_str(&standalone_manifest(SDK_MANIFEST)).unwrap();
        assert!(!toml::to_string(&manifest).unwrap().contains("workspace"));
        assert_eq!(manifest["package"]["name"].as_str(), Some("perfsage-sdk"));
        assert_eq!(manifest["package"]["edition"].as_str(), Some("2024"));
        assert_eq!(manifest["dependencies"]["wit-bindgen"]["version"].as_str(), Some("0.46"));
        assert_eq!(manifest["dependencies"]["serde_json"]["optional"].as_bool(), Some(true));
        assert_eq!(manifest["dependencies"]["perfsage-contract"]["path"].as_str(), Some("../perfsage-contract"));
        let contract: toml::Table = toml::from_str(&standalone_manifest(CONTRACT_MANIFEST)).unwrap();
        assert!(!toml::to_string(&contract).unwrap().contains("workspace"));
        let serde_features = manifest["dependencies"]["serde"]["features"].as_array().unwrap();
        assert!(serde_features.iter().any(|f| f.as_str() == Some("derive")));
    }

    #[test]
    fn names_must_be_crate_and_rule_friendly() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "Queue", "1st", "my_rule", "slo-", "a b"] {
            assert!(
                matches!(scaffold(bad, dir.path(), SdkSource::Vendor), Err(ScaffoldError::InvalidName(_))),
                "{bad:?}"
            );
        }
        let made = scaffold("queue-depth", dir.path(), SdkSource::Vendor).unwrap();
        let lib = std::fs::read_to_string(made.join("src/lib.rs")).unwrap();
        assert!(lib.contains("\"queue-depth/slow-endpoint\"") && !lib.contains("{{"));
        assert!(made.join("vendor/perfsage-sdk/src/severity.rs").exists() && made.join("wit/rule.wit").exists());
        assert!(matches!(scaffold("queue-depth", dir.path(), SdkSource::Vendor), Err(ScaffoldError::Exists(_))));
    }
}
