//! `perfsage audit`, `history` and `report` end to end: audits over fixture
//! snapshots into a real SQLite history, diffs and exit codes, the service
//! mode under real signals (SIGTERM, SIGKILL), and the exports checked by
//! the real consumers: `promtool check metrics` and headless Chromium.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::{fixture, json, output, perfsage, stderr, stdout, test_plugin};

const IDLE: &str = "rules/snapshots/idle.json";
const BUSY: &str = "audits/crm-web-1-busy.json";
const DISK_FILLING: &str = "rules/snapshots/disk-filling.json";

/// An isolated state directory and compile cache.
struct State {
    dir: tempfile::TempDir,
}

impl State {
    fn new() -> State {
        State { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = perfsage(&self.path().join("cache"));
        command.args(args).arg("--state-dir").arg(self.path().join("state"));
        if args.first() == Some(&"audit") {
            command.arg("--config").arg(fixture("audits/system-rules.toml"));
        }
        command
    }

    /// `perfsage audit --snapshot <fixture> --format json <extra>`: (exit code, JSON).
    fn audit(&self, snapshot: &str, extra: &[&str]) -> (i32, serde_json::Value) {
        let out =
            output(self.command(&["audit", "--format", "json"]).arg("--snapshot").arg(fixture(snapshot)).args(extra));
        (out.status.code().unwrap(), json(&out))
    }

    fn db(&self) -> PathBuf {
        self.path().join("state/history.sqlite3")
    }

    /// Audits in the history by status, read with SQLite directly.
    fn statuses(&self) -> Vec<(i64, String)> {
        self.try_statuses().unwrap()
    }

    /// The same, while an audit process may still be creating the file.
    fn try_statuses(&self) -> rusqlite::Result<Vec<(i64, String)>> {
        let db = rusqlite::Connection::open(self.db())?;
        db.busy_timeout(Duration::from_secs(5))?;
        let mut statement = db.prepare("SELECT id, status FROM audits ORDER BY id")?;
        statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
    }
}

fn keys(rows: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} @ {}", f["rule"].as_str().unwrap(), f["target"].as_str().unwrap()))
        .collect();
    keys.sort();
    keys
}

#[test]
fn audits_over_differing_fixtures_give_new_resolved_persisting_and_exit_codes() {
    let state = State::new();
    // 1: idle, nothing wrong; the first audit of crm-web-1.
    let (code, first) = state.audit(IDLE, &["--fail-on-new"]);
    assert_eq!(code, 0);
    assert_eq!(first["audit"]["target"], "crm-web-1");
    assert_eq!(first["diff"]["previous_audit"], serde_json::Value::Null);
    assert!(first["report"]["findings"].as_array().unwrap().is_empty());

    // 2: busy: every finding is new; high ones are, critical ones are not.
    let (code, busy) = state.audit(BUSY, &["--fail-on-new", "--fail-on", "critical"]);
    assert_eq!(code, 0, "no new finding is critical");
    assert_eq!(busy["diff"]["previous_audit"], first["audit"]["id"]);
    let new = keys(&busy["diff"]["new"]);
    assert_eq!(new.len(), 8, "{new:?}");
    assert!(new.contains(&"cpu/saturation @ cpu".to_string()));
    assert!(new.contains(&"disk/fills-soon @ disk /var".to_string()));
    assert!(keys(&busy["diff"]["resolved"]).is_empty());

    // 3: only the disk still filling: cpu and memory resolved, disk persisting, nothing new.
    let (code, disk) = state.audit(DISK_FILLING, &["--fail-on-new"]);
    assert_eq!(code, 0, "nothing new");
    assert!(keys(&disk["diff"]["new"]).is_empty());
    assert_eq!(
        keys(&disk["diff"]["resolved"]),
        [
            "cpu/saturation @ cpu",
            "cpu/utilization @ cpu",
            "memory/available-low @ memory",
            "memory/major-faults @ memory",
            "memory/swap-used @ memory"
        ]
    );
    assert_eq!(
        keys(&disk["diff"]["persisting"]),
        ["disk/fills-soon @ disk /var", "disk/space-used @ disk /var", "disk/space-used @ disk /var/lib/postgresql"]
    );
    for p in disk["diff"]["persisting"].as_array().unwrap() {
        assert_eq!(
            p["score_change"].as_f64().unwrap(),
            p["score"].as_f64().unwrap() - p["score_before"].as_f64().unwrap()
        );
    }

    // The same audit with --fail-on high fails: old findings count without --fail-on-new.
    let (code, _) = state.audit(DISK_FILLING, &["--fail-on", "high"]);
    assert_eq!(code, 1);
    // 5: busy again: cpu and memory are new again, and that fails --fail-on-new --fail-on high.
    let (code, again) = state.audit(BUSY, &["--fail-on-new", "--fail-on", "high"]);
    assert_eq!(code, 1);
    assert_eq!(keys(&again["diff"]["new"]).len(), 5);
    assert_eq!(keys(&again["diff"]["persisting"]).len(), 3);

    // --target keeps histories apart: a new target's first audit has no previous one.
    let (_, other) = state.audit(BUSY, &["--target", "crm-web-9"]);
    assert_eq!(other["diff"]["previous_audit"], serde_json::Value::Null);
}

#[test]
fn history_counts_by_severity_and_report_replays_any_audit_in_every_format() {
    let state = State::new();
    state.audit(IDLE, &[]);
    let (_, busy) = state.audit(BUSY, &[]);
    let id = busy["audit"]["id"].as_i64().unwrap().to_string();

    let listed = json(&output(&mut state.command(&["history", "--format", "json"])));
    let audits = listed.as_array().unwrap();
    assert_eq!(audits.len(), 2);
    assert_eq!(audits[0]["id"].as_i64().unwrap().to_string(), id, "newest first");
    assert_eq!(audits[0]["by_severity"], serde_json::json!([0, 0, 2, 6, 0]), "info, low, medium, high, critical");
    assert_eq!(audits[0]["status"], "complete");
    let table = stdout(&output(&mut state.command(&["history"])));
    assert!(table.contains("crm-web-1") && table.contains("complete"), "{table}");

    // The stored report is exactly what `check` prints for the same snapshot.
    let check = output(
        perfsage(&state.path().join("cache"))
            .args(["check", "--format", "json", "--config"])
            .arg(fixture("audits/system-rules.toml"))
            .arg(fixture(BUSY)),
    );
    let report = json(&output(&mut state.command(&["report", &id, "--format", "json"])));
    assert_eq!(report["report"], json(&check));
    assert_eq!(report["diff"], busy["diff"]);

    let table = stdout(&output(&mut state.command(&["report", &id])));
    assert!(table.contains("Run queue saturated") && table.contains("8 findings; since audit"), "{table}");
    let markdown = stdout(&output(&mut state.command(&["report", &id, "--format", "markdown"])));
    assert!(markdown.contains("| 3 | high | cpu | Run queue saturated"), "{markdown}");
    let html = stdout(&output(&mut state.command(&["report", &id, "--format", "html"])));
    assert!(html.starts_with("<!DOCTYPE html>") && html.matches("<svg").count() == 4, "4 charts");
    let prom = stdout(&output(&mut state.command(&["report", &id, "--format", "prometheus"])));
    assert!(
        prom.contains(
            r#"perfsage_audit_findings{host="crm-web-1",rule="cpu/saturation",severity="high",target="cpu"} 1"#
        )
    );

    let missing = output(&mut state.command(&["report", "999"]));
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("audit 999 is not in the history"));
}

#[test]
fn a_failing_source_or_plugin_is_recorded_and_exits_three() {
    let state = State::new();
    let missing = output(&mut state.command(&["audit", "--target", "web", "--snapshot", "/nonexistent/snapshot.json"]));
    assert_eq!(missing.status.code(), Some(3));
    assert!(stderr(&missing).contains("cannot read snapshot /nonexistent/snapshot.json"), "{}", stderr(&missing));

    let panicker = test_plugin("panicker");
    let (code, degraded) = state.audit(IDLE, &["--target", "web", "--plugin", panicker.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert_eq!(degraded["audit"]["status"], "degraded");
    assert_eq!(degraded["audit"]["plugin_failures"], 1);

    let listed = json(&output(&mut state.command(&["history", "--format", "json"])));
    let failed = &listed[1];
    assert_eq!(failed["status"], "failed");
    assert!(failed["error"].as_str().unwrap().contains("No such file"), "{failed}");
    // A failed audit has no report, and says so.
    let report = output(&mut state.command(&["report", &failed["id"].to_string()]));
    assert_eq!(report.status.code(), Some(2));
    assert!(stderr(&report).contains("has no report (its status is failed)"));
}

#[test]
fn a_corrupt_or_newer_history_is_a_clear_error() {
    let state = State::new();
    std::fs::create_dir_all(state.path().join("state")).unwrap();
    std::fs::write(state.db(), "this is not a database, it is a text file of some length ..........").unwrap();
    let out = output(&mut state.command(&["history"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot open the audit history"), "{}", stderr(&out));

    std::fs::remove_file(state.db()).unwrap();
    rusqlite::Connection::open(state.db()).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let out = output(&mut state.command(&["history"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("schema version 99"), "{}", stderr(&out));
}

/// A running `perfsage audit --every ...`, killed by its pid if a test panics.
struct Service {
    child: Child,
}

impl Service {
    fn start(state: &State, args: &[&str]) -> Service {
        let child = state
            .command(&["audit", "--format", "json"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Service { child }
    }

    fn signal(&self, signal: libc::c_int) {
        assert_eq!(unsafe { libc::kill(self.child.id() as libc::pid_t, signal) }, 0);
    }

    /// Wait (bounded) for the process to exit; its code and stderr.
    fn wait(mut self, bound: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                eprintln!("--- service stderr\n{err}");
                return (status.code(), err);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the service did not stop within {bound:?}");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Poll (bounded) until `ready` holds for the history's statuses.
fn wait_for(state: &State, what: &str, ready: impl Fn(&[(i64, String)]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if state.db().exists() && state.try_statuses().is_ok_and(|audits| ready(&audits)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}; history: {:?}", state.statuses());
}

#[test]
fn the_service_audits_on_schedule_and_stops_cleanly_on_sigterm() {
    let state = State::new();
    let prom = state.path().join("perfsage.prom");
    let busy = fixture(BUSY);
    let service = Service::start(
        &state,
        &[
            "--every",
            "1s",
            "--jitter",
            "10ms",
            "--snapshot",
            busy.to_str().unwrap(),
            "--prometheus",
            prom.to_str().unwrap(),
        ],
    );
    wait_for(&state, "two complete audits", |audits| audits.iter().filter(|a| a.1 == "complete").count() >= 2);

    // Runs do not overlap, within one service or with a second audit process.
    let second = output(state.command(&["audit"]).arg("--snapshot").arg(&busy));
    assert_eq!(second.status.code(), Some(2));
    assert!(stderr(&second).contains("another perfsage audit holds"), "{}", stderr(&second));

    service.signal(libc::SIGTERM);
    let (code, err) = service.wait(Duration::from_secs(20));
    assert_eq!(code, Some(0), "clean exit on SIGTERM");
    let audits = state.statuses();
    assert!(audits.len() >= 2 && audits.iter().all(|a| a.1 == "complete"), "{audits:?}");
    assert_eq!(err.matches("perfsage: audit ").count(), audits.len(), "one line per audit");
    assert!(std::fs::read_to_string(&prom).unwrap().contains("perfsage_audit_duration_seconds"));
}

#[test]
fn a_signal_during_an_audit_lets_it_finish_and_a_second_signal_abandons_it() {
    let state = State::new();
    // A real collection of this machine over a 3 s window: long enough to signal it midway.
    let args = ["--every", "1h", "--window", "3s", "--target", "here"];
    let service = Service::start(&state, &args);
    wait_for(&state, "the audit to start", |audits| audits.iter().any(|a| a.1 == "running"));
    service.signal(libc::SIGTERM);
    let (code, err) = service.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0), "the running audit finished, then the service stopped");
    assert!(err.contains("letting the running audit finish"), "{err}");
    assert_eq!(state.statuses().iter().map(|a| a.1.as_str()).collect::<Vec<_>>(), ["complete"]);

    let service = Service::start(&state, &args);
    wait_for(&state, "the second audit to start", |audits| audits.len() == 2 && audits[1].1 == "running");
    service.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    service.signal(libc::SIGTERM);
    let (code, err) = service.wait(Duration::from_secs(10));
    assert_eq!(code, Some(3), "abandoned midway");
    assert!(err.contains("stopped during an audit"), "{err}");
    // The next audit process marks the abandoned audit interrupted.
    state.audit(IDLE, &["--target", "here"]);
    let statuses: Vec<_> = state.statuses().into_iter().map(|a| a.1).collect();
    assert_eq!(statuses, ["complete", "interrupted", "complete"]);
}

#[test]
fn the_service_records_a_failing_source_and_the_next_audit_still_runs() {
    let state = State::new();
    let snapshot = state.path().join("later.json");
    let service =
        Service::start(&state, &["--every", "200ms", "--target", "web", "--snapshot", snapshot.to_str().unwrap()]);
    wait_for(&state, "two failed audits", |audits| audits.iter().filter(|a| a.1 == "failed").count() >= 2);
    std::fs::copy(fixture(IDLE), &snapshot).unwrap();
    wait_for(&state, "a complete audit after the failures", |audits| audits.last().is_some_and(|a| a.1 == "complete"));
    service.signal(libc::SIGINT);
    assert_eq!(service.wait(Duration::from_secs(20)).0, Some(0), "clean exit on SIGINT");
}

#[test]
fn sigkill_while_writing_leaves_a_history_that_opens_and_holds_every_completed_audit() {
    let state = State::new();
    let busy = fixture(BUSY);
    let mut killed_running = 0;
    for round in 0..8 {
        let before = if state.db().exists() { state.statuses().len() } else { 0 };
        let service = Service::start(&state, &["--every", "1ms", "--snapshot", busy.to_str().unwrap()]);
        // Once this round has begun writing, kill it at a random moment.
        wait_for(&state, "this round's first audit", |audits| audits.len() > before);
        std::thread::sleep(Duration::from_millis(fastrand::u64(0..150)));
        service.signal(libc::SIGKILL);
        let (code, _) = service.wait(Duration::from_secs(10));
        assert_eq!(code, None, "round {round}: killed by a signal");

        let db = rusqlite::Connection::open(state.db()).unwrap();
        let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok");
        let mut rows = db.prepare("SELECT id, status, report_json FROM audits ORDER BY id").unwrap();
        let audits: Vec<(i64, String, Option<String>)> =
            rows.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
        for (id, status, report) in &audits {
            match status.as_str() {
                "complete" => {
                    let report: serde_json::Value = serde_json::from_str(report.as_ref().unwrap()).unwrap();
                    let stored: i64 =
                        db.query_row("SELECT COUNT(*) FROM findings WHERE audit_id = ?1", [id], |r| r.get(0)).unwrap();
                    assert_eq!(stored, 8, "audit {id}: every finding row is there");
                    assert_eq!(report["findings"].as_array().unwrap().len(), 8);
                }
                "running" | "interrupted" => {
                    assert!(report.is_none(), "audit {id}: a running audit has no half-written report");
                    killed_running += usize::from(status == "running");
                }
                other => panic!("audit {id}: unexpected status {other}"),
            }
        }
        eprintln!("round {round}: {} audits, the last {:?}", audits.len(), audits.last().map(|a| &a.1));
    }
    eprintln!("{killed_running} audits were killed mid-run");
    // The next audit process marks what the killed ones left running as interrupted,
    // and every complete audit still renders.
    let (code, _) = state.audit(BUSY, &[]);
    assert_eq!(code, 0);
    let audits = state.statuses();
    assert!(audits.iter().all(|a| a.1 == "complete" || a.1 == "interrupted"), "{audits:?}");
    assert!(audits.last().is_some_and(|a| a.1 == "complete"), "{audits:?}");
    for (id, status) in audits.iter().filter(|a| a.1 == "complete") {
        let out = output(&mut state.command(&["report", &id.to_string(), "--format", "json"]));
        assert_eq!(out.status.code(), Some(0), "audit {id} ({status}) renders");
    }
}

#[test]
fn retention_deletes_audits_older_than_keep() {
    let state = State::new();
    for _ in 0..3 {
        state.audit(IDLE, &[]);
    }
    std::thread::sleep(Duration::from_millis(300));
    let (_, last) = state.audit(IDLE, &["--keep", "250ms"]);
    let audits = state.statuses();
    assert_eq!(audits.iter().map(|a| a.0).collect::<Vec<_>>(), [last["audit"]["id"].as_i64().unwrap()]);
    let db = rusqlite::Connection::open(state.db()).unwrap();
    let orphans: i64 = db
        .query_row("SELECT COUNT(*) FROM findings WHERE audit_id NOT IN (SELECT id FROM audits)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(orphans, 0);
}

#[test]
fn the_prometheus_export_passes_promtool_check_metrics() {
    let state = State::new();
    let prom = state.path().join("perfsage.prom");
    state.audit(IDLE, &[]);
    // A target name that needs escaping in a label value.
    state.audit(BUSY, &["--prometheus", prom.to_str().unwrap(), "--target", "crm \"web\" \\ 1"]);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains(r#"host="crm \"web\" \\ 1""#), "{text}");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian's prometheus package; .ci/run installs it)");
    promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let checked = promtool.wait_with_output().unwrap();
    let problems = format!("{}{}", String::from_utf8_lossy(&checked.stdout), String::from_utf8_lossy(&checked.stderr));
    assert!(checked.status.success() && problems.trim().is_empty(), "promtool: {problems}\n{text}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&prom).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o644, "node_exporter reads it as another user");
}

/// A stand-in proxy on 127.0.0.1 that records the first line of every
/// request it gets and answers each with 502: every request the browser
/// makes to the network arrives here. Stops with the test (bounded loop).
struct RecordingProxy {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Hosts Chromium itself calls (clock, component updates, sign-in) even
/// with background networking off; anything else came from the page.
const BROWSER_OWN: [&str; 3] = ["clients2.google.com/time/", "update.googleapis.com", "accounts.google.com:443"];

impl RecordingProxy {
    fn start() -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopping) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(180);
            while !stopping.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                        let mut head = [0; 4096];
                        let read = stream.read(&mut head).unwrap_or(0);
                        let line = String::from_utf8_lossy(&head[..read]).lines().next().unwrap_or("").to_string();
                        seen.lock().unwrap().push(line);
                        let _ = stream
                            .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        RecordingProxy { port, requests, stop, thread: Some(thread) }
    }

    /// Requests so far that were not the browser's own.
    fn page_requests(&self) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        requests.iter().filter(|r| !BROWSER_OWN.iter().any(|own| r.contains(own))).cloned().collect()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Headless Chromium on a local file, every network request sent to `proxy`;
/// returns its stdout (the DOM with `--dump-dom`). Bounded: killed after 90 s.
fn chromium(page: &Path, proxy: &RecordingProxy, mode: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1000,2600",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--proxy-server=http://127.0.0.1:{}", proxy.port))
        // Loopback too: nothing may bypass the counting proxy.
        .arg("--proxy-bypass-list=<-loopback>")
        .args(mode)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium is installed (Debian's chromium; .ci/run installs it)");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

#[test]
fn the_html_report_renders_its_charts_in_headless_chromium_and_loads_nothing() {
    let state = State::new();
    let html = state.path().join("report.html");
    for snapshot in [IDLE, BUSY, DISK_FILLING] {
        state.audit(snapshot, &[]);
    }
    state.audit(BUSY, &["--html", html.to_str().unwrap()]);
    let page = std::fs::read_to_string(&html).unwrap();
    // Self-contained: no URL, no external reference of any kind.
    for needle in ["http:", "https:", "//", "src=", "href=", "url(", "@import", "<script", "<link"] {
        assert!(!page.contains(needle), "the report contains {needle:?}");
    }

    // The proxy proves its power on a page that does reference the network ...
    let proxy = RecordingProxy::start();
    let control = state.path().join("control.html");
    std::fs::write(&control, "<!DOCTYPE html><html><body><img src=\"http://perfsage.invalid/x.png\"></body></html>")
        .unwrap();
    chromium(&control, &proxy, &["--dump-dom"]);
    let control_requests = proxy.page_requests();
    assert!(
        control_requests.iter().any(|r| r.contains("perfsage.invalid/x.png")),
        "a remote image must reach the proxy: {control_requests:?}"
    );

    // ... and sees nothing from the report, which renders with its four charts.
    let dom = chromium(&html, &proxy, &["--dump-dom"]);
    assert_eq!(proxy.page_requests(), control_requests, "the report made network requests");
    assert_eq!(dom.matches("<svg").count(), 4, "findings, latency, resources, trend");
    for text in ["Findings, ranked", "Endpoint latency percentiles", "Resource use", "Findings over past audits"] {
        assert!(dom.contains(text), "the DOM lacks {text:?}");
    }
    assert!(dom.contains("disk/fills-soon · disk /var"), "chart labels are SVG text");

    let png = state.path().join("report.png");
    chromium(&html, &proxy, &[&format!("--screenshot={}", png.display())]);
    assert_eq!(proxy.page_requests(), control_requests, "the report made network requests");
    let image = std::fs::read(&png).unwrap();
    assert!(image.starts_with(b"\x89PNG") && image.len() > 50_000, "a real screenshot ({} bytes)", image.len());
    if let Some(keep) = std::env::var_os("PERFSAGE_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let units = crate::support::repo_root().join("deploy/systemd");
    for unit in ["perfsage-audit.service", "perfsage-audit.timer"] {
        // verify checks that ExecStart's binary exists: point it at the one under test.
        let text = std::fs::read_to_string(units.join(unit)).unwrap();
        let text = text.replace("/usr/local/bin/perfsage", env!("CARGO_BIN_EXE_perfsage"));
        std::fs::write(dir.path().join(unit), text).unwrap();
    }
    let verified = Command::new("systemd-analyze")
        .current_dir(dir.path())
        .args(["verify", "perfsage-audit.service", "perfsage-audit.timer"])
        .output()
        .expect("systemd-analyze is installed (Debian's systemd; .ci/run installs it)");
    let problems = String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success() && problems.trim().is_empty(), "systemd-analyze verify: {problems}");
}

/// A source that stalls (a TCP listener that accepts and never answers, as
/// `--postgres` and `--mysql`) times out: the audit is stored `degraded` with
/// the cause, exits 3, and under `--every` the next audit still runs.
#[test]
fn a_stalled_database_source_degrades_the_audit_and_the_service_goes_on() {
    let state = State::new();
    let stalled = crate::support::db::StalledServer::start();
    let pg = format!("postgresql://perfsage@127.0.0.1:{}/shop", stalled.port);
    let my = format!("mysql://perfsage@127.0.0.1:{}/shop", stalled.port);
    let sources = ["--window", "100ms", "--source-timeout", "1s", "--postgres", &pg, "--mysql", &my];
    let out = output(state.command(&["audit", "--format", "json", "--target", "db1"]).args(sources));
    assert_eq!(out.status.code(), Some(3), "a timed-out source makes the audit incomplete");
    let audit = json(&out);
    assert_eq!(audit["audit"]["status"], "degraded");
    let error = audit["audit"]["error"].as_str().unwrap();
    let port = stalled.port;
    assert!(error.contains(&format!("postgresql:127.0.0.1:{port}/shop: timed out after 1 s connecting")), "{error}");
    assert!(error.contains(&format!("mysql:127.0.0.1:{port}/shop: timed out after 1 s connecting")), "{error}");
    assert!(audit["report"]["findings"].is_array(), "the system sections were still checked");
    let listed = json(&output(&mut state.command(&["history", "--format", "json"])));
    assert_eq!(listed[0]["status"], "degraded");
    assert_eq!(listed[0]["error"], error, "the history keeps the cause");

    let service = Service::start(&state, &[&["--every", "200ms", "--target", "db1"][..], &sources[..]].concat());
    wait_for(&state, "two more degraded audits", |audits| audits.iter().filter(|a| a.1 == "degraded").count() >= 3);
    service.signal(libc::SIGTERM);
    let (code, err) = service.wait(Duration::from_secs(20));
    assert_eq!(code, Some(0), "clean exit on SIGTERM");
    assert!(err.contains("degraded") && err.contains("timed out after 1 s connecting"), "{err}");
}

/// Every deployment stops a hung audit, and later than a healthy one with
/// stalled database sources could take (the default source timeout).
#[test]
fn every_deployment_bounds_an_audit_beyond_the_source_timeout() {
    let root = crate::support::repo_root();
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
    let pack: toml::Table = toml::from_str(&read("rules/default.toml")).unwrap();
    let source_s = pack["sources"]["timeout_ms"].as_integer().unwrap() / 1000;
    let seconds_after = |text: &str, key: &str, unit: &str| -> i64 {
        let line = text.lines().find(|l| l.trim_start().starts_with(key)).unwrap_or_else(|| panic!("no {key}"));
        let value = line.trim_start()[key.len()..].trim();
        let number: i64 = value.trim_end_matches(unit).parse().unwrap_or_else(|_| panic!("{line}"));
        if unit == "min" || unit == "m" { number * 60 } else { number }
    };
    let bounds = [
        ("systemd", seconds_after(&read("deploy/systemd/perfsage-audit.service"), "TimeoutStartSec=", "min")),
        ("kubernetes", seconds_after(&read("deploy/kubernetes/cronjob.yaml"), "activeDeadlineSeconds:", "")),
    ];
    let cron = read("deploy/cron/perfsage");
    let line = cron.lines().find(|l| !l.starts_with('#') && l.contains("perfsage audit")).unwrap();
    let limit = line.split_whitespace().skip_while(|w| *w != "timeout").nth(2).expect("timeout --kill-after=.. LIMIT");
    let bounds = [bounds[0], bounds[1], ("cron", limit.trim_end_matches('m').parse::<i64>().unwrap() * 60)];
    for (deployment, bound) in bounds {
        assert!(bound >= 4 * source_s, "{deployment}: {bound} s does not leave a stalled source's {source_s} s room");
        assert!(bound <= 600, "{deployment}: {bound} s lets a hung audit block the next run for too long");
    }
}

#[test]
fn a_hostile_host_name_reaches_the_terminal_escaped_in_audit_history_and_report() {
    // The target of an audit is the snapshot's host name unless --target names
    // one: a snapshot from elsewhere (or a fleet's Prometheus labels) decides it.
    let state = State::new();
    let mut snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(DISK_FILLING)).unwrap()).unwrap();
    let hostile = "web1\u{1b}]0;owned\u{7}\u{1b}[2J\u{202e}";
    snapshot["meta"]["hostname"] = hostile.into();
    let path = state.path().join("hostile.json");
    std::fs::write(&path, serde_json::to_string(&snapshot).unwrap()).unwrap();
    let raw = |text: &str| text.contains('\u{1b}') || text.contains('\u{7}') || text.contains('\u{202e}');
    for _ in 0..2 {
        let out = output(state.command(&["audit"]).arg("--snapshot").arg(&path));
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", stderr(&out));
        assert!(!raw(&stdout(&out)) && !raw(&stderr(&out)), "audit output escaped");
        assert!(stdout(&out).contains("audit") && stdout(&out).contains("web1"), "the outcome line names the target");
    }
    let history = output(&mut state.command(&["history"]));
    assert!(!raw(&stdout(&history)) && stdout(&history).contains("web1"), "{}", stdout(&history));
    let listed = json(&output(&mut state.command(&["history", "--format", "json"])));
    let id = listed[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(listed[0]["target"], hostile, "JSON keeps the name, escaped by serde");
    for format in ["table", "markdown"] {
        let report = output(&mut state.command(&["report", &id, "--format", format]));
        assert!(!raw(&stdout(&report)), "{format}: {}", stdout(&report));
    }
}
