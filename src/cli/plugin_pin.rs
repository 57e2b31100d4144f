//! `perfsage plugin pin`: record the SHA-256 of every external plugin given
//! by `--plugin` / `--plugins-dir` in the lock file beside the rule pack (see
//! [`perfsage_engine::pins`]), so that `run`, `check` and `plugin list` refuse a plugin
//! whose bytes change afterwards.

use anyhow::anyhow;

use super::args::PluginArgs;
use super::commands::{external_plugin_paths, write_stdout};
use super::exit::{Exit, Failure};
use perfsage_engine::pins::{Lock, PinChange, lock_path};

pub fn plugin_pin(args: PluginArgs) -> Result<Exit, Failure> {
    let path = lock_path(args.lock.as_deref(), args.config.as_deref()).ok_or_else(|| {
        Failure::usage(anyhow!(
            "pinning needs a place for the lock file: give the rule pack (--config PACK; the lock goes beside it) \
             or --lock FILE"
        ))
    })?;
    let plugins = external_plugin_paths(&args)?;
    if plugins.is_empty() {
        return Err(Failure::usage(anyhow!("nothing to pin: name plugins with --plugin or --plugins-dir")));
    }
    let mut lock = Lock::read_or_new(&path).map_err(Failure::usage)?;
    let mut out = String::new();
    for plugin in &plugins {
        let (change, sha256) = lock.pin(plugin).map_err(Failure::usage)?;
        let change = match change {
            PinChange::New => "pinned",
            PinChange::Updated => "re-pinned (content changed)",
            PinChange::Unchanged => "unchanged",
        };
        out.push_str(&format!("{}  sha256 {}  {change}\n", plugin.display(), &sha256[..16]));
    }
    lock.save().map_err(Failure::usage)?;
    out.push_str(&format!("wrote {}\n", lock.path().display()));
    write_stdout(&out)?;
    Ok(Exit::Clean)
}
