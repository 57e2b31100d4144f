//! Helpers shared by the database rules (slow-queries, db-cache,
//! db-connections, vacuum, long-transactions): reading an engine's status
//! counters and settings by name, and the short labels findings use as
//! targets, so every rule names a database and a statement the same way.

use crate::Database;

/// The engine names the database sources write into `database.engine` and
/// `query.engine` (defined by the contract crate).
pub use perfsage_contract::engines::{MARIADB, MYSQL, POSTGRESQL};

/// How many characters of a statement a target or title shows.
pub const SHORT_TEXT_CHARS: usize = 60;

/// A status counter or setting of `db` by its server name (`blks_hit`,
/// `Threads_running`, `innodb_buffer_pool_size`, ...); `None` when the source
/// did not record it. Names are matched exactly: the servers' own spelling.
pub fn status(db: &Database, name: &str) -> Option<f64> {
    db.status.iter().find(|v| v.name == name).map(|v| v.value).filter(|v| v.is_finite())
}

/// Whether the engine is MariaDB or MySQL (they share counters and settings).
pub fn is_mysql_family(engine: &str) -> bool {
    engine == MARIADB || engine == MYSQL
}

/// A short display label for a database: `postgresql crm`, from a
/// `database` record's or a `query`'s engine and database name. A statement
/// without a schema (MySQL digests run outside any) is labelled by its engine.
pub fn label(engine: &str, name: &str) -> String {
    if name.is_empty() { engine.to_owned() } else { format!("{engine} {name}") }
}

/// The statement with runs of whitespace folded to one space, cut to at most
/// `max_chars` characters (an ellipsis marks the cut), for targets and titles.
pub fn short_text(text: &str, max_chars: usize) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() <= max_chars {
        return folded;
    }
    let cut: String = folded.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Database {
        crate::testing::database(POSTGRESQL, &[("blks_hit", 42.0)])
    }

    #[test]
    fn status_is_found_by_its_exact_name() {
        assert_eq!(status(&db(), "blks_hit"), Some(42.0));
        assert_eq!(status(&db(), "BLKS_HIT"), None);
        assert_eq!(status(&db(), "blks_read"), None);
    }

    #[test]
    fn labels_and_short_texts() {
        assert_eq!(label(&db().engine, &db().name), "postgresql crm");
        assert_eq!(label("mariadb", ""), "mariadb");
        assert!(is_mysql_family("mariadb") && is_mysql_family("mysql") && !is_mysql_family("postgresql"));
        assert_eq!(short_text("select *\n   from  deals\twhere id = ?", 60), "select * from deals where id = ?");
        assert_eq!(short_text("select a, b, c from deals", 12), "select a, b…");
        assert_eq!(short_text("héllo wörld", 5), "héll…");
    }
}
