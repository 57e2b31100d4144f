//! Hook bindings: what a hook name in a rule pack means.
//!
//! A plugin can only *name* a hook; the rule pack's `[hooks.<name>]` table
//! says what runs: an argv (never a shell string), a timeout, whether the
//! script has a dry-run mode, and optional verify and rollback commands. A
//! relative command path resolves against the directory of the pack file, so a
//! pack travels with its `hooks/` folder.
//!
//! The default pack is embedded in the binary, and so are the scripts of
//! `rules/hooks/`: before they run they are written (0700) to a
//! content-addressed folder of the state directory,
//! `<state>/builtin-rules/<sha256>/hooks/`, which then plays the part of the
//! pack's directory. A changed script gets a new folder; an existing one is
//! reused as is (it was created by rename, so it is complete).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::params::{Declared, parse_declarations};
use super::runner::is_safe_env_key;

/// The scripts of `rules/hooks/`, embedded with the default pack.
pub const BUILTIN_HOOK_SCRIPTS: &[(&str, &str)] = &[
    ("hooks/sysctl-set.sh", include_str!("../../../rules/hooks/sysctl-set.sh")),
    ("hooks/clean-old-files.sh", include_str!("../../../rules/hooks/clean-old-files.sh")),
    ("hooks/renice-process.sh", include_str!("../../../rules/hooks/renice-process.sh")),
    ("hooks/set-config-key.sh", include_str!("../../../rules/hooks/set-config-key.sh")),
    ("hooks/pg-create-index.sh", include_str!("../../../rules/hooks/pg-create-index.sh")),
    ("hooks/mysql-create-index.sh", include_str!("../../../rules/hooks/mysql-create-index.sh")),
    ("hooks/set-workers.sh", include_str!("../../../rules/hooks/set-workers.sh")),
    ("hooks/nginx-upstream-keepalive.sh", include_str!("../../../rules/hooks/nginx-upstream-keepalive.sh")),
];

/// Environment variables perfsage sets itself; a binding's `env` may not override them.
pub const RESERVED_ENV: &[&str] = &[
    "PATH",
    "LC_ALL",
    "PERFSAGE_DRY_RUN",
    "PERFSAGE_PHASE",
    "PERFSAGE_ACTION",
    "PERFSAGE_TARGET",
    "PERFSAGE_STATE_DIR",
    "PERFSAGE_RUN",
    "PERFSAGE_TIMEOUT_MS",
];

/// The prefix of plugin-supplied parameters in a hook's environment.
pub const PARAM_PREFIX: &str = "PERFSAGE_PARAM_";

const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// The longest `stop_grace_ms`.
const MAX_STOP_GRACE_MS: u64 = 600_000;

/// One `[hooks.<name>]` table of a rule pack.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookBinding {
    /// The program and its arguments; a relative program resolves against the pack's directory.
    pub command: Vec<String>,
    /// Wall-clock budget of one run (apply, verify or rollback); the process group is killed past it.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Whether the script honours `PERFSAGE_DRY_RUN=1` (prints what it would do, changes nothing).
    #[serde(default)]
    pub dry_run: bool,
    /// How long a change takes to show before verification re-collects (a
    /// queue to drain, a cache to warm).
    #[serde(default)]
    pub settle_ms: u64,
    /// Run after a successful apply: exit 0 means the change is in place.
    #[serde(default)]
    pub verify: Option<Vec<String>>,
    /// Run when verification fails: undoes the change.
    #[serde(default)]
    pub rollback: Option<Vec<String>>,
    /// Static settings from the operator (e.g. `PERFSAGE_ALLOWED_ROOTS`), passed as environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Variables passed through from perfsage's own environment when set
    /// (credentials such as `PGPASSWORD`, which do not belong in a rule pack);
    /// they override `env`. Plans and journals show secrets masked.
    #[serde(default)]
    pub pass_env: Vec<String>,
    /// When `apply` is interrupted (SIGINT/SIGTERM), the signal is forwarded to
    /// the hook's process group, which gets this long to end before SIGKILL.
    #[serde(default = "default_stop_grace_ms")]
    pub stop_grace_ms: u64,
    /// The parameters the hook accepts, by key, with their types (see
    /// [`super::params`]); checked by perfsage before the hook runs. Without
    /// it, an action that carries any parameter is a manual step.
    #[serde(default)]
    pub params: Option<toml::Table>,
}

fn default_timeout_ms() -> u64 {
    30_000
}

fn default_stop_grace_ms() -> u64 {
    super::runner::DEFAULT_STOP_GRACE.as_millis() as u64
}

impl HookBinding {
    /// Check one binding; the message names the hook and the key.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        let valid_name = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !valid_name {
            return Err(format!("hook name `{name}` may hold only letters, digits, `.`, `_` and `-`"));
        }
        for (key, argv) in
            [("command", Some(&self.command)), ("verify", self.verify.as_ref()), ("rollback", self.rollback.as_ref())]
        {
            if let Some(argv) = argv {
                if argv.first().is_none_or(|program| program.is_empty()) {
                    return Err(format!("hooks.{name}.{key} must name a program: [\"path\", \"arg\", ...]"));
                }
                if argv.iter().any(|arg| arg.contains('\0')) {
                    return Err(format!("hooks.{name}.{key} contains a NUL byte"));
                }
            }
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(format!("hooks.{name}.timeout_ms must be 1..={MAX_TIMEOUT_MS}"));
        }
        if self.settle_ms > MAX_TIMEOUT_MS {
            return Err(format!("hooks.{name}.settle_ms must be 0..={MAX_TIMEOUT_MS}"));
        }
        if self.stop_grace_ms > MAX_STOP_GRACE_MS {
            return Err(format!("hooks.{name}.stop_grace_ms must be 0..={MAX_STOP_GRACE_MS}"));
        }
        for key in &self.pass_env {
            if !is_safe_env_key(key) || key.starts_with(PARAM_PREFIX) || RESERVED_ENV.contains(&key.as_str()) {
                return Err(format!(
                    "hooks.{name}.pass_env: `{key}` is not allowed (use [A-Za-z0-9_], not {PARAM_PREFIX}* nor {})",
                    RESERVED_ENV.join(", ")
                ));
            }
        }
        for (key, value) in &self.env {
            if !is_safe_env_key(key) || key.starts_with(PARAM_PREFIX) || RESERVED_ENV.contains(&key.as_str()) {
                return Err(format!(
                    "hooks.{name}.env: `{key}` is not allowed (use [A-Za-z0-9_], not {PARAM_PREFIX}* nor {})",
                    RESERVED_ENV.join(", ")
                ));
            }
            if value.contains('\0') {
                return Err(format!("hooks.{name}.env.{key} contains a NUL byte"));
            }
        }
        self.declared(name)?;
        Ok(())
    }

    /// The declared parameters (`None` when the binding declares none); the
    /// error names `hooks.<name>.params.<key>`.
    pub fn declared(&self, name: &str) -> Result<Option<Declared>, String> {
        self.params.as_ref().map(|table| parse_declarations(name, table)).transpose()
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// A pack's hooks with their command paths made absolute.
#[derive(Debug, Clone)]
pub struct HookSet {
    pub bindings: BTreeMap<String, HookBinding>,
}

impl HookSet {
    /// Resolve relative programs against `pack_dir`.
    pub fn resolve(bindings: &BTreeMap<String, HookBinding>, pack_dir: &Path) -> Self {
        let absolute = |argv: &Vec<String>| {
            let mut argv = argv.clone();
            if Path::new(&argv[0]).is_relative() && argv[0].contains('/') {
                argv[0] = pack_dir.join(&argv[0]).to_string_lossy().into_owned();
            }
            argv
        };
        let bindings = bindings
            .iter()
            .map(|(name, b)| {
                let resolved = HookBinding {
                    command: absolute(&b.command),
                    verify: b.verify.as_ref().map(absolute),
                    rollback: b.rollback.as_ref().map(absolute),
                    ..b.clone()
                };
                (name.clone(), resolved)
            })
            .collect();
        HookSet { bindings }
    }
}

/// Write the embedded hook scripts into `<state_dir>/builtin-rules/<sha256>/` (once per
/// content) and return that folder: the directory the built-in pack resolves against.
pub fn materialize_builtin(state_dir: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;

    let mut digest = Sha256::new();
    for (path, text) in BUILTIN_HOOK_SCRIPTS {
        digest.update(path.as_bytes());
        digest.update([0]);
        digest.update(text.as_bytes());
        digest.update([0]);
    }
    let hash: String = digest.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    let parent = state_dir.join("builtin-rules");
    let folder = parent.join(hash);
    if folder.is_dir() {
        // Written by an earlier run, maybe by an older perfsage that left its
        // inner folders to the umask: check and close them again.
        perfsage_private::ensure_dir(&folder)?;
        for (path, _) in BUILTIN_HOOK_SCRIPTS {
            perfsage_private::ensure_dir(folder.join(path).parent().expect("a script path has a folder"))?;
        }
        return Ok(folder);
    }
    // Every folder 0700 whatever the umask: these are scripts root runs.
    perfsage_private::ensure_dir(&parent)?;
    let staging = tempfile::Builder::new().prefix(".staging-").tempdir_in(&parent)?;
    for (path, text) in BUILTIN_HOOK_SCRIPTS {
        let file = staging.path().join(path);
        perfsage_private::ensure_dir(file.parent().expect("a script path has a folder"))?;
        std::fs::write(&file, text)?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o700))?;
    }
    std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o700))?;
    match std::fs::rename(staging.path(), &folder) {
        Ok(()) => {
            // The folder now lives on under its final name; nothing left to clean up.
            let _ = staging.keep();
            Ok(folder)
        }
        // Another perfsage won the race with the same content.
        Err(_) if folder.is_dir() => Ok(folder),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(command: &[&str]) -> HookBinding {
        HookBinding {
            command: command.iter().map(|s| s.to_string()).collect(),
            timeout_ms: 1000,
            dry_run: true,
            settle_ms: 0,
            verify: None,
            rollback: Some(vec!["hooks/undo.sh".into(), "--all".into()]),
            env: BTreeMap::new(),
            pass_env: Vec::new(),
            stop_grace_ms: 5000,
            params: None,
        }
    }

    #[test]
    fn relative_programs_resolve_against_the_pack_and_bare_names_stay_on_path() {
        let bindings = BTreeMap::from([
            ("a".to_string(), binding(&["hooks/a.sh", "x"])),
            ("b".to_string(), binding(&["/usr/bin/true"])),
            ("c".to_string(), binding(&["true"])),
        ]);
        let set = HookSet::resolve(&bindings, Path::new("/etc/perfsage"));
        assert_eq!(set.bindings["a"].command, ["/etc/perfsage/hooks/a.sh", "x"]);
        assert_eq!(set.bindings["a"].rollback.as_ref().unwrap(), &["/etc/perfsage/hooks/undo.sh", "--all"]);
        assert_eq!(set.bindings["b"].command, ["/usr/bin/true"]);
        assert_eq!(set.bindings["c"].command, ["true"]);
    }

    #[test]
    fn validation_names_the_hook_and_the_key() {
        let mut b = binding(&["x"]);
        assert!(b.validate("ok-name_1.2").is_ok());
        assert!(b.validate("bad name").unwrap_err().contains("hook name `bad name`"));
        b.env.insert("PERFSAGE_PARAM_DIR".into(), "/".into());
        assert!(b.validate("h").unwrap_err().contains("PERFSAGE_PARAM_DIR"));
        b.env = BTreeMap::from([("PATH".into(), "/tmp".into())]);
        assert!(b.validate("h").unwrap_err().contains("`PATH` is not allowed"));
        let empty = binding(&[]);
        assert!(empty.validate("h").unwrap_err().contains("hooks.h.command must name a program"));
        let slow = HookBinding { timeout_ms: 0, ..binding(&["x"]) };
        assert!(slow.validate("h").unwrap_err().contains("timeout_ms"));
        let typo = HookBinding { params: Some(toml::from_str("pid = \"int\"").unwrap()), ..binding(&["x"]) };
        assert!(typo.validate("renice").unwrap_err().contains("hooks.renice.params.pid: unknown type `int`"));
    }

    #[test]
    fn builtin_scripts_materialize_once_per_content_as_private_executables() {
        use std::os::unix::fs::PermissionsExt;
        let state = tempfile::tempdir().unwrap();
        let first = materialize_builtin(state.path()).unwrap();
        let second = materialize_builtin(state.path()).unwrap();
        assert_eq!(first, second);
        for (path, text) in BUILTIN_HOOK_SCRIPTS {
            let file = first.join(path);
            assert_eq!(&std::fs::read_to_string(&file).unwrap(), text);
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o700);
        }
        // Folders an older perfsage left 0755 are closed on the next run; one
        // others could write is refused rather than its scripts run.
        let hooks = first.join("hooks");
        std::fs::set_permissions(&hooks, std::fs::Permissions::from_mode(0o755)).unwrap();
        materialize_builtin(state.path()).unwrap();
        assert_eq!(std::fs::metadata(&hooks).unwrap().permissions().mode() & 0o777, 0o700);
        std::fs::set_permissions(&hooks, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(materialize_builtin(state.path()).is_err());
    }

    #[test]
    fn every_default_binding_declares_its_parameters_and_allowlists_hold() {
        let hooks: BTreeMap<String, HookBinding> =
            toml::Value::Table(perfsage_pack::default_section("hooks")).try_into().unwrap();
        for (name, binding) in &hooks {
            assert!(binding.declared(name).unwrap().is_some(), "{name} declares its parameters");
        }
        let check = |hook: &str, pairs: &[(&str, &str)]| {
            let declared = hooks[hook].declared(hook).unwrap();
            let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            super::super::params::check_params(declared.as_ref(), &pairs)
        };
        // What the built-in plugins propose passes ...
        assert!(check("sysctl-set", &[("key", "vm.swappiness"), ("value", "10")]).is_ok());
        assert!(check("sysctl-set", &[("key", "net.core.netdev_max_backlog"), ("value", "16384")]).is_ok());
        assert!(check("sysctl-set", &[("key", "net.ipv4.tcp_congestion_control"), ("value", "bbr")]).is_ok());
        assert!(check("renice-process", &[("pid", "4242"), ("nice", "10")]).is_ok());
        assert!(check("clean-old-files", &[("dir", "/"), ("older_than_days", "14")]).is_ok());
        assert!(check("set-workers", &[("service", "web"), ("workers", "12")]).is_ok());
        assert!(check("nginx-upstream-keepalive", &[("route", "GET /api/contacts/:id")]).is_ok());
        let index =
            [("database", "crm"), ("table", "public.contacts"), ("columns", "account_id,email"), ("index", "i")];
        assert!(check("pg-create-index", &index).is_ok() && check("mysql-create-index", &index).is_ok());
        // ... and what no built-in rule proposes does not.
        assert!(check("sysctl-set", &[("key", "kernel.core_pattern"), ("value", "10")]).is_err());
        assert!(check("renice-process", &[("pid", "1"), ("nice", "-20")]).is_err());
        assert!(check("clean-old-files", &[("dir", "/etc"), ("older_than_days", "14")]).is_err());
        let archive =
            check("set-config-key", &[("file", "/etc/postgresql.conf"), ("key", "archive_command"), ("value", "x")]);
        assert!(archive.unwrap_err().contains("allows no key"));
    }

    #[test]
    fn env_keys_are_a_safe_charset() {
        for good in ["DIR", "older_than_days", "A1_B"] {
            assert!(is_safe_env_key(good), "{good}");
        }
        for bad in ["", "1X", "A-B", "A=B", "A B", "A;B", "Ä", &"X".repeat(65)] {
            assert!(!is_safe_env_key(bad), "{bad}");
        }
    }
}
