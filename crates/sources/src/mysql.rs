//! MySQL and MariaDB source: global status and variables, the tables of
//! `information_schema`, open InnoDB transactions, and the statement digests
//! of `performance_schema` when it is on.
//!
//! The busiest digests are also explained, never run: placeholders get sample
//! values (`'0'`, `1` after `LIMIT`) and `EXPLAIN` says which tables are read
//! in full (`full-scan:crm.contacts`) or through a key
//! (`index-scan:crm.contacts`). The digest counters are cumulative; the plan
//! is current, so a created index shows at once.
//!
//! `status` carries the raw counters and settings a rule needs (buffer pool
//! reads and size, `Threads_running`, temporary tables on disk, full joins and
//! scans, slow queries, ...) under their server names; the `database` fields
//! hold what both engines share. MySQL keeps no per-table scan counters outside
//! `performance_schema`, so `seq_scans` is 0 and `index_scans` absent. Views
//! that cannot be read become warnings (see [`super::database`]).
//!
//! Explaining executes nothing of the user's: the optimizer evaluates
//! constant expressions, stored functions among them, while it plans. A
//! digest that calls anything not in a fixed list of built-in functions and
//! keywords ([`BUILT_INS`], so stored functions and loadable UDFs alike), or
//! calls through a schema (`db.f(...)`), or names a view (whose definition
//! may call one), is not explained: it gets the plan hint
//! `not-explained:user-function` and a warning with the reason. Only SELECT,
//! INSERT, UPDATE and DELETE are explained, in a read-only transaction rolled
//! back afterwards, under a statement timeout (`max_statement_time` on
//! MariaDB, `max_execution_time` on MySQL, which bounds SELECTs only). The
//! servers refuse to `EXPLAIN` an INSERT in a read-only transaction, so
//! INSERTs are in effect not explained here (their plan has nothing to scan
//! unless they are INSERT ... SELECT).

use std::collections::HashMap;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};

use super::database::{self, DatabaseError, DatabaseSample, Step};
use perfsage_model::contract::{self, engines};
use perfsage_model::{Database, DbTransaction, NamedValue, Query, TableStat};

const MAX_TABLES: usize = 200;

/// Counters from `SHOW GLOBAL STATUS` and settings from `SHOW GLOBAL VARIABLES` kept in `status`.
const STATUS_NAMES: &[&str] = &[
    "Threads_connected",
    "Threads_running",
    "Max_used_connections",
    "Created_tmp_tables",
    "Created_tmp_disk_tables",
    "Created_tmp_files",
    "Select_full_join",
    "Select_scan",
    "Slow_queries",
    "Questions",
    "Uptime",
    "Innodb_buffer_pool_read_requests",
    "Innodb_buffer_pool_reads",
    "Innodb_row_lock_current_waits",
    "Innodb_row_lock_waits",
    "Innodb_deadlocks",
];
const VARIABLE_NAMES: &[&str] =
    &["max_connections", "innodb_buffer_pool_size", "tmp_table_size", "max_heap_table_size", "long_query_time"];

const ENABLE_DIGESTS: &str = "performance_schema is off, so there are no per-query statistics; to enable it set \
performance_schema=ON in the [mysqld] section of the server's configuration and restart it";

const NOT_EXPLAINED: &str = "not-explained:user-function";

const SUPERUSER_INSTEAD: &str = "CREATE USER perfsage; GRANT PROCESS ON *.* TO perfsage; \
GRANT SELECT ON performance_schema.* TO perfsage (and SELECT on the schemas whose statements it explains)";

/// Collect one MySQL or MariaDB server, e.g. `mysql://root@127.0.0.1:3306/shop`,
/// all of it within `timeout` (see [`super::database`]).
/// Without a database in the URL, the tables of every non-system schema are read.
pub fn collect(url: &str, timeout: Duration) -> Result<DatabaseSample, DatabaseError> {
    let opts =
        Opts::from_url(url).map_err(|e| DatabaseError::Url { engine: engines::MYSQL, message: e.to_string() })?;
    let schema = opts.db_name().map(str::to_owned);
    let label =
        database::label(engines::MYSQL, opts.ip_or_hostname(), opts.tcp_port(), schema.as_deref().unwrap_or(""));
    let step = Step::new();
    database::runtime()?.block_on(database::within(&label, timeout, &step, async {
        let conn =
            Conn::new(opts).await.map_err(|e| DatabaseError::Connect { label: label.clone(), source: Box::new(e) })?;
        let mut reader = Reader { conn, label: label.clone(), schema, step: &step, timeout };
        let sample = reader.read().await;
        // A polite goodbye; the server cleans up after a dropped socket too.
        step.set("disconnecting");
        let _ = reader.conn.disconnect().await;
        sample
    }))
}

struct Reader<'a> {
    conn: Conn,
    label: String,
    schema: Option<String>,
    step: &'a Step,
    timeout: Duration,
}

/// What a failed statistics statement gives: the server's own message.
type Read<T> = Result<T, mysql_async::Error>;

impl Reader<'_> {
    async fn read(&mut self) -> Result<DatabaseSample, DatabaseError> {
        let label = self.label.clone();
        let fail = |what: &'static str| {
            let label = label.clone();
            move |e: mysql_async::Error| DatabaseError::Query { label, what, source: Box::new(e) }
        };
        self.step.set("reading version()");
        let version: String =
            self.conn.query_first("select version()").await.map_err(fail("version()"))?.unwrap_or_default();
        let engine = if version.contains("MariaDB") { engines::MARIADB } else { engines::MYSQL };
        self.step.set("setting the statement timeout");
        // A server without the setting (MySQL before 5.7.8) is still read, under
        // the source's own deadline; it only explains nothing (see `explain`).
        let mut warnings = Vec::new();
        if let Err(e) = self.statement_timeout(engine, self.timeout).await {
            warnings.push(format!("{}: cannot set a statement timeout: {e}", self.label));
        }
        self.step.set("reading global status");
        let status = self.globals("SHOW GLOBAL STATUS").await.map_err(fail("global status"))?;
        self.step.set("reading global variables");
        let variables = self.globals("SHOW GLOBAL VARIABLES").await.map_err(fail("global variables"))?;
        let number = |map: &HashMap<String, String>, name: &str| map.get(name).and_then(|v| v.parse::<f64>().ok());

        let mut db = database::empty_database(
            self.schema.clone().unwrap_or_else(|| contract::databases::ALL.to_owned()),
            engine,
        );
        db.connections_used = number(&status, "Threads_connected").unwrap_or(0.0) as u32;
        db.connections_max = number(&variables, "max_connections").unwrap_or(0.0) as u32;
        if let (Some(requests), Some(misses)) =
            (number(&status, "Innodb_buffer_pool_read_requests"), number(&status, "Innodb_buffer_pool_reads"))
        {
            db.cache_hit_ratio = database::hit_ratio((requests - misses).max(0.0), misses);
        }
        db.lock_waits = number(&status, "Innodb_row_lock_current_waits").unwrap_or(0.0) as u32;
        db.deadlocks = number(&status, "Innodb_deadlocks").map(|v| v as u64);
        db.temp_files = number(&status, "Created_tmp_files").map(|v| v as u64);
        for (map, names) in [(&status, STATUS_NAMES), (&variables, VARIABLE_NAMES)] {
            for name in names.iter() {
                if let Some(value) = number(map, name) {
                    db.status.push(NamedValue { name: (*name).to_owned(), value });
                }
            }
        }

        self.step.set("checking the user's privileges");
        match self.superuser().await {
            Ok(Some(who)) => warnings.push(database::superuser_warning(&self.label, &who, SUPERUSER_INSTEAD)),
            Ok(None) => {}
            Err(e) => warnings.push(format!("{}: cannot tell whether the user is a superuser: {e}", self.label)),
        }
        self.step.set("reading information_schema.TABLES");
        if let Err(e) = self.tables(&mut db).await {
            warnings.push(format!("{}: cannot read information_schema.TABLES: {e}", self.label));
        }
        self.step.set("reading information_schema.INNODB_TRX");
        if let Err(e) = self.transactions(&mut db).await {
            warnings.push(format!(
                "{}: cannot read open transactions (information_schema.INNODB_TRX): {e}; the user needs the PROCESS privilege",
                self.label
            ));
        }
        let mut queries = Vec::new();
        if variables.get("performance_schema").is_some_and(|v| v == "ON") {
            self.step.set("reading performance_schema statement digests");
            let digests = self.digests(engine, &mut queries).await;
            if digests.is_ok() {
                self.step.set("explaining the busiest statements");
                self.explain(engine, &mut queries, &mut warnings).await;
            }
            if let Err(e) = digests {
                warnings.push(format!(
                    "{}: cannot read performance_schema.events_statements_summary_by_digest: {e}; \
                     GRANT SELECT ON performance_schema.* to the user",
                    self.label
                ));
            }
        } else {
            warnings.push(format!("{}: {ENABLE_DIGESTS}", self.label));
        }
        Ok(DatabaseSample { label: self.label.clone(), database: db, queries, warnings })
    }

    /// Ask the server to cancel any one statement after `timeout`: MariaDB's
    /// `max_statement_time` (seconds, every statement), MySQL's
    /// `max_execution_time` (milliseconds, SELECTs only).
    async fn statement_timeout(&mut self, engine: &str, timeout: Duration) -> Read<()> {
        let statement = if engine == engines::MARIADB {
            format!("set session max_statement_time = {}", timeout.as_secs_f64())
        } else {
            format!("set session max_execution_time = {}", timeout.as_millis())
        };
        self.conn.query_drop(statement).await
    }

    /// `Some(who)` when the user holds SUPER (or is root), which perfsage never needs.
    async fn superuser(&mut self) -> Read<Option<String>> {
        // USER_PRIVILEGES names a grantee `'user'@'host'`.
        let row: Option<(String, i64)> = self
            .conn
            .query_first(
                "select current_user(), exists (
                     select 1 from information_schema.USER_PRIVILEGES
                     where PRIVILEGE_TYPE = 'SUPER'
                       and GRANTEE = concat(char(39), substring_index(current_user(), '@', 1), char(39), '@',
                                            char(39), substring_index(current_user(), '@', -1), char(39)))",
            )
            .await?;
        Ok(row.and_then(|(user, sup)| {
            let root = user.split('@').next() == Some("root");
            (sup != 0 || root).then(|| format!("{user}, a user with the SUPER privilege"))
        }))
    }

    async fn globals(&mut self, statement: &str) -> Read<HashMap<String, String>> {
        let rows: Vec<(String, Option<String>)> = self.conn.query(statement).await?;
        Ok(rows.into_iter().map(|(name, value)| (name, value.unwrap_or_default())).collect())
    }

    async fn tables(&mut self, db: &mut Database) -> Read<()> {
        let rows: Vec<(String, Option<u64>, Option<u64>)> = self
            .conn
            .exec(
                "select concat(table_schema, '.', table_name), table_rows, data_length + index_length
                 from information_schema.TABLES
                 where table_type = 'BASE TABLE'
                   and (table_schema = ? or (? is null and table_schema not in
                        ('mysql', 'information_schema', 'performance_schema', 'sys')))
                 order by table_rows desc, table_name limit ?",
                (self.schema.clone(), self.schema.clone(), MAX_TABLES as u64),
            )
            .await?;
        db.tables = rows
            .into_iter()
            .map(|(name, rows, size)| TableStat {
                name,
                rows_estimate: rows.unwrap_or(0),
                size_bytes: size,
                seq_scans: 0,
                seq_rows_read: 0,
                index_scans: None,
                dead_rows: None,
                last_vacuum_ms: None,
            })
            .collect();
        Ok(())
    }

    /// Open InnoDB transactions, oldest first; "idle in transaction" is one whose connection sleeps.
    async fn transactions(&mut self, db: &mut Database) -> Read<()> {
        let rows: Vec<(u64, f64, String, String, String)> = self
            .conn
            .query(
                "select t.trx_mysql_thread_id, timestampdiff(microsecond, t.trx_started, now()) / 1e6,
                        t.trx_state, coalesce(t.trx_query, ''), coalesce(p.command, '')
                 from information_schema.INNODB_TRX t
                 left join information_schema.PROCESSLIST p on p.id = t.trx_mysql_thread_id
                 order by t.trx_started limit 10",
            )
            .await?;
        db.idle_in_transaction = rows.iter().filter(|r| r.4 == "Sleep").count() as u32;
        db.transactions = rows
            .into_iter()
            .map(|(pid, age_s, state, query, _)| DbTransaction { pid: pid as u32, age_s, state, query })
            .collect();
        Ok(())
    }

    /// Add the scans of each explainable digest's plan to its plan hints;
    /// one that could call user code while planned is left unexplained (see
    /// the module docs).
    async fn explain(&mut self, engine: &str, queries: &mut [Query], warnings: &mut Vec<String>) {
        let timeout = self.timeout.min(database::EXPLAIN_TIMEOUT);
        if let Err(e) = self.statement_timeout(engine, timeout).await {
            warnings.push(format!("{}: no statement timeout for EXPLAIN ({e}), so nothing is explained", self.label));
            return;
        }
        for query in queries.iter_mut().take(database::MAX_EXPLAINED) {
            let statement = with_sample_values(&query.text);
            if query.database.is_empty() || !database::explainable(&statement) {
                continue;
            }
            let reason = match user_code(&statement) {
                Some(reason) => Some(reason),
                None => match self.views(&query.database, &statement).await {
                    Ok(views) => {
                        views.map(|v| format!("reads the view {v}, whose definition may call a stored function"))
                    }
                    Err(e) => Some(format!("could not be checked for views: {e}")),
                },
            };
            if let Some(reason) = reason {
                query.plan_hints.push(NOT_EXPLAINED.to_owned());
                warnings.push(database::not_explained(&self.label, &query.text, &reason));
                continue;
            }
            match self.scans(&query.database, &statement).await {
                Ok(hints) => query.plan_hints.extend(hints),
                Err(e) => log::debug!("{}: cannot explain `{statement}`: {e}", self.label),
            }
            // Leave no transaction open whatever happened.
            let _ = self.conn.query_drop("rollback").await;
        }
    }

    /// The views among the words of `statement`, in its schema or in any schema it names.
    async fn views(&mut self, schema: &str, statement: &str) -> Read<Option<String>> {
        let words = words(statement);
        if words.is_empty() {
            return Ok(None);
        }
        let list = vec!["?"; words.len()].join(", ");
        let word_values = words.iter().map(|w| mysql_async::Value::from(w.as_str()));
        let mut params = vec![mysql_async::Value::from(schema)];
        params.extend(word_values.clone());
        params.extend(word_values);
        let found: Vec<String> = self
            .conn
            .exec(
                format!(
                    "select concat(table_schema, '.', table_name) from information_schema.VIEWS
                     where (table_schema = ? or table_schema in ({list})) and table_name in ({list}) limit 5"
                ),
                mysql_async::Params::Positional(params),
            )
            .await?;
        Ok((!found.is_empty()).then(|| found.join(", ")))
    }

    async fn scans(&mut self, schema: &str, statement: &str) -> Read<Vec<String>> {
        self.conn.query_drop(format!("use `{}`", schema.replace('`', "``"))).await?;
        // Read only and rolled back: even a plan that ran something could change nothing.
        self.conn.query_drop("start transaction read only").await?;
        let rows: Vec<mysql_async::Row> = self.conn.query(format!("explain {statement}")).await?;
        let mut hints: Vec<String> = rows
            .iter()
            .filter_map(|row| {
                let text = |column: &str| row.get_opt::<Option<String>, _>(column).and_then(Result::ok).flatten();
                let table = text("table")?;
                // Derived tables (`<derived2>`) and unions are not tables.
                if table.starts_with('<') {
                    return None;
                }
                let kind = if text("type").as_deref() == Some("ALL") {
                    contract::plan_hints::FULL_SCAN
                } else if text("key").is_some() {
                    contract::plan_hints::INDEX_SCAN
                } else {
                    return None;
                };
                Some(format!("{kind}:{schema}.{table}"))
            })
            .collect();
        hints.sort();
        hints.dedup();
        Ok(hints)
    }

    async fn digests(&mut self, engine: &str, out: &mut Vec<Query>) -> Read<()> {
        // Timers are in picoseconds.
        type Digest = (Option<String>, String, Option<String>, u64, f64, f64, u64, u64, u64, u64);
        let rows: Vec<Digest> = self
            .conn
            .exec(
                // The URL's database only, when it names one (as for the tables).
                "select schema_name, coalesce(digest, ''), digest_text, count_star, sum_timer_wait / 1e9,
                        avg_timer_wait / 1e9, sum_rows_examined, sum_rows_sent, sum_no_index_used,
                        sum_select_full_join
                 from performance_schema.events_statements_summary_by_digest
                 where ? is null or schema_name = ?
                 order by sum_timer_wait desc limit 100",
                (self.schema.clone(), self.schema.clone()),
            )
            .await?;
        out.extend(rows.into_iter().map(
            |(schema, digest, text, calls, total_ms, mean_ms, examined, sent, no_index, full_join)| {
                let mut plan_hints = Vec::new();
                if no_index > 0 {
                    plan_hints.push(contract::plan_hints::NO_INDEX_USED.to_owned());
                }
                if full_join > 0 {
                    plan_hints.push(contract::plan_hints::FULL_JOIN.to_owned());
                }
                Query {
                    database: schema.unwrap_or_default(),
                    engine: engine.to_owned(),
                    fingerprint: digest,
                    text: text.unwrap_or_default(),
                    calls,
                    total_ms,
                    mean_ms,
                    p95_ms: None,
                    rows_examined: Some(examined),
                    rows_returned: Some(sent),
                    plan_hints,
                }
            },
        ));
        Ok(())
    }
}

/// A digest with sample values in place of its placeholders, so `EXPLAIN`
/// accepts it: `'0'` compares with strings and numbers alike (and keeps an
/// index usable), `1` after `LIMIT`/`OFFSET`, `('0')` for a collapsed list.
/// A name keeps no space before its `(`: digests write `COUNT ( * )`, which
/// the server parses as a call only without the space.
fn with_sample_values(digest: &str) -> String {
    let digest = digest.replace("(...)", "(?)");
    let mut out = String::with_capacity(digest.len() + 16);
    let mut quoted = false;
    for c in digest.chars() {
        match c {
            '`' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                let before = out.trim_end().to_ascii_lowercase();
                let in_limit = before.ends_with("limit")
                    || before.ends_with("offset")
                    || (before.ends_with(',') && before.rsplit("limit").next().is_some_and(|tail| tail.len() < 8));
                out.push_str(if in_limit { "1" } else { "'0'" });
            }
            '(' if !quoted => {
                let name_end = out.trim_end().len();
                if out[..name_end].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '`') {
                    out.truncate(name_end);
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Built-in functions of MySQL and MariaDB, and the keywords a `(` may follow,
/// in lower case: a call to any other name is a stored function or a UDF.
#[rustfmt::skip]
const BUILT_INS: &[&str] = &[
    // keywords and clauses
    "all", "and", "any", "as", "between", "binary", "by", "case", "cast", "char", "character", "convert", "date",
    "datetime", "dec", "decimal", "distinct", "double", "else", "exists", "float", "from", "having", "in", "index",
    "int", "integer", "interval", "is", "join", "json", "key", "like", "limit", "nchar", "not", "numeric", "on",
    "or", "over", "partition", "real", "regexp", "rlike", "row", "select", "set", "signed", "some", "then", "time",
    "timestamp", "union", "unsigned", "using", "value", "values", "varchar", "when", "where", "with", "xor", "year",
    "force", "use", "ignore", "straight_join", "escape", "collate", "returning", "lateral", "window", "range",
    "rows",
    // aggregates and windows
    "avg", "bit_and", "bit_or", "bit_xor", "count", "group_concat", "json_arrayagg", "json_objectagg", "max", "min",
    "std", "stddev", "stddev_pop", "stddev_samp", "sum", "var_pop", "var_samp", "variance", "cume_dist",
    "dense_rank", "first_value", "lag", "last_value", "lead", "nth_value", "ntile", "percent_rank", "rank",
    "row_number", "percentile_cont", "percentile_disc", "median",
    // control flow and comparison
    "coalesce", "greatest", "if", "ifnull", "interval", "isnull", "least", "nullif", "nvl", "nvl2", "strcmp",
    // strings
    "ascii", "bin", "bit_length", "char_length", "character_length", "chr", "concat", "concat_ws", "elt",
    "export_set", "field", "find_in_set", "format", "from_base64", "hex", "insert", "instr", "lcase", "left",
    "length", "length", "locate", "lower", "lpad", "ltrim", "make_set", "mid", "octet_length", "ord", "position",
    "quote", "repeat", "replace", "reverse", "right", "rpad", "rtrim", "soundex", "space", "substr", "substring",
    "substring_index", "to_base64", "trim", "ucase", "unhex", "upper", "weight_string", "regexp_replace",
    "regexp_instr", "regexp_substr", "regexp_like", "sformat", "natural_sort_key", "to_char", "collation",
    "charset", "coercibility",
    // numbers
    "abs", "acos", "asin", "atan", "atan2", "ceil", "ceiling", "conv", "cos", "cot", "crc32", "degrees", "div",
    "exp", "floor", "ln", "log", "log10", "log2", "mod", "oct", "pi", "pow", "power", "radians", "rand", "round",
    "sign", "sin", "sqrt", "tan", "truncate",
    // dates and times
    "adddate", "addtime", "convert_tz", "curdate", "current_date", "current_time", "current_timestamp", "curtime",
    "date_add", "date_format", "date_sub", "datediff", "day", "dayname", "dayofmonth", "dayofweek", "dayofyear",
    "extract", "from_days", "from_unixtime", "get_format", "hour", "last_day", "localtime", "localtimestamp",
    "makedate", "maketime", "microsecond", "minute", "month", "monthname", "now", "period_add", "period_diff",
    "quarter", "sec_to_time", "second", "str_to_date", "subdate", "subtime", "sysdate", "time_format",
    "time_to_sec", "timediff", "timestampadd", "timestampdiff", "to_days", "to_seconds", "unix_timestamp",
    "utc_date", "utc_time", "utc_timestamp", "week", "weekday", "weekofyear", "yearweek",
    // JSON
    "json_array", "json_array_append", "json_array_insert", "json_contains", "json_contains_path", "json_depth",
    "json_extract", "json_insert", "json_keys", "json_length", "json_merge", "json_merge_patch",
    "json_merge_preserve", "json_object", "json_overlaps", "json_quote", "json_remove", "json_replace",
    "json_search", "json_set", "json_table", "json_type", "json_unquote", "json_valid", "json_value", "json_query",
    "json_exists", "json_compact", "json_detailed", "json_loose", "json_normalize", "json_equals",
    // information and misc (side-effect free)
    "bit_count", "charset", "connection_id", "current_role", "current_user", "database",
    "found_rows", "last_insert_id", "row_count", "schema", "session_user", "system_user", "user", "version", "uuid",
    "uuid_short", "md5", "sha", "sha1", "sha2", "inet_aton", "inet_ntoa", "inet6_aton", "inet6_ntoa", "is_ipv4",
    "is_ipv6", "compress", "uncompress", "uncompressed_length", "default",
];

/// What a MySQL statement's text says, read by a small lexer that knows
/// quoted strings, backquoted identifiers and comments: the reason it could
/// call user code, or `None`.
fn user_code(statement: &str) -> Option<String> {
    if statement.contains("/*!") || statement.contains("/*M!") {
        // A versioned comment is code to the server.
        return Some("contains a versioned /*! comment, which the server runs as code".to_owned());
    }
    let tokens = tokens(statement);
    for (index, token) in tokens.iter().enumerate() {
        if tokens.get(index + 1) != Some(&Token::Open) {
            continue;
        }
        // Digests backquote built-ins that are not reserved words (`concat`),
        // so quoting says nothing about what a name is.
        let (Token::Word(name) | Token::Quoted(name)) = token else { continue };
        let qualified = index >= 2 && tokens[index - 1] == Token::Dot;
        let head = if qualified { index - 2 } else { index };
        // `INSERT INTO t (a, b)`: a table and its columns, not a call.
        let before = head.checked_sub(1).and_then(|i| match &tokens[i] {
            Token::Word(word) => Some(word.to_ascii_lowercase()),
            _ => None,
        });
        if before.as_deref().is_some_and(|b| ["into", "insert", "replace", "table"].contains(&b)) {
            continue;
        }
        if qualified || !BUILT_INS.contains(&name.to_ascii_lowercase().as_str()) {
            let shown = if qualified { format!("{}.{name}", tokens[index - 2].text()) } else { name.clone() };
            return Some(format!("calls `{shown}`, not a built-in function (a stored function or UDF)"));
        }
    }
    None
}

/// Every identifier of a statement, once each (candidate tables and views).
fn words(statement: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for token in tokens(statement) {
        if let Token::Word(w) | Token::Quoted(w) = token
            && !words.contains(&w)
        {
            words.push(w);
        }
    }
    words
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    /// A backquoted identifier.
    Quoted(String),
    Dot,
    Open,
    Other,
}

impl Token {
    fn text(&self) -> &str {
        match self {
            Token::Word(w) | Token::Quoted(w) => w,
            _ => "",
        }
    }
}

fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let at = |k: usize| chars.get(k).copied().unwrap_or('\0');
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' || (c == '-' && at(i + 1) == '-' && (at(i + 2).is_whitespace() || at(i + 2) == '\0')) {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && at(i + 1) == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '\'' || c == '"' {
            i += 1;
            while i < chars.len() {
                if chars[i] == '\\' || (chars[i] == c && at(i + 1) == c) {
                    i += 2;
                } else if chars[i] == c {
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            }
            tokens.push(Token::Other);
        } else if c == '`' {
            let mut word = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '`' && at(i + 1) == '`' {
                    word.push('`');
                    i += 2;
                } else if chars[i] == '`' {
                    i += 1;
                    break;
                } else {
                    word.push(chars[i]);
                    i += 1;
                }
            }
            tokens.push(Token::Quoted(word));
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // A number is not a name (`1.5` is no qualified call).
            tokens.push(if word.chars().all(|c| c.is_ascii_digit()) { Token::Other } else { Token::Word(word) });
        } else {
            tokens.push(match c {
                '.' => Token::Dot,
                '(' => Token::Open,
                _ => Token::Other,
            });
            i += 1;
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_get_sample_values_explain_accepts() {
        assert_eq!(
            with_sample_values("SELECT * FROM `t` WHERE `a` = ? AND `b` IN (...) LIMIT ?, ?"),
            "SELECT * FROM `t` WHERE `a` = '0' AND `b` IN('0') LIMIT 1, 1"
        );
        assert_eq!(with_sample_values("SELECT `?` FROM t LIMIT ? OFFSET ?"), "SELECT `?` FROM t LIMIT 1 OFFSET 1");
        assert_eq!(
            with_sample_values("SELECT COUNT ( * ) FROM `t` WHERE `a` = LOWER ( ? ) AND ( `b` > ? )"),
            "SELECT COUNT( * ) FROM `t` WHERE `a` = LOWER( '0' ) AND( `b` > '0' )"
        );
    }

    #[test]
    fn only_built_in_calls_are_explained() {
        let safe = [
            "SELECT COUNT ( * ) , `lower` FROM `t` WHERE `a` = LOWER ( '0' ) AND `b` IN ( '0' )",
            "SELECT `version` ( ) , `concat` ( CHARACTER (?) , `substring_index` ( CURRENT_USER ( ) , ? ) )",
            "INSERT INTO `crm` . `t` ( `a` , `b` ) VALUES ( '0' , NOW ( ) )",
            "INSERT t (a) VALUES ('0')",
            "SELECT 'f(1)', \"g(2)\" FROM t WHERE x = 1.5 -- h(3)\n AND y = CAST ( '0' AS CHAR ( 10 ) )",
            "SELECT * FROM t /* canary(1) */ WHERE EXISTS ( SELECT 1 FROM u )",
        ];
        for statement in safe {
            assert_eq!(user_code(statement), None, "{statement}");
        }
        let unsafe_ = [
            ("SELECT `perfsage_canary` ( '0' ) FROM `t`", "`perfsage_canary`"),
            ("SELECT canary ( a ) FROM t", "`canary`"),
            ("SELECT * FROM t WHERE a = `crm` . `score` ( '0' )", "`crm.score`"),
            ("SELECT /*!50000 canary(1) */ 1", "versioned"),
        ];
        for (statement, named) in unsafe_ {
            let reason = user_code(statement).unwrap_or_else(|| panic!("{statement} passed"));
            assert!(reason.contains(named), "{statement}: {reason}");
        }
        assert_eq!(
            words("SELECT a FROM `crm` . `v` JOIN w ON 1"),
            ["SELECT", "a", "FROM", "crm", "v", "JOIN", "w", "ON"]
        );
    }
}
