//! The `perfsage` command line: the top of the layers (see ARCHITECTURE.md).
//!
//! - [`cli`]: clap definitions, each command's flow, exit codes, error
//!   printing; the only module that prints;
//! - [`pack`]: the rule pack, put together from the sections each layer owns;
//! - [`scaffold`]: `perfsage plugin new`, a rule plugin crate ready to build.

mod cli;
mod pack;
mod scaffold;

fn main() -> std::process::ExitCode {
    cli::main()
}
