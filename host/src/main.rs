//! The `perfsage` binary; everything lives in the library (see `cli`).

fn main() -> std::process::ExitCode {
    perfsage::cli::main()
}
