//! The plugin's fixture cases (`tests/fixtures/rules/disk.toml`), checked
//! natively with the semantics the host's sandboxed runner applies.

#[path = "../../../tests/fixtures/rules/case_runner.rs"]
mod case_runner;

#[test]
fn fixture_cases_hold_natively() {
    case_runner::run_case_file::<perfsage_plugin_disk::Plugin>();
}
