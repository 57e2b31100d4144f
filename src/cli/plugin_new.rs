//! `perfsage plugin new NAME [--dir DIR] [--sdk auto|path|vendor]`: scaffold
//! a rule plugin crate (see [`crate::scaffold`]) and say what to do next.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::commands::write_stdout;
use super::exit::{Exit, Failure};
use crate::scaffold::{SdkSource, checkout_sdk, scaffold};

#[derive(Debug, Args)]
pub struct PluginNewArgs {
    /// The plugin's name: the crate name and the prefix of its rule ids.
    #[arg(value_name = "NAME")]
    name: String,
    /// Where to create the crate (it goes in DIR/NAME).
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Where the crate gets the SDK: `path` (this perfsage's source checkout),
    /// `vendor` (a copy written into the crate), or `auto` (path when the
    /// checkout is there, else vendor).
    #[arg(long, value_enum, default_value_t = SdkArg::Auto)]
    sdk: SdkArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SdkArg {
    Auto,
    Path,
    Vendor,
}

pub fn plugin_new(args: PluginNewArgs) -> Result<Exit, Failure> {
    let sdk = match args.sdk {
        SdkArg::Path => SdkSource::Path,
        SdkArg::Vendor => SdkSource::Vendor,
        SdkArg::Auto if checkout_sdk().is_some() => SdkSource::Path,
        SdkArg::Auto => SdkSource::Vendor,
    };
    let root = scaffold(&args.name, &args.dir, sdk).map_err(Failure::usage)?;
    let wasm = format!("target/wasm32-wasip2/release/{}.wasm", args.name.replace('-', "_"));
    write_stdout(&format!(
        "created {root} (SDK: {sdk})\n\nnext:\n  cd {root}\n  cargo build --release --target wasm32-wasip2\n  \
         perfsage plugin test {wasm} --cases cases.toml\n  perfsage check fixtures/slow-endpoint.json --plugin {wasm}\n",
        root = root.display(),
        sdk = if sdk == SdkSource::Path { "path dependency on the checkout" } else { "vendored copy" },
    ))?;
    Ok(Exit::Clean)
}
