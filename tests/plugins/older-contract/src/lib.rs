//! Built against `perfsage:rule@0.1.0`, an older but semver-compatible version
//! of the host's contract: it must load and run.
wit_bindgen::generate!({ path: "wit", world: "plugin" });
include!("../../contract-rule.rs");
