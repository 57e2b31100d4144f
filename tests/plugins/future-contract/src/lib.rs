//! Built against `perfsage:rule@0.2.0`, an incompatible minor for a 0.1 host:
//! it must be refused with both versions named.
wit_bindgen::generate!({ path: "wit", world: "plugin" });
include!("../../contract-rule.rs");
