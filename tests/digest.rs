//! End-to-end tests of `perfsage digest` over slow logs written the way
//! MariaDB and MySQL write them, with corrupt entries among them.

use std::fmt::Write;

use crate::support::*;

/// 100 runs of one lookup (1..=100 ms), 10 IN-list queries of growing length,
/// a MySQL-style entry, and two corrupt entries.
fn slow_log() -> String {
    let mut log = String::from(
        "/usr/sbin/mariadbd, Version: 10.11.6-MariaDB-0+deb12u1-log (Debian 12). started with:\n\
         Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\n\
         Time\t\t    Id Command\tArgument\n",
    );
    for i in 1..=100 {
        write!(
            log,
            "# Time: 241126 22:00:{:02}\n# User@Host: app[app] @ localhost []\n\
             # Thread_id: 31  Schema: crm  QC_hit: No\n\
             # Query_time: {:.6}  Lock_time: 0.000066  Rows_sent: 1  Rows_examined: 5000\n\
             # Rows_affected: 0  Bytes_sent: 68\nuse crm;\nSET timestamp=1732658401;\n\
             SELECT * FROM deals WHERE stage = 'stage{i}' AND amount > {i};\n",
            i % 60,
            i as f64 / 1000.0
        )
        .unwrap();
    }
    for n in 1..=10 {
        let ids: Vec<String> = (0..n).map(|k| (k * 7).to_string()).collect();
        write!(
            log,
            "# User@Host: app[app] @ localhost []\n# Query_time: 0.002000  Lock_time: 0.0  Rows_sent: {n}  Rows_examined: {n}\n\
             select name\n  from accounts\n where id in ({});\n",
            ids.join(", ")
        )
        .unwrap();
    }
    log.push_str(
        "# Time: 2024-11-26T22:00:01.123456Z\n# User@Host: root[root] @ localhost []  Id:     8\n\
         # Query_time: 0.300000  Lock_time: 0.000000 Rows_sent: 0  Rows_examined: 3000\n\
         SET timestamp=1732658401;\nupdate contacts set email = 'x@example.com' where id = 42;\n\
         # User@Host: app[app] @ localhost []\n# Query_time: garbage Rows_sent: 1\nselect 1;\n\
         # User@Host: app[app] @ localhost []\n# Query_time: 0.1 Rows_sent: 1 Rows_examined: 1\n",
    );
    log
}

#[test]
fn digest_groups_a_slow_log_by_class() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.log");
    std::fs::write(&path, slow_log()).unwrap();
    let out = output(perfsage(dir.path()).args(["digest", path.to_str().unwrap(), "--format", "json"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("2 of 113 entries are corrupt"), "{}", stderr(&out));
    let classes = json(&out);
    let classes = classes.as_array().unwrap();
    assert_eq!(classes.len(), 3, "{classes:#?}");

    let lookup = &classes[0];
    assert_eq!(lookup["fingerprint"], "select * from deals where stage = ? and amount > ?");
    assert_eq!(lookup["count"], 100);
    assert!((lookup["total_ms"].as_f64().unwrap() - 5050.0).abs() < 1e-6);
    assert!((lookup["mean_ms"].as_f64().unwrap() - 50.5).abs() < 1e-6);
    let p95 = lookup["p95_ms"].as_f64().unwrap();
    assert!((p95 - 95.0).abs() <= 0.1, "p95 of 1..=100 ms is 95 ms, got {p95}");
    assert_eq!(lookup["rows_examined"], 500_000);
    assert_eq!(lookup["rows_sent"], 100);

    let update = &classes[1];
    assert_eq!(update["fingerprint"], "update contacts set email = ? where id = ?");
    assert_eq!(update["count"], 1);

    let in_list = &classes[2];
    assert_eq!(
        in_list["fingerprint"], "select name from accounts where id in (?+)",
        "lists of any length are one class"
    );
    assert_eq!(in_list["count"], 10);
    assert_eq!(in_list["rows_sent"], 55);
    assert_eq!(in_list["id"].as_str().unwrap().len(), 16);

    let table = output(perfsage(dir.path()).args(["digest", path.to_str().unwrap()]));
    assert_eq!(table.status.code(), Some(0));
    assert!(stdout(&table).contains("111 entries, 3 classes, 2 corrupt"), "{}", stdout(&table));
}

#[test]
fn digest_of_a_missing_file_is_a_usage_error_and_of_an_empty_one_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let missing = output(perfsage(dir.path()).args(["digest", "/nonexistent/slow.log"]));
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot open the slow log /nonexistent/slow.log"));

    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, "").unwrap();
    let out = output(perfsage(dir.path()).args(["digest", empty.to_str().unwrap(), "--format", "json"]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out), serde_json::json!([]));

    let binary = dir.path().join("binary.log");
    std::fs::write(&binary, b"# Query_time: 0.1\n\xff\xfe select\n# Query_time: 0.2\nselect 2;\n").unwrap();
    let out = output(perfsage(dir.path()).args(["digest", binary.to_str().unwrap(), "--format", "json"]));
    assert_eq!(out.status.code(), Some(0), "bytes that are not UTF-8 make one entry corrupt, not the run");
    assert_eq!(json(&out)[0]["fingerprint"], "select ?");
    assert!(stderr(&out).contains("1 of 2 entries are corrupt"));
}

/// A PostgreSQL log (`log_min_duration_statement = 0`, the default
/// `log_line_prefix` plus user and database): 50 lookups of 1..=50 ms through
/// the extended protocol with their parameter lines, 20 multi-line reports of
/// 200 ms, other server messages, and one corrupt duration.
fn postgres_log() -> String {
    let mut log = String::new();
    for i in 1..=50 {
        write!(
            log,
            "2026-11-27 10:00:{:02}.000 UTC [{}] crm@crm LOG:  duration: {i}.000 ms  execute <unnamed>: \
             select id, name from contacts where email = $1\n\
             2026-11-27 10:00:{:02}.000 UTC [{}] crm@crm DETAIL:  parameters: $1 = 'c{i}@example.com'\n",
            i % 60,
            100 + i,
            i % 60,
            100 + i
        )
        .unwrap();
    }
    for i in 0..20 {
        write!(
            log,
            "2026-11-27 10:01:{i:02}.000 UTC [300] crm@crm LOG:  duration: 200.000 ms  statement: SELECT stage, sum(amount)\n\
             \tFROM deals\n\tWHERE closed_at > '2026-0{}-01'\n\tGROUP BY stage\n\
             2026-11-27 10:01:{i:02}.500 UTC [12] LOG:  checkpoint complete: wrote 3 buffers\n",
            1 + i % 9
        )
        .unwrap();
    }
    log.push_str("2026-11-27 10:02:00.000 UTC [301] crm@crm LOG:  duration: n/a ms  statement: select 1\n");
    log
}

#[test]
fn digest_reads_postgres_logs_and_run_puts_the_classes_in_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("postgresql.log");
    std::fs::write(&path, postgres_log()).unwrap();
    let out = output(perfsage(dir.path()).args(["digest", path.to_str().unwrap(), "--format", "json"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("1 of 71 entries are corrupt (no readable duration"), "{}", stderr(&out));
    let classes = json(&out);
    let report = &classes[0];
    assert_eq!(report["fingerprint"], "select stage, sum(amount) from deals where closed_at > ? group by stage");
    assert_eq!(report["count"], 20);
    assert!((report["total_ms"].as_f64().unwrap() - 4000.0).abs() < 1e-6);
    let lookup = &classes[1];
    assert_eq!(lookup["fingerprint"], "select id, name from contacts where email = $1");
    assert_eq!(lookup["count"], 50);
    assert!((lookup["total_ms"].as_f64().unwrap() - 1275.0).abs() < 1e-6, "1 + 2 + ... + 50 ms");
    let p95 = lookup["p95_ms"].as_f64().unwrap();
    assert!((p95 - 48.0).abs() <= 0.05, "p95 of 1..=50 ms is 48 ms, got {p95}");

    // The same classes reach the rules through `run --slow-log`.
    let snap = output(perfsage(dir.path()).args(["snapshot", "-o", "-", "--window", "100ms", "--slow-log"]).arg(&path));
    assert_eq!(snap.status.code(), Some(0), "{}", stderr(&snap));
    let snapshot = json(&snap);
    let queries = snapshot["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 2);
    assert_eq!((queries[0]["engine"].as_str(), queries[0]["calls"].as_u64()), (Some("postgresql"), Some(20)));
    assert_eq!(queries[0]["rows_examined"], serde_json::Value::Null, "PostgreSQL logs no rows");
    let source = format!("slow-log:{}", path.display());
    assert!(snapshot["meta"]["sources"].as_array().unwrap().iter().any(|s| s == source.as_str()));

    let missing = output(perfsage(dir.path()).args([
        "snapshot",
        "-o",
        "-",
        "--window",
        "100ms",
        "--slow-log",
        "/nonexistent.log",
    ]));
    assert_eq!(missing.status.code(), Some(3), "a slow log that cannot be read fails its source, not the run");
    assert!(stderr(&missing).contains("slow log /nonexistent.log"), "{}", stderr(&missing));
}

/// One MariaDB entry of `statement`, taking `ms`.
fn entry(statement: &str, ms: u64) -> String {
    format!(
        "# User@Host: app[app] @ localhost []\n# Query_time: 0.{ms:03}000  Lock_time: 0.0  Rows_sent: 1  Rows_examined: 2\n\
         SET timestamp=1732658401;\n{statement};\n"
    )
}

#[test]
fn a_huge_statement_is_cut_and_classes_over_the_cap_fold_into_other() {
    let dir = tempfile::tempdir().unwrap();
    // 20,000 distinct classes (a table each), a 3 MiB statement in the middle,
    // and one more 3 MiB statement, without a newline, at the very end.
    let mut log = String::new();
    for i in 0..20_000 {
        log.push_str(&entry(&format!("select * from t{i} where id = {i}"), 1 + i % 7));
        if i == 10_000 {
            log.push_str(&entry(&format!("select '{}' from huge", "é".repeat(3 << 19)), 5));
        }
    }
    log.push_str("# Query_time: 0.002  Rows_sent: 0  Rows_examined: 0\nselect ");
    log.push_str(&"x".repeat(3 << 20));
    let path = dir.path().join("slow.log");
    std::fs::write(&path, &log).unwrap();
    assert!(log.len() > 8 << 20, "split across threads");
    let pack = dir.path().join("pack.toml");
    std::fs::write(&pack, "[slow_log]\nmax_classes = 100\n").unwrap();
    let out = output(perfsage(dir.path()).args(["digest", "--format", "json", "--config"]).arg(&pack).arg(&path));
    assert_eq!(out.status.code(), Some(0));
    let warnings = stderr(&out);
    assert!(warnings.contains("2 entries had a statement or line longer than 1048576 bytes"), "{warnings}");
    let classes = json(&out);
    let classes = classes.as_array().unwrap();
    assert_eq!(classes.len(), 101, "the cap, and (other)");
    let other = classes.iter().find(|c| c["folded"] == true).unwrap();
    assert_eq!(other["fingerprint"], "(other)");
    // Kept: the first 100 tables; folded: the other 19,900 and both cut statements, exactly.
    let folded = 19_900 + 2;
    assert_eq!(other["count"], folded);
    let folded_ms: u64 = (100..20_000).map(|i| 1 + i % 7).sum::<u64>() + 5 + 2;
    assert!((other["total_ms"].as_f64().unwrap() - folded_ms as f64).abs() < 1e-6, "{other}");
    assert_eq!(other["rows_examined"], 2 * (folded - 1));
    assert!(warnings.contains(&format!("{folded} entries of statement classes beyond the first 100")), "{warnings}");
    assert!(classes.iter().any(|c| c["fingerprint"] == "select * from t99 where id = ?"));
    assert!(!classes.iter().any(|c| c["fingerprint"] == "select * from t100 where id = ?"));
    let counted: u64 = classes.iter().map(|c| c["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 20_002);

    // Without the cap the cut statements are classes of their own: the
    // fingerprint of the first MiB (cut on a character boundary, so still UTF-8).
    std::fs::write(&pack, "[slow_log]\nmax_classes = 100000\n").unwrap();
    let out = output(perfsage(dir.path()).args(["digest", "--format", "json", "--config"]).arg(&pack).arg(&path));
    let classes = json(&out);
    let classes = classes.as_array().unwrap();
    assert_eq!(classes.len(), 20_002);
    let cut: Vec<&str> =
        classes.iter().map(|c| c["fingerprint"].as_str().unwrap()).filter(|f| f.len() > 1000).collect();
    assert_eq!(cut.len(), 1);
    assert!(cut[0].len() <= 1 << 20 && cut[0].starts_with("select xxx"), "cut at 1 MiB");
    let unclosed = classes.iter().find(|c| c["fingerprint"] == "select ?").expect("the cut string literal");
    assert_eq!(unclosed["count"], 1, "a string cut open is still one literal");

    // --max-classes overrides the pack.
    let out = output(perfsage(dir.path()).args(["digest", "--max-classes", "3"]).arg(&path));
    assert!(stdout(&out).contains("20002 entries, 4 classes, 0 corrupt, 2 truncated, 19999 folded into (other)"));
}

#[test]
fn postgres_statements_are_cut_too_and_run_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = String::new();
    for i in 0..50 {
        log.push_str(&format!("2026-11-27 00:00:01 UTC [1] LOG:  duration: 1.5 ms  statement: select * from t{i}\n"));
    }
    log.push_str("2026-11-27 00:00:01 UTC [1] LOG:  duration: 1e308 ms  statement: select ");
    log.push_str(&"ü".repeat(1 << 20));
    log.push_str("\n\tfrom huge\n");
    let path = dir.path().join("postgresql.log");
    std::fs::write(&path, &log).unwrap();
    let pack = dir.path().join("pack.toml");
    std::fs::write(&pack, "[slow_log]\nmax_classes = 10\nmax_statement_bytes = 4096\n").unwrap();
    let out = output(perfsage(dir.path()).args(["digest", "--format", "json", "--config"]).arg(&pack).arg(&path));
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("1 entries had a statement or line longer than 4096 bytes"), "{}", stderr(&out));
    let classes = json(&out);
    let other = classes.as_array().unwrap().iter().find(|c| c["folded"] == true).unwrap().clone();
    assert_eq!(other["count"], 41);
    // 1e308 ms saturates the class's whole-µs sum instead of wrapping it.
    assert_eq!(other["total_ms"].as_f64().unwrap(), u64::MAX as f64 / 1000.0);

    let run = output(
        perfsage(dir.path())
            .args(["run", "--window", "100ms", "--format", "json", "--config"])
            .arg(&pack)
            .arg("--slow-log")
            .arg(&path),
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(stderr(&run).contains("41 entries of statement classes beyond the first 10"), "{}", stderr(&run));
    let report = json(&run);
    assert!(report["findings"].is_array());
}
