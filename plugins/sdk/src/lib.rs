//! The perfsage plugin SDK: what a rule plugin is written with.
//!
//! A rule is a type implementing [`Rule`]: `describe()` says who it is, which
//! snapshot sections it needs and which parameters it takes; `check()` turns a
//! [`Snapshot`] into [`Finding`]s. [`export_rule!`] turns that type into the
//! exports of a `wasm32-wasip2` component.
//!
//! The types are generated from `wit/rule.wit` (the contract) by
//! `wit_bindgen::generate!`, so the SDK never keeps a copy of the model. They
//! also derive serde, and the crate builds for the host target, so the same
//! rule logic can be unit-tested natively against JSON fixture snapshots (see
//! [`testing`]) and benchmarked against its Wasm build.
//!
//! ```ignore
//! use perfsage_sdk::*;
//!
//! struct Example;
//! impl Rule for Example {
//!     fn describe() -> RuleInfo {
//!         RuleInfo::new("example", env!("CARGO_PKG_VERSION"), "Says hello", Category::Software)
//!             .needs(&[Section::Cpu])
//!             .param(param::number("limit", "CPU % that is too much", "%", 90.0).range(0.0, 100.0))
//!     }
//!     fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
//!         Ok(vec![])
//!     }
//! }
//! export_rule!(Example);
//! ```

pub mod builders;
pub mod config;
pub mod databases;
pub mod endpoints;
pub mod machine;
pub mod metrics;
pub mod processes;
pub mod series;
pub mod severity;
pub mod testing;

/// Bindings generated from the contract. Plugins normally use the re-exports
/// at the crate root instead.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "perfsage_sdk::bindings",
        additional_derives: [serde::Serialize, serde::Deserialize, Clone, PartialEq],
    });
}

pub use bindings::exports::perfsage::rule::rule::{
    Action, Bucket, Category, ConfigEntry, Cpu, Database, DbTransaction, Disk, Endpoint, Evidence, Finding, HookParam,
    Label, Latency, Level, Memory, Meta, NamedValue, NetInterface, Network, ParamSpec, ParamValue, Process, Query,
    RuleInfo, Section, Series, Severity, Snapshot, TableStat,
};
pub use builders::param;
pub use config::Config;

/// The names and special values host and plugins agree on beside the WIT
/// (series names, engine names, plan hints): see `wit/README.md`.
pub use perfsage_contract as contract;

/// The contract version this SDK was generated from.
pub use perfsage_contract::CONTRACT_VERSION;

/// A rule plugin: implement this and call [`export_rule!`].
pub trait Rule {
    /// Name, version, category, needed sections and parameters.
    fn describe() -> RuleInfo;

    /// Check a snapshot with a resolved configuration.
    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String>;
}

/// Glue between a [`Rule`] and the generated `Guest` trait. Public only for
/// [`export_rule!`]; not part of the SDK's API.
#[doc(hidden)]
pub fn __describe<R: Rule>() -> RuleInfo {
    report_panics_to_host();
    R::describe()
}

/// Glue between a [`Rule`] and the generated `Guest` trait.
#[doc(hidden)]
pub fn __check<R: Rule>(snapshot: Snapshot, entries: Vec<ConfigEntry>) -> Result<Vec<Finding>, String> {
    report_panics_to_host();
    let config = Config::resolve(&R::describe().params, entries);
    R::check(&snapshot, &config)
}

/// Send panic messages to the host's `log` so a trapping plugin is reported
/// with its reason. Inside the sandbox the standard library's own panic output
/// (stderr) is a trap, so the hook must not fall back to it.
fn report_panics_to_host() {
    #[cfg(target_arch = "wasm32")]
    {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            std::panic::set_hook(Box::new(|info| bindings::perfsage::rule::host::log(&info.to_string())));
        });
    }
}

/// Send a diagnostic line to the host (kept bounded; shown when the plugin
/// fails). Natively it goes to stderr.
pub fn log(message: &str) {
    #[cfg(target_arch = "wasm32")]
    bindings::perfsage::rule::host::log(message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{message}");
}

/// Export a [`Rule`] as the component's `perfsage:rule/rule` interface.
///
/// The exports are only emitted for `wasm32` targets, so several plugin crates
/// can be linked into one native binary (tests, benchmarks) without clashing
/// symbols.
#[macro_export]
macro_rules! export_rule {
    ($rule:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __PerfsagePlugin;
            impl $crate::bindings::exports::perfsage::rule::rule::Guest for __PerfsagePlugin {
                fn describe() -> $crate::RuleInfo {
                    $crate::__describe::<$rule>()
                }
                fn check(
                    snapshot: $crate::Snapshot,
                    config: ::std::vec::Vec<$crate::ConfigEntry>,
                ) -> ::std::result::Result<::std::vec::Vec<$crate::Finding>, ::std::string::String> {
                    $crate::__check::<$rule>(snapshot, config)
                }
            }
    $crate::bindings::__export_plugin!(__PerfsagePlugin with_types_in $crate::bindings);
        };
    };
}
