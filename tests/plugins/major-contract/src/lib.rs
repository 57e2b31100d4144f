//! Built against `perfsage:rule@1.0.0`, an incompatible major for a 0.1 host:
//! it must be refused with both versions named.
wit_bindgen::generate!({ path: "wit", world: "plugin" });
include!("../../contract-rule.rs");
