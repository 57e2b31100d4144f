//! The contract between the perfsage host and its rule plugins, beyond the
//! types: the version of `wit/rule.wit`, and the names and special values
//! that travel inside its strings.
//!
//! The WIT fixes the shape of a snapshot; it cannot say that the series of
//! requests per minute is called `http_requests`, or that a MySQL source that
//! reads every schema writes `*` as the database name. Those values are
//! written on one side of the sandbox wall and compared on the other, so both
//! sides take them from here (see `wit/README.md`). Each constant says who
//! writes it and who reads it.
//!
//! The crate has no dependencies and no `std` use, so it builds for the host,
//! for plugins compiled to `wasm32-wasip2`, and for their native tests.

#![no_std]

/// The version of the `perfsage:rule` package in `wit/rule.wit` (its
/// `package perfsage:rule@X.Y.Z;` line). The host refuses a plugin whose
/// contract is not semver-compatible with its own; a test below keeps this
/// constant equal to the WIT's.
pub const CONTRACT_VERSION: &str = "0.1.1";

/// `meta.schema-version`: the layout of the snapshot record.
pub mod meta {
    /// The snapshot layout of contract 0.1. Written by the host into every
    /// snapshot it takes (`crates/model`, `SCHEMA_VERSION`); read by the
    /// SDK's test snapshots. No rule reads it yet.
    pub const SCHEMA_VERSION: u32 = 1;
}

/// `series.name`: the time series the host's sources write.
pub mod series {
    /// Requests per minute of a service. Written by the host's access-log
    /// source; read by the `errors` (burst) and `saturation` (load and
    /// latency) plugins.
    pub const HTTP_REQUESTS: &str = "http_requests";

    /// Server errors (5xx) per minute of a service, with the same labels and
    /// timestamps as [`HTTP_REQUESTS`]. Written by the host's access-log
    /// source; read by the `errors` plugin.
    pub const HTTP_ERRORS: &str = "http_errors";

    /// Mean latency in milliseconds per minute of a service, with the same
    /// labels and timestamps as [`HTTP_REQUESTS`]. Written by the host's
    /// access-log source; read by the `saturation` plugin.
    pub const HTTP_LATENCY_MEAN_MS: &str = "http_latency_mean_ms";
}

/// `label.name`: the labels the host puts on series.
pub mod labels {
    /// The service a series counts (the access log's service name). Written
    /// by the host's access-log source on every `http_*` series; read by the
    /// `errors` and `saturation` plugins to name the service in a finding.
    pub const SERVICE: &str = "service";
}

/// `database.engine` and `query.engine`: the engine names the database
/// sources write. Every rule branches on them.
pub mod engines {
    /// Written by the host's PostgreSQL source and the log digest of a
    /// PostgreSQL log; read by every database plugin.
    pub const POSTGRESQL: &str = "postgresql";

    /// Written by the host's MySQL source when the server's version says
    /// MariaDB; read by every database plugin.
    pub const MARIADB: &str = "mariadb";

    /// Written by the host's MySQL source for a MySQL server, and by the log
    /// digest of a MySQL slow log; read by every database plugin.
    pub const MYSQL: &str = "mysql";
}

/// `database.name`: special database names.
pub mod databases {
    /// The database record of a MariaDB/MySQL source whose URL names no
    /// schema: its tables come from every schema, qualified (`crm.contacts`).
    /// Written by the host's MySQL source; read by the `missing-index`
    /// plugin, which matches such a record against a statement of any
    /// database of that engine.
    pub const ALL: &str = "*";
}

/// `query.plan-hints`: what the server's planner said about a statement.
///
/// A scan hint is a kind, [`TABLE_SEPARATOR`], and the table it reads:
/// `seq-scan:public.contacts`, `full-scan:crm.contacts`,
/// `index-scan:public.contacts`. Every scan kind ends in `-scan`.
pub mod plan_hints {
    /// A PostgreSQL `Seq Scan` node. Written by the host's PostgreSQL
    /// source; read by the `missing-index` plugin.
    pub const SEQ_SCAN: &str = "seq-scan";

    /// A MySQL/MariaDB `EXPLAIN` row of type `ALL`. Written by the host's
    /// MySQL source; read by the `missing-index` plugin.
    pub const FULL_SCAN: &str = "full-scan";

    /// A plan node or row that reads through an index. Written by the
    /// host's PostgreSQL and MySQL sources; read by the `missing-index`
    /// plugin (an index scan clears a finding).
    pub const INDEX_SCAN: &str = "index-scan";

    /// Between a scan kind and its table.
    pub const TABLE_SEPARATOR: char = ':';

    /// The digest's `sum_no_index_used` is positive: the server ran the
    /// statement without an index at least once. Written by the host's MySQL
    /// source; read by the `missing-index` plugin.
    pub const NO_INDEX_USED: &str = "no-index-used";

    /// The digest's `sum_select_full_join` is positive. Written by the
    /// host's MySQL source; no plugin reads it yet.
    pub const FULL_JOIN: &str = "full-join";
}

#[cfg(test)]
mod tests {
    /// The WIT this crate describes, read at compile time.
    const WIT: &str = include_str!("../../../wit/rule.wit");

    #[test]
    fn contract_version_is_the_wit_package_version() {
        let line = WIT
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("package "))
            .expect("wit/rule.wit has a package line");
        let version = line
            .strip_prefix("package perfsage:rule@")
            .and_then(|rest| rest.strip_suffix(';'))
            .unwrap_or_else(|| panic!("unexpected package line in wit/rule.wit: {line}"));
        assert_eq!(version, super::CONTRACT_VERSION);
    }

    #[test]
    fn scan_kinds_end_in_scan() {
        use super::plan_hints::*;
        for kind in [SEQ_SCAN, FULL_SCAN, INDEX_SCAN] {
            assert!(kind.ends_with("-scan"), "{kind}");
        }
    }
}
