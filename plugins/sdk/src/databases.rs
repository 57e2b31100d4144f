//! Helpers shared by the database rules (slow-queries, db-cache,
//! db-connections, vacuum, long-transactions, missing-index, temp-spill):
//! reading an engine's status counters and settings by name, the connection
//! limit, the oldest open transaction, and the short labels findings use as
//! targets, so every rule names a database and a statement the same way.

use crate::{Database, DbTransaction};

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

/// `max_connections`: the database record's limit, or when the source left
/// it at 0 the `max_connections` setting among the status values; `None` when
/// neither knows a limit.
pub fn max_connections(db: &Database) -> Option<f64> {
    match db.connections_max {
        0 => status(db, "max_connections").filter(|m| *m > 0.0),
        max => Some(max as f64),
    }
}

/// The oldest of the database's open transactions that is at least
/// `min_age_s` old; of two as old, the one with the lower pid.
pub fn oldest_transaction(db: &Database, min_age_s: f64) -> Option<&DbTransaction> {
    db.transactions
        .iter()
        .filter(|t| t.age_s >= min_age_s)
        .max_by(|a, b| a.age_s.total_cmp(&b.age_s).then_with(|| b.pid.cmp(&a.pid)))
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

/// The target of a finding about one table: `crm public.deals`, the
/// database's name then the table's, so rules about the same table (bloat,
/// missing indexes) name it the same way.
pub fn table_target(database: &str, table: &str) -> String {
    format!("{database} {table}")
}

/// The statement with runs of whitespace folded to one space, cut to at most
/// `max_chars` characters (an ellipsis marks the cut, and counts), for
/// targets and titles.
pub fn short_text(text: &str, max_chars: usize) -> String {
    let folded = folded(text);
    if folded.chars().count() <= max_chars {
        return folded;
    }
    let cut: String = folded.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

/// The statement with runs of whitespace folded to one space and, past its
/// first `keep_chars` characters, cut and followed by an ellipsis: unlike
/// [`short_text`], the ellipsis comes on top of the characters kept and
/// nothing before it is trimmed (the longer quotes of action details).
pub fn text_cut_after(text: &str, keep_chars: usize) -> String {
    let folded = folded(text);
    match folded.char_indices().nth(keep_chars) {
        Some((at, _)) => format!("{}…", &folded[..at]),
        None => folded,
    }
}

fn folded(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
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
        assert_eq!(short_text("hello world", 7), "hello…");
        assert_eq!(table_target("crm", "public.deals"), "crm public.deals");
    }

    #[test]
    fn text_cut_after_keeps_its_characters_and_adds_the_ellipsis() {
        assert_eq!(text_cut_after("select *\n  from deals", 60), "select * from deals");
        assert_eq!(text_cut_after("héllo wörld", 11), "héllo wörld");
        assert_eq!(text_cut_after("héllo wörld", 5), "héllo…");
        assert_eq!(text_cut_after("hello world", 6), "hello …");
    }

    #[test]
    fn max_connections_falls_back_to_the_setting() {
        assert_eq!(max_connections(&db()), Some(100.0));
        let unknown = Database { connections_max: 0, ..db() };
        assert_eq!(max_connections(&unknown), None);
        let from_status =
            Database { connections_max: 0, ..crate::testing::database(MYSQL, &[("max_connections", 151.0)]) };
        assert_eq!(max_connections(&from_status), Some(151.0));
    }

    #[test]
    fn oldest_transaction_over_an_age_lowest_pid_first() {
        let tx = |pid, age_s| DbTransaction { pid, age_s, state: String::new(), query: String::new() };
        let busy = Database { transactions: vec![tx(9, 30.0), tx(7, 700.0), tx(5, 700.0), tx(3, 90.0)], ..db() };
        assert_eq!(oldest_transaction(&busy, 60.0).map(|t| t.pid), Some(5));
        assert_eq!(oldest_transaction(&busy, 701.0), None);
    }
}
