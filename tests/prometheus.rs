//! Prometheus sources end to end, against the real servers (Debian's
//! `prometheus` and `prometheus-node-exporter`, installed by `.ci/run`),
//! started on 127.0.0.1 with free ports and temp dirs by the guards below and
//! stopped by PID when a test ends:
//!
//! - `perfsage fleet` against a Prometheus scraping a live node_exporter every
//!   second: the snapshot's cores, memory and CPU utilization agree with what
//!   the test reads from node_exporter's own /metrics (tolerances stated at
//!   each comparison);
//! - `run --scrape-host` / `run --scrape` against that node_exporter;
//! - `run --scrape` on an application exposition served by a tiny local
//!   server (a baseline page, then a later one): endpoints whose percentiles
//!   are the hand-computed `histogram_quantile` of the bucket increases;
//! - a 50-instance synthetic fleet backfilled with `promtool tsdb
//!   create-blocks-from openmetrics`, audited by `perfsage fleet`: the
//!   bottlenecked instances are named under the right findings, the healthy
//!   ones under none;
//! - an unreachable Prometheus, an https URL, an unreachable scrape target:
//!   exit codes and messages.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::*;
use perfsage_sources::prometheus::exposition::{self, Exposition, Format};

/// A server process, killed by PID (and reaped) when dropped.
struct Guard {
    name: &'static str,
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SIGKILL by PID: these are throwaway servers over temp dirs.
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("stopped {} (pid {})", self.name, self.child.id());
    }
}

impl Guard {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Poll `ready` every 100 ms until it holds or `limit` passes.
fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not ready within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A GET over a fresh connection: (status, body). Standard library only, so the
/// test does not share code with what it tests.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

fn start_node_exporter() -> Guard {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("prometheus-node-exporter")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-node-exporter is installed (.ci/run installs it)");
    let guard = Guard { name: "node_exporter", child, port, _dir: dir };
    wait_for("node_exporter", Duration::from_secs(20), || http_get(port, "/metrics").is_some_and(|(s, _)| s == 200));
    guard
}

/// Prometheus over `data` (a temp dir unless given), scraping `targets` every second.
fn start_prometheus(targets: &[String], data: Option<PathBuf>) -> Guard {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let data = data.unwrap_or_else(|| dir.path().join("data"));
    let scrape = if targets.is_empty() {
        String::new()
    } else {
        let list = targets.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
        format!("scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: [{list}]\n")
    };
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, format!("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{scrape}")).unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=10y")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is installed (.ci/run installs it)");
    let guard = Guard { name: "prometheus", child, port, _dir: dir };
    wait_for("prometheus", Duration::from_secs(60), || http_get(port, "/-/ready").is_some_and(|(s, _)| s == 200));
    guard
}

/// An instant query's vector as (labels, value), at `time` (unix s) or now.
fn query(prometheus: &Guard, promql: &str, time: Option<i64>) -> Vec<(BTreeMap<String, String>, f64)> {
    let mut path = format!("/api/v1/query?query={}", encode(promql));
    if let Some(time) = time {
        path.push_str(&format!("&time={time}"));
    }
    let Some((200, body)) = http_get(prometheus.port, &path) else { return Vec::new() };
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let labels = serde_json::from_value(r["metric"].clone()).unwrap();
            (labels, r["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn node_metrics(node: &Guard) -> Exposition {
    let (status, body) = http_get(node.port, "/metrics").expect("node_exporter answers");
    assert_eq!(status, 200);
    exposition::parse(body.as_bytes(), Format::Text).expect("node_exporter's page parses")
}

fn value(page: &Exposition, name: &str) -> f64 {
    page.samples(name).next().unwrap_or_else(|| panic!("node_exporter has {name}")).value
}

/// Busy share of CPU time between two node_exporter pages, as perfsage counts it
/// (everything but idle and iowait).
fn busy_pct(before: &Exposition, after: &Exposition) -> f64 {
    let total = |page: &Exposition, busy_only: bool| -> f64 {
        page.samples("node_cpu_seconds_total")
            .filter(|s| !busy_only || !matches!(s.label("mode"), Some("idle" | "iowait")))
            .map(|s| s.value)
            .sum()
    };
    let busy = total(after, true) - total(before, true);
    let all = total(after, false) - total(before, false);
    100.0 * busy / all
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn fleet_over_a_live_node_exporter_agrees_with_its_metrics() {
    let node = start_node_exporter();
    let target = format!("127.0.0.1:{}", node.port);
    let prometheus = start_prometheus(std::slice::from_ref(&target), None);
    wait_for("eight scrapes of node_exporter", Duration::from_secs(60), || {
        let up = query(&prometheus, "up", None);
        let samples = query(&prometheus, "count_over_time(node_load1[1m])", None);
        up.first().is_some_and(|(_, v)| *v == 1.0) && samples.first().is_some_and(|(_, v)| *v >= 8.0)
    });

    // Read node_exporter ourselves over the same 10 s the fleet's rates cover.
    let before = node_metrics(&node);
    std::thread::sleep(Duration::from_secs(10));
    let after = node_metrics(&node);
    let at = unix_now();
    // Wait for the scrape that ends the window, however late a loaded machine takes it.
    wait_for("a scrape after the window's end", Duration::from_secs(30), || {
        query(&prometheus, "max(timestamp(node_load1))", None).first().is_some_and(|(_, v)| *v >= (at + 1) as f64)
    });
    let cache = tempfile::tempdir().unwrap();
    let snapshots = tempfile::tempdir().unwrap();
    let output = crate::support::output(
        perfsage(cache.path())
            .args(["fleet", "--prometheus", &prometheus.url(), "--selector", "job=\"node\"", "--window", "10s"])
            .args(["--at", &at.to_string(), "--format", "json", "--save-snapshots"])
            .arg(snapshots.path()),
    );
    assert!(matches!(output.status.code(), Some(0 | 1)), "ran cleanly: {}", stderr(&output));
    let report = json(&output);
    let instances = report["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0]["instance"], target.as_str());
    assert_eq!(instances[0]["status"], "ok", "{}", instances[0]);

    let name: String =
        target.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    let snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(snapshots.path().join(format!("{name}.json"))).unwrap()).unwrap();
    let cores: BTreeSet<&str> = after.samples("node_cpu_seconds_total").filter_map(|s| s.label("cpu")).collect();
    assert_eq!(snapshot["cpu"]["logical_cores"], cores.len(), "one core per cpu label");
    assert_eq!(snapshot["cpu"]["per_core_pct"].as_array().unwrap().len(), cores.len());
    // MemTotal does not change: exact.
    assert_eq!(snapshot["memory"]["total_bytes"].as_f64().unwrap(), value(&after, "node_memory_MemTotal_bytes"));
    // MemAvailable moves with the machine's load: within 5 % of the total.
    let total = value(&after, "node_memory_MemTotal_bytes");
    let available = snapshot["memory"]["available_bytes"].as_f64().unwrap();
    assert!(
        (available - value(&after, "node_memory_MemAvailable_bytes")).abs() <= 0.05 * total,
        "available {available} vs node_exporter {}",
        value(&after, "node_memory_MemAvailable_bytes")
    );
    // CPU utilization: Prometheus's rate over its own scrapes and our two reads cover the
    // same 10 s give or take a scrape interval at each end, on a machine whose load (builds,
    // other tests) swings: within 20 percentage points.
    let ours = busy_pct(&before, &after);
    let fleet = snapshot["cpu"]["utilization_pct"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&fleet));
    assert!((fleet - ours).abs() <= 20.0, "fleet says {fleet:.1}% busy, node_exporter's counters {ours:.1}%");
    assert_eq!(
        snapshot["meta"]["hostname"],
        after.samples("node_uname_info").next().unwrap().label("nodename").unwrap()
    );
    assert!(snapshot["disks"].as_array().is_some_and(|d| !d.is_empty()));
    assert!(snapshot["network"]["interfaces"].as_array().is_some_and(|i| !i.is_empty()));
}

#[test]
fn run_scrape_host_and_scrape_read_a_live_node_exporter() {
    let node = start_node_exporter();
    let url = format!("{}/metrics", node.url());
    let cache = tempfile::tempdir().unwrap();

    // --scrape-host: the host sections are node_exporter's host, not this process's view.
    let output = crate::support::output(perfsage(cache.path()).args([
        "snapshot",
        "-o",
        "-",
        "--window",
        "1s",
        "--scrape-host",
        &url,
    ]));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let snapshot = json(&output);
    let page = node_metrics(&node);
    assert_eq!(snapshot["meta"]["sources"], serde_json::json!([format!("scrape-host:{url}")]));
    assert_eq!(
        snapshot["meta"]["hostname"],
        page.samples("node_uname_info").next().unwrap().label("nodename").unwrap()
    );
    let cores: BTreeSet<&str> = page.samples("node_cpu_seconds_total").filter_map(|s| s.label("cpu")).collect();
    assert_eq!(snapshot["cpu"]["logical_cores"], cores.len());
    assert_eq!(snapshot["memory"]["total_bytes"].as_f64().unwrap(), value(&page, "node_memory_MemTotal_bytes"));
    assert!(snapshot["cpu"]["context_switches_per_sec"].as_f64().unwrap() > 0.0, "a rate over two scrapes");
    assert!(snapshot["processes"].is_null(), "no processes: the local collector did not run");
    assert!(snapshot["disks"].as_array().is_some_and(|d| !d.is_empty()));

    // --scrape: endpoints only; node_exporter has no request histograms, so none.
    let output = crate::support::output(
        perfsage(cache.path()).args(["run", "--window", "500ms", "--scrape", &url, "--format", "json"]),
    );
    assert!(matches!(output.status.code(), Some(0 | 1)), "{}", stderr(&output));
    let sources = json(&output)["snapshot_meta"]["sources"].clone();
    assert_eq!(sources, serde_json::json!(["system", format!("scrape:{url}")]));
}

/// Serves `pages` in turn (the last one from then on) to each request, on a thread.
fn serve_pages(pages: Vec<String>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().take(50).enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let page = &pages[n.min(pages.len() - 1)];
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    port
}

/// Expected endpoints, computed by hand from tests/fixtures/scrape/app-{before,after}.prom.
struct Expected {
    route: &'static str,
    requests: u64,
    errors: u64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    mean_ms: f64,
}

fn check_endpoints(endpoints: &serde_json::Value, expected: &[Expected]) {
    let endpoints = endpoints.as_array().expect("endpoints");
    assert_eq!(endpoints.len(), expected.len(), "{endpoints:?}");
    for want in expected {
        let got = endpoints.iter().find(|e| e["route"] == want.route).unwrap_or_else(|| panic!("{}", want.route));
        assert_eq!(got["requests"], want.requests, "{}", want.route);
        assert_eq!(got["errors"], want.errors, "{}", want.route);
        for (field, value) in [
            ("p50_ms", want.p50_ms),
            ("p95_ms", want.p95_ms),
            ("p99_ms", want.p99_ms),
            ("max_ms", want.max_ms),
            ("mean_ms", want.mean_ms),
        ] {
            assert_eq!(got["latency"][field].as_f64().unwrap(), value, "{} {field}", want.route);
        }
    }
}

#[test]
fn run_scrape_turns_app_histograms_into_endpoints() {
    let page = |name: &str| std::fs::read_to_string(fixture(&format!("scrape/{name}"))).unwrap();
    let port = serve_pages(vec![page("app-before.prom"), page("app-after.prom")]);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let cache = tempfile::tempdir().unwrap();
    let output = crate::support::output(
        perfsage(cache.path()).args(["snapshot", "-o", "-", "--window", "1s", "--scrape", &url]),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let snapshot = json(&output);
    assert!(snapshot["meta"]["sources"].as_array().unwrap().contains(&format!("scrape:{url}").into()));
    // Bucket increases (after − before), statuses summed, as
    // histogram_quantile(q, sum by (le, method, route) (increase(..._bucket[w]))):
    //   GET /api/contacts/:id   le 0.05 0.1 0.25 0.5 1   2.5 +Inf
    //                               400 500 560  595 608 610 610
    //     p50: rank 305 in (0, 0.05]:      0.05 × 305/400               = 38.125 ms
    //     p95: rank 579.5 in (0.25, 0.5]:  0.25 + 0.25 × 19.5/35        = 389.286 ms
    //     p99: rank 603.9 in (0.5, 1]:     0.5 + 0.5 × 8.9/13           = 842.308 ms
    //     max: rank 610 in (1, 2.5]:       2.5 s; mean (30 + 6) s / 610 = 59.016 ms
    //     errors: the status="500" series' count increase, 10.
    //   POST /api/reports            0    0   2    2   3   4   10
    //     p50 and p95 fall in +Inf: the largest finite bound, 2.5 s; mean 35 s / 10.
    //     requests and errors from http_requests_total (status 503): 10 and 3.
    let expected = [
        Expected {
            route: "GET /api/contacts/:id",
            requests: 610,
            errors: 10,
            p50_ms: 38.125,
            p95_ms: 389.286,
            p99_ms: 842.308,
            max_ms: 2500.0,
            mean_ms: 59.016,
        },
        Expected {
            route: "POST /api/reports",
            requests: 10,
            errors: 3,
            p50_ms: 2500.0,
            p95_ms: 2500.0,
            p99_ms: 2500.0,
            max_ms: 2500.0,
            mean_ms: 3500.0,
        },
    ];
    check_endpoints(&snapshot["endpoints"], &expected);
    let contacts = &snapshot["endpoints"].as_array().unwrap()[0];
    assert_eq!(contacts["service"], format!("127.0.0.1:{port}"));
    let window_s = contacts["window_ms"].as_f64().unwrap() / 1000.0;
    assert!((0.9..5.0).contains(&window_s), "the window between the two scrapes: {window_s}");
    assert_eq!(contacts["throughput_rps"].as_f64().unwrap(), (610.0 / window_s * 1000.0).round() / 1000.0);
    assert_eq!(contacts["buckets"][3], serde_json::json!({"le_ms": 500.0, "count": 595}));

    // A file is one reading: totals since the process started, no throughput.
    //   GET /api/contacts/:id cumulative: 500 650 740 791 809 812 812
    //     p95: rank 771.4 in (0.25, 0.5]: 0.25 + 0.25 × 31.4/51 = 403.922 ms
    let path = fixture("scrape/app-after.prom");
    let output = crate::support::output(
        perfsage(cache.path()).args(["snapshot", "-o", "-", "--window", "200ms", "--scrape"]).arg(&path),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let endpoints = json(&output)["endpoints"].clone();
    let contacts = endpoints.as_array().unwrap().iter().find(|e| e["route"] == "GET /api/contacts/:id").unwrap();
    assert_eq!(contacts["requests"], 812);
    assert_eq!(contacts["latency"]["p95_ms"].as_f64().unwrap(), 403.922);
    assert_eq!(contacts["throughput_rps"].as_f64().unwrap(), 0.0);
    assert_eq!(contacts["service"], "app-after");
}

#[test]
fn a_backfilled_fleet_names_its_bottlenecks() {
    const INSTANCES: usize = 50;
    let end = unix_now() / 60 * 60 - 3600;
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("fleet.om");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    fleet_gen::write_fleet(&mut file, INSTANCES, end - 600, end, 30).unwrap();
    file.flush().unwrap();
    drop(file);
    let data = work.path().join("tsdb");
    let status = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&data)
        .stdout(Stdio::null())
        .status()
        .expect("promtool is installed (.ci/run installs it)");
    assert!(status.success(), "promtool backfilled the fleet");
    let prometheus = start_prometheus(&[], Some(data));
    wait_for("the backfilled blocks", Duration::from_secs(30), || {
        query(&prometheus, "count(node_uname_info)", Some(end)).first().is_some_and(|(_, v)| *v == INSTANCES as f64)
    });

    let cache = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = crate::support::output(
        perfsage(cache.path())
            .args(["fleet", "--prometheus", &prometheus.url(), "--selector", "{job=\"node\"}", "--window", "5m"])
            .args(["--at", &end.to_string(), "--concurrency", "4", "--format", "json", "--fail-on", "high"]),
    );
    eprintln!("perfsage fleet over {INSTANCES} instances took {:?}", started.elapsed());
    assert_eq!(output.status.code(), Some(1), "findings at high, nothing degraded: {}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["instances"].as_array().unwrap().len(), INSTANCES);
    assert!(report["failed_queries"].as_array().unwrap().is_empty());
    assert!(report["instances"].as_array().unwrap().iter().all(|i| i["status"] == "ok"));

    let named = |rule: &str| -> BTreeSet<String> {
        report["classes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["rule"] == rule)
            .map(|c| {
                c["instances"].as_array().unwrap().iter().map(|h| h["instance"].as_str().unwrap().to_string()).collect()
            })
            .unwrap_or_default()
    };
    let expected = |kind: fleet_gen::Bottleneck| -> BTreeSet<String> {
        (1..=INSTANCES).filter(|i| fleet_gen::bottleneck(*i) == kind).map(fleet_gen::instance_name).collect()
    };
    assert_eq!(named("cpu/utilization"), expected(fleet_gen::Bottleneck::Cpu));
    assert_eq!(named("memory/available-low"), expected(fleet_gen::Bottleneck::Memory));
    assert_eq!(named("disk/space-used"), expected(fleet_gen::Bottleneck::Disk));
    // The healthy ones have nothing at all, and every class is one of the three.
    for instance in report["instances"].as_array().unwrap() {
        let i: usize = instance["instance"].as_str().unwrap()[5..9].parse().unwrap();
        let findings = instance["findings"].as_array().unwrap();
        assert_eq!(findings.is_empty(), fleet_gen::bottleneck(i) == fleet_gen::Bottleneck::None, "{instance}");
    }
    assert_eq!(report["classes"].as_array().unwrap().len(), 3, "{}", report["classes"]);
    // Ranked by worst severity, then by how many instances.
    let worst: Vec<&str> =
        report["classes"].as_array().unwrap().iter().map(|c| c["worst_severity"].as_str().unwrap()).collect();
    let rank = |s: &str| ["info", "low", "medium", "high", "critical"].iter().position(|w| *w == s).unwrap();
    assert!(worst.windows(2).all(|w| rank(w[0]) >= rank(w[1])), "{worst:?}");

    // The same fleet as a table names the classes too.
    let table = output_quiet(perfsage(cache.path()).args([
        "fleet",
        "--prometheus",
        &prometheus.url(),
        "--window",
        "5m",
        "--at",
        &end.to_string(),
    ]));
    let text = stdout(&table);
    assert!(text.contains("50 instances from") && text.contains("disk/space-used"), "{text}");
    assert!(text.contains("35 more instances: no findings"), "{text}");
}

/// Run without echoing stdout (the table is long).
fn output_quiet(command: &mut Command) -> std::process::Output {
    let output = command.output().expect("cannot run perfsage");
    eprintln!("--- stderr\n{}", String::from_utf8_lossy(&output.stderr));
    output
}

#[test]
fn unreachable_servers_are_clear_errors() {
    let cache = tempfile::tempdir().unwrap();
    let closed = free_port();

    let output = crate::support::output(perfsage(cache.path()).args([
        "fleet",
        "--prometheus",
        &format!("http://127.0.0.1:{closed}"),
    ]));
    assert_eq!(output.status.code(), Some(3), "a source that answered nothing: exit 3");
    let message = stderr(&output);
    assert!(message.contains("perfsage: error: the fleet could not be read"), "{message}");
    assert!(message.contains(&format!("Prometheus at http://127.0.0.1:{closed} answered none of the")), "{message}");
    assert!(message.contains(&format!("cannot connect to 127.0.0.1:{closed}")), "{message}");
    assert!(message.contains("Connection refused"), "{message}");

    let output = crate::support::output(perfsage(cache.path()).args([
        "fleet",
        "--prometheus",
        "https://prometheus.example:9090",
    ]));
    assert_eq!(output.status.code(), Some(2), "an https URL is a usage error");
    assert!(stderr(&output).contains("https is not supported"), "{}", stderr(&output));

    // A scrape target that cannot be reached is a failed source: the rest is still checked.
    let url = format!("http://127.0.0.1:{closed}/metrics");
    let output = crate::support::output(
        perfsage(cache.path()).args(["run", "--window", "200ms", "--scrape", &url, "--format", "json"]),
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains(&format!("scrape {url}: cannot connect to 127.0.0.1:{closed}")),
        "{}",
        stderr(&output)
    );
    assert!(json(&output)["snapshot_meta"]["sources"] == serde_json::json!(["system"]));

    // An exposition that does not parse names the line.
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "ok 1\nbroken{le=\"1\" 2\n").unwrap();
    let output = crate::support::output(
        perfsage(cache.path()).args(["run", "--window", "200ms", "--format", "json", "--scrape"]).arg(bad.path()),
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output)
            .contains("not a valid Prometheus text exposition: line 2: expected `,` or `}` after label `le`"),
        "{}",
        stderr(&output)
    );
}
