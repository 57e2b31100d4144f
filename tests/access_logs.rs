//! The access-log source end to end: a generated log whose per-route counts
//! and percentiles this test computes independently, read by `perfsage logs`
//! plain (split across threads: the log is larger than one thread's share)
//! and gzip (one stream); corrupt lines; JSON lines and a custom
//! `log_format`; and `run --access-log` checked by the endpoint rules.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::support::*;

/// (method, path with `{}` for an id, expected route, base latency ms)
const ROUTES: [(&str, &str, &str, u64); 5] = [
    ("GET", "/api/contacts/{}", "GET /api/contacts/:id", 12),
    ("GET", "/api/contacts/{}?tab=deals", "GET /api/contacts/:id", 12),
    ("PUT", "/api/deals/{}/stage", "PUT /api/deals/:id/stage", 40),
    ("GET", "/api/reports/pipeline", "GET /api/reports/pipeline", 900),
    ("POST", "/api/files/5f2b8c9d0e1f2a3b4c5d", "POST /api/files/:id", 150),
];

/// What the test expects per route, computed from the lines it wrote.
#[derive(Default)]
struct Expected {
    requests: u64,
    errors: u64,
    client_errors: u64,
    times_ms: Vec<f64>,
}

/// Nearest-rank percentile, the definition HDR histograms approximate.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.max(1) - 1]
}

/// Write `lines` combined-format lines with request and upstream times.
fn generate(path: &Path, lines: u64) -> BTreeMap<&'static str, Expected> {
    let mut expected: BTreeMap<&'static str, Expected> = BTreeMap::new();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut state: u64 = 7;
    let mut next = |n: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    for i in 0..lines {
        let (method, template, route, base) = ROUTES[next(ROUTES.len() as u64) as usize];
        let path = template.replace("{}", &(1 + next(99_999)).to_string());
        let status = match next(100) {
            0..=2 => 502,
            3..=5 => 404,
            _ => 200,
        };
        let ms = base / 2 + next(base * 2) + if next(40) == 0 { base * 8 } else { 0 };
        let (minute, second) = (i * 3 / 60 % 60, i * 3 % 60);
        writeln!(
            out,
            "10.0.{}.{} - - [10/Oct/2024:13:{minute:02}:{second:02} +0000] \"{method} {path} HTTP/1.1\" {status} {} \
             \"https://crm.example.com/contacts\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0\" {}.{:03} {}.{:03}",
            next(256),
            next(256),
            100 + next(9000),
            ms / 1000,
            ms % 1000,
            ms.saturating_sub(1) / 1000,
            ms.saturating_sub(1) % 1000
        )
        .unwrap();
        let e = expected.entry(route).or_default();
        e.requests += 1;
        e.errors += u64::from(status >= 500);
        e.client_errors += u64::from((400..500).contains(&status));
        e.times_ms.push(ms as f64);
    }
    for e in expected.values_mut() {
        e.times_ms.sort_by(f64::total_cmp);
    }
    expected
}

fn logs(cache: &Path, file: &Path, extra: &[&str]) -> (serde_json::Value, String) {
    let out = output(perfsage(cache).arg("logs").arg(file).args(["--format", "json"]).args(extra));
    assert_eq!(out.status.code(), Some(0));
    (json(&out), stderr(&out))
}

fn gzip(path: &Path) -> PathBuf {
    let gz = path.with_extension("log.gz");
    let mut encoder = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    encoder.write_all(&std::fs::read(path).unwrap()).unwrap();
    encoder.finish().unwrap();
    gz
}

#[test]
fn per_route_counts_and_percentiles_match_an_independent_count_plain_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let expected = generate(&log, 30_000);
    assert!(std::fs::metadata(&log).unwrap().len() > 5 << 20, "big enough to be split across threads");
    let (plain, warnings) = logs(dir.path(), &log, &[]);
    assert!(!warnings.contains("could not be parsed"), "{warnings}");

    let rows = plain.as_array().unwrap();
    assert_eq!(rows.len(), 4, "ids normalized away: {rows:#?}");
    for row in rows {
        let route = row["route"].as_str().unwrap();
        let e = &expected[route];
        assert_eq!(row["requests"], e.requests, "{route}");
        assert_eq!(row["errors"], e.errors, "{route}");
        assert_eq!(row["client_errors"], e.client_errors, "{route}");
        assert_eq!(row["total_ms"].as_f64().unwrap(), e.times_ms.iter().sum::<f64>(), "{route}");
        for (key, q) in [("p50_ms", 50.0), ("p95_ms", 95.0), ("p99_ms", 99.0)] {
            let exact = percentile(&e.times_ms, q);
            let got = row[key].as_f64().unwrap();
            // Two significant digits: within 1% of the exact value.
            assert!((got - exact).abs() <= exact * 0.01, "{route} {key}: {got} vs exact {exact}");
        }
    }
    let totals: Vec<f64> = rows.iter().map(|r| r["total_ms"].as_f64().unwrap()).collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "ranked by total time: {totals:?}");

    let (from_gzip, _) = logs(dir.path(), &gzip(&log), &[]);
    assert_eq!(from_gzip, plain, "gzip gives the same result");
}

#[test]
fn corrupt_lines_are_counted_and_shown_never_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(&log, 200);
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("this is not a log line\n");
    text.push_str("10.0.0.1 - - [10/Oct/2024:13:00:00 +0000] \"GET / HTTP/1.1\" OK 12 \"-\" \"-\" 0.010 0.009\n");
    text.push_str(&"x".repeat(100_000));
    text.push('\n');
    std::fs::write(&log, &text).unwrap();
    let (rows, warnings) = logs(dir.path(), &log, &[]);
    let requests: u64 = rows.as_array().unwrap().iter().map(|r| r["requests"].as_u64().unwrap()).sum();
    assert_eq!(requests, 200);
    assert!(warnings.contains("3 of 203 lines could not be parsed"), "{warnings}");
    assert!(warnings.contains("line 201 (the line does not match the log format): \"this is not a log line\""));
    assert!(warnings.contains("line 202 (the status is not three digits)"));
    assert!(warnings.contains("line 203 (the line is longer than 64 KiB)"));

    let table = output(perfsage(dir.path()).arg("logs").arg(&log));
    assert!(stdout(&table).contains("203 lines, 4 routes, 3 unparseable."));

    let missing = output(perfsage(dir.path()).arg("logs").arg(dir.path().join("nope.log")));
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read access log"));
}

#[test]
fn json_lines_and_custom_formats_from_the_rule_pack() {
    let dir = tempfile::tempdir().unwrap();
    let json_log = dir.path().join("access.json");
    std::fs::write(
        &json_log,
        concat!(
            r#"{"time_iso8601":"2024-10-10T13:00:00+00:00","request":"GET /api/users/alice HTTP/1.1","status":"200","request_time":"0.120","upstream_response_time":"0.118"}"#,
            "\n",
            r#"{"time_iso8601":"2024-10-10T13:00:01+00:00","request_method":"GET","request_uri":"/api/users/bob?x=1","status":503,"request_time":0.5}"#,
            "\n",
        ),
    )
    .unwrap();
    let pack = dir.path().join("pack.toml");
    std::fs::write(
        &pack,
        "[access_log]\nformat = \"json\"\nroutes = [{ pattern = \"^/api/users/[a-z]+$\", replace = \"/api/users/:name\" }]\n",
    )
    .unwrap();
    let (rows, _) = logs(dir.path(), &json_log, &["--config", pack.to_str().unwrap()]);
    assert_eq!(rows[0]["route"], "GET /api/users/:name");
    assert_eq!((rows[0]["requests"].as_u64(), rows[0]["errors"].as_u64()), (Some(2), Some(1)));

    let custom = dir.path().join("custom.log");
    std::fs::write(&custom, "1728565200.250|POST|/api/deals/12|201|0.040\n").unwrap();
    std::fs::write(&pack, "[access_log]\nformat = \"$msec|$request_method|$uri|$status|$request_time\"\n").unwrap();
    let (rows, _) = logs(dir.path(), &custom, &["--config", pack.to_str().unwrap()]);
    assert_eq!(rows[0]["route"], "POST /api/deals/:id");
    assert!((rows[0]["p50_ms"].as_f64().unwrap() - 40.0).abs() <= 0.4);

    std::fs::write(&pack, "[access_log]\nformat = \"$status$request\"\n").unwrap();
    let bad = output(perfsage(dir.path()).arg("logs").arg(&custom).arg("--config").arg(&pack));
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("nothing separates them"), "{}", stderr(&bad));
}

#[test]
fn run_with_access_log_checks_routes_and_reports_an_unreadable_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(&log, 2000);
    let out =
        output(perfsage(dir.path()).args(["run", "--window", "200ms", "--format", "json", "--access-log"]).arg(&log));
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    let sources = report["snapshot_meta"]["sources"].as_array().unwrap();
    assert!(sources.iter().any(|s| s.as_str().unwrap().starts_with("access-log:")), "{sources:?}");
    let slow = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "latency/objective")
        .expect("the latency plugin flags the slow report");
    assert_eq!(slow["target"], "GET /api/reports/pipeline");

    let missing = output(
        perfsage(dir.path())
            .args(["run", "--window", "200ms", "--format", "json", "--access-log"])
            .arg(dir.path().join("gone.log")),
    );
    assert_eq!(missing.status.code(), Some(3), "a source failed; the rest still ran");
    assert!(json(&missing)["findings"].is_array());
    assert!(stderr(&missing).contains("a source failed, the run goes on without it: cannot read access log"));
}

/// A scanner's path for probe `i`: letters only, so no id normalizes it away.
fn scan_path(i: u64) -> String {
    let mut word = String::from("/wp-");
    let mut n = i;
    loop {
        word.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            return word;
        }
    }
}

#[test]
fn scanner_paths_fold_into_other_with_exact_counts_and_the_real_routes_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.log");
    generate(&clean, 30_000);
    // The same traffic with a scanner's 404s after the first 100 lines: one
    // distinct path per line, 4 ms each.
    let scans = 20_000u64;
    let mut noisy_text = String::new();
    for (i, line) in std::fs::read_to_string(&clean).unwrap().lines().enumerate() {
        noisy_text.push_str(line);
        noisy_text.push('\n');
        if i >= 100 && ((i - 100) as u64) < scans {
            noisy_text.push_str(&format!(
                "203.0.113.9 - - [10/Oct/2024:13:00:00 +0000] \"GET {} HTTP/1.1\" 404 0 \"-\" \"scanner\" 0.004 -\n",
                scan_path(i as u64 - 100)
            ));
        }
    }
    let noisy = dir.path().join("noisy.log");
    std::fs::write(&noisy, &noisy_text).unwrap();
    assert!(noisy_text.len() > 5 << 20, "big enough to be split across threads");

    let cap = 1000u64;
    let (clean_rows, clean_warnings) = logs(dir.path(), &clean, &[]);
    assert!(!clean_warnings.contains("folded"), "{clean_warnings}");
    let (rows, warnings) = logs(dir.path(), &noisy, &["--max-routes", &cap.to_string()]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len() as u64, cap + 1, "the cap, and (other)");

    // The real routes come first in the log: kept, and exactly as without the noise.
    for real in clean_rows.as_array().unwrap() {
        let same = rows.iter().find(|r| r["route"] == real["route"]).expect("a real route was kept");
        assert_eq!(same, real, "counts and percentiles unchanged by the scan");
        assert_eq!(real["folded"], false);
    }
    // Kept: the 4 real routes and the first 996 scan paths; every other scan folded, exactly.
    let other = rows.iter().find(|r| r["route"] == "(other)").expect("(other) row");
    let folded = scans - (cap - 4);
    assert_eq!(other["folded"], true);
    assert_eq!((other["requests"].as_u64(), other["client_errors"].as_u64()), (Some(folded), Some(folded)));
    assert_eq!(other["total_ms"].as_f64().unwrap(), folded as f64 * 4.0);
    assert!((other["p99_ms"].as_f64().unwrap() - 4.0).abs() <= 0.04, "within 1%: {other}");
    assert!(rows.iter().any(|r| r["route"] == format!("GET {}", scan_path(cap - 5)).as_str()), "first scan paths kept");
    assert!(!rows.iter().any(|r| r["route"] == format!("GET {}", scan_path(cap - 4)).as_str()));
    let requests: u64 = rows.iter().map(|r| r["requests"].as_u64().unwrap()).sum();
    assert_eq!(requests, 30_000 + scans);
    assert!(
        warnings.contains(&format!(
            "{folded} requests of routes beyond the first {cap} distinct routes (by first appearance) were folded"
        )),
        "{warnings}"
    );

    // One stream (gzip) keeps the same routes as the split plain file: the
    // kept set does not depend on the number of threads.
    let (from_gzip, _) = logs(dir.path(), &gzip(&noisy), &["--max-routes", &cap.to_string()]);
    assert_eq!(from_gzip.as_array().unwrap(), rows);

    // The rule pack sets the cap too, and `run` reports the fold.
    let pack = dir.path().join("pack.toml");
    std::fs::write(&pack, format!("[access_log]\nmax_routes = {cap}\n")).unwrap();
    let (from_pack, _) = logs(dir.path(), &noisy, &["--config", pack.to_str().unwrap()]);
    assert_eq!(from_pack.as_array().unwrap(), rows);
    let run = output(
        perfsage(dir.path())
            .args(["run", "--window", "200ms", "--format", "json", "--config", pack.to_str().unwrap(), "--access-log"])
            .arg(&noisy),
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(stderr(&run).contains("were folded into the route (other)"), "{}", stderr(&run));
}

#[test]
fn several_files_share_one_cap() {
    let dir = tempfile::tempdir().unwrap();
    let line = |path: &str, ms: u64| {
        format!(
            "10.0.0.1 - - [10/Oct/2024:13:00:00 +0000] \"GET {path} HTTP/1.1\" 200 1 \"-\" \"-\" 0.{ms:03} 0.{ms:03}\n"
        )
    };
    let first = dir.path().join("a.log");
    let second = dir.path().join("b.log");
    std::fs::write(&first, [line("/a", 1), line("/b", 2)].concat()).unwrap();
    // `/a` was kept by the first file: it stays exact although `/c` and `/d` come first here.
    std::fs::write(&second, [line("/c", 3), line("/d", 4), line("/a", 5)].concat()).unwrap();
    let out = output(perfsage(dir.path()).arg("logs").arg(&first).arg(&second).args([
        "--max-routes",
        "3",
        "--format",
        "json",
    ]));
    assert_eq!(out.status.code(), Some(0));
    let rows = json(&out);
    let by_route = |route: &str| rows.as_array().unwrap().iter().find(|r| r["route"] == route).cloned();
    assert_eq!(by_route("GET /a").unwrap()["requests"], 2);
    assert_eq!(by_route("GET /c").unwrap()["requests"], 1);
    assert!(by_route("GET /d").is_none());
    assert_eq!(by_route("(other)").unwrap()["total_ms"].as_f64(), Some(4.0));
}

#[test]
fn extreme_numbers_saturate_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut text = String::new();
    for time in ["99999999999999999999999.999999", "18446744073709.551615", "0.000", "0", "."] {
        text.push_str(&format!(
            "10.0.0.1 - - [10/Oct/2024:13:00:00 +0000] \"GET /x HTTP/1.1\" 999 1 \"-\" \"-\" {time} {time}, {time} : {time}\n"
        ));
    }
    std::fs::write(&log, &text).unwrap();
    let (rows, warnings) = logs(dir.path(), &log, &[]);
    let row = &rows[0];
    assert_eq!((row["requests"].as_u64(), row["errors"].as_u64()), (Some(4), Some(4)), "{warnings}");
    assert_eq!(row["total_ms"].as_f64().unwrap(), (u64::MAX as f64 / 1000.0).round(), "the sum saturates");

    // JSON times from the far past and far future: the window saturates too.
    let json_log = dir.path().join("access.json");
    std::fs::write(
        &json_log,
        "{\"time\":1e300,\"request\":\"GET / HTTP/1.1\",\"status\":200,\"request_time\":1e300}\n\
         {\"time\":-1e300,\"request\":\"GET / HTTP/1.1\",\"status\":200,\"request_time\":-1}\n\
         {\"msec\":\"99999999999999999999.9\",\"request\":\"GET / HTTP/1.1\",\"status\":200}\n",
    )
    .unwrap();
    let pack = dir.path().join("pack.toml");
    std::fs::write(&pack, "[access_log]\nformat = \"json\"\n").unwrap();
    let (rows, warnings) = logs(dir.path(), &json_log, &["--config", pack.to_str().unwrap()]);
    assert_eq!(rows[0]["requests"], 2, "{warnings}");
    assert!(warnings.contains("1 of 3 lines could not be parsed"), "a negative time is refused: {warnings}");
    let run = output(
        perfsage(dir.path())
            .args(["run", "--window", "100ms", "--format", "json", "--config", pack.to_str().unwrap(), "--access-log"])
            .arg(&json_log),
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
}
