//! The rule pack at the bottom of the layers: the default pack's text, and
//! how a user's section is laid over it.
//!
//! A rule pack is one TOML file whose sections belong to different layers:
//! `[runtime]` and `[plugins.*]` to the engine, `[collect]`, `[sources]`,
//! `[access_log]`, `[slow_log]` and `[prometheus]` to the sources, `[hooks.*]`
//! to the actions. Each layer owns the type of its sections; the command line
//! assembles them into one strict `RulePack`. What every layer may need of the
//! default pack lives here, below them all, so no layer reaches up for it.

/// The rule pack used when none is given (`rules/default.toml`, embedded).
pub const DEFAULT_RULE_PACK: &str = include_str!("../../../rules/default.toml");

/// The default pack's `[name]` table (empty when the pack has none).
pub fn default_section(name: &str) -> toml::Table {
    let pack: toml::Table = toml::from_str(DEFAULT_RULE_PACK).expect("the default rule pack is TOML");
    match pack.get(name) {
        Some(toml::Value::Table(table)) => table.clone(),
        _ => toml::Table::new(),
    }
}

/// The default pack's `[name]` table with `over` laid on it key by key:
/// tables merge recursively, any other value replaces the default's. A team
/// with other metric names overrides the one key that differs.
pub fn merged_section(name: &str, over: &toml::Table) -> toml::Table {
    let mut base = default_section(name);
    merge(&mut base, over);
    base
}

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(base)), toml::Value::Table(over)) => merge(base, over),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pack_parses_and_has_its_sections() {
        assert!(default_section("prometheus").contains_key("node"));
        assert!(default_section("hooks").contains_key("sysctl-set"));
        assert!(default_section("no-such-section").is_empty());
    }

    #[test]
    fn tables_merge_key_by_key_and_values_replace() {
        let over: toml::Table = toml::from_str("timeout_ms = 7\n[node]\nload1 = \"host_load_1m\"").unwrap();
        let merged = merged_section("prometheus", &over);
        assert_eq!(merged["timeout_ms"].as_integer(), Some(7));
        let node = merged["node"].as_table().unwrap();
        assert_eq!(node["load1"].as_str(), Some("host_load_1m"));
        assert_eq!(node["load5"].as_str(), Some("node_load5"), "the untouched keys keep the default");
    }
}
