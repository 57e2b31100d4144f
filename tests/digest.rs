//! End-to-end tests of `perfsage digest` over slow logs written the way
//! MariaDB and MySQL write them, with corrupt entries among them.

mod support;

use std::fmt::Write;

use support::*;

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
