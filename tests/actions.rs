//! End-to-end tests of `plan`, `apply` and `journal`: real hook scripts, real
//! files and processes, the `proposer` test plugin naming the hooks.
//!
//! Each test writes a rule pack that loads only `proposer` and binds the hooks
//! it needs, and works from the `idle` fixture snapshot unless it needs a live
//! machine (verification).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::support::*;
use serde_json::Value;

/// One test's world: a temp dir with the pack, hooks, state and cache.
struct World {
    dir: tempfile::TempDir,
    hooks: toml::Table,
    actions: Vec<(String, Vec<(String, String)>)>,
    proposer: toml::Table,
    collect: toml::Table,
    runtime: toml::Table,
}

impl World {
    fn new() -> Self {
        World {
            dir: tempfile::tempdir().unwrap(),
            hooks: toml::Table::new(),
            actions: Vec::new(),
            proposer: toml::Table::new(),
            collect: toml::Table::new(),
            runtime: toml::Table::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn state(&self) -> PathBuf {
        self.path("state")
    }

    /// Write an executable script into the pack's `hooks/` folder; its path relative to the pack.
    fn script(&self, name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path("hooks").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        format!("hooks/{name}")
    }

    /// Bind `name` in the pack; `extra` adds keys (dry_run, rollback, env, ...).
    fn bind(&mut self, name: &str, command: &[&str], timeout_ms: i64, extra: toml::Table) {
        let mut binding = extra;
        binding.insert("command".into(), toml::Value::Array(command.iter().map(|s| (*s).into()).collect()));
        binding.insert("timeout_ms".into(), timeout_ms.into());
        self.hooks.insert(name.into(), binding.into());
    }

    /// Have the proposer propose an action naming `hook` with `params`.
    fn propose(&mut self, hook: &str, params: &[(&str, &str)]) {
        self.actions.push((hook.into(), params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()));
    }

    fn write_pack(&self) -> PathBuf {
        let spec: Vec<String> = self
            .actions
            .iter()
            .map(|(hook, params)| {
                let mut record = hook.clone();
                for (k, v) in params {
                    record.push_str(&format!("\u{1e}{k}\u{1f}{v}"));
                }
                record
            })
            .collect();
        let mut proposer = self.proposer.clone();
        proposer.insert("actions".into(), spec.join("\u{1d}").into());
        let mut pack = toml::Table::new();
        let mut plugins = toml::Table::new();
        plugins.insert(
            "proposer".into(),
            toml::Value::Table(toml::Table::from_iter([("params".into(), proposer.into())])),
        );
        pack.insert("plugins".into(), plugins.into());
        pack.insert("hooks".into(), self.hooks.clone().into());
        if !self.runtime.is_empty() {
            pack.insert("runtime".into(), self.runtime.clone().into());
        }
        if !self.collect.is_empty() {
            pack.insert("collect".into(), self.collect.clone().into());
        }
        let path = self.path("pack.toml");
        std::fs::write(&path, toml::to_string(&pack).unwrap()).unwrap();
        path
    }

    /// `perfsage <command>` with this world's pack, state and the proposer alone.
    fn perfsage(&self, command: &str) -> Command {
        let pack = self.write_pack();
        let mut cmd = perfsage(&self.path("cache"));
        cmd.arg(command)
            .arg("--no-builtin")
            .arg("--plugin")
            .arg(test_plugin("proposer"))
            .arg("--config")
            .arg(pack)
            .arg("--state-dir")
            .arg(self.state())
            .stdin(Stdio::null());
        cmd
    }

    /// The same, planning from the idle fixture snapshot.
    fn offline(&self, command: &str) -> Command {
        let mut cmd = self.perfsage(command);
        cmd.arg("--snapshot").arg(fixture("rules/snapshots/idle.json"));
        cmd
    }

    /// `perfsage journal` on this world's state.
    fn show_journal(&self) -> std::process::Output {
        output(perfsage(&self.path("cache")).arg("journal").arg("--state-dir").arg(self.state()))
    }

    fn journal(&self) -> Vec<Value> {
        match std::fs::read_to_string(self.state().join("journal.jsonl")) {
            Ok(text) => text.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn table(pairs: &[(&str, toml::Value)]) -> toml::Table {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// A binding's `params` declaration, from TOML inline-table text (`pid = "..."`).
fn params(declaration: &str) -> toml::Value {
    toml::Value::Table(toml::from_str(declaration).unwrap())
}

fn env_table(pairs: &[(&str, &str)]) -> toml::Value {
    toml::Value::Table(pairs.iter().map(|(k, v)| (k.to_string(), toml::Value::from(*v))).collect())
}

/// A built-in hook script of the repository (what the default pack embeds).
fn builtin_hook(name: &str) -> String {
    repo_root().join("rules/hooks").join(name).display().to_string()
}

/// Every file under `dir` (not following links) with its bytes and modification time.
fn tree(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        if meta.is_dir() {
            found.extend(tree(&entry.path()));
        } else {
            let bytes = if meta.is_file() { std::fs::read(entry.path()).unwrap() } else { Vec::new() };
            found.insert(entry.path(), (bytes, meta.modified().unwrap()));
        }
    }
    found
}

/// How far in the future the clean-old-files tests put "now" (`PERFSAGE_CLEAN_NOW`):
/// a file's change time is always the real now, so only a later "now" makes it old.
const SHIFT_DAYS: u64 = 100;

/// "Now" for clean-old-files (`PERFSAGE_CLEAN_NOW`), as epoch seconds: [`SHIFT_DAYS`] ahead.
fn clean_now() -> String {
    let shifted = SystemTime::now() + Duration::from_secs(SHIFT_DAYS * 86_400);
    shifted.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs().to_string()
}

/// Write a file `days` old by its modification and access times, counted from [`clean_now`].
fn write_old(path: &Path, bytes: &[u8], days: u64) {
    std::fs::write(path, bytes).unwrap();
    let at = SystemTime::now() + Duration::from_secs(SHIFT_DAYS * 86_400) - Duration::from_secs(days * 86_400);
    set_times(path, at, at);
}

fn set_times(path: &Path, modified: SystemTime, accessed: SystemTime) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_times(std::fs::FileTimes::new().set_modified(modified).set_accessed(accessed)).unwrap();
}

fn events(journal: &[Value]) -> Vec<String> {
    journal
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["action"].as_str().unwrap(),
                r["event"].as_str().unwrap(),
                r["phase"].as_str().unwrap_or("")
            )
        })
        .map(|s| s.trim_end().to_string())
        .collect()
}

fn process_is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

/// Wait (bounded) until `check` holds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A world whose pack binds the built-in clean-old-files and set-config-key
/// hooks to a watched directory and a config file of its own.
fn watched_world() -> (World, PathBuf, PathBuf) {
    let mut world = World::new();
    let watched = world.path("watched");
    std::fs::create_dir_all(watched.join("logs")).unwrap();
    write_old(&watched.join("logs/app.log.1"), b"old log line\n", 30);
    write_old(&watched.join("session-42"), &[7u8; 1000], 20);
    write_old(&watched.join("logs/app.log"), b"fresh\n", 0);
    let outside = world.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    write_old(&outside.join("keep-me"), b"not under an allowed root\n", 60);
    std::os::unix::fs::symlink(&outside, watched.join("link-out")).unwrap();
    let config = world.path("app.conf");
    std::fs::write(&config, "# app\nmax_connections = 100\nshared_buffers = 128MB\n").unwrap();

    let clean = builtin_hook("clean-old-files.sh");
    let allowed = watched.display().to_string();
    world.bind(
        "clean-old-files",
        &[&clean],
        30_000,
        table(&[
            ("dry_run", true.into()),
            ("env", env_table(&[("PERFSAGE_ALLOWED_ROOTS", &allowed), ("PERFSAGE_CLEAN_NOW", &clean_now())])),
            (
                "params",
                params(&format!(
                    "dir = {{ type = \"path\", roots = [\"{allowed}\"], ancestors = true }}\n\
                     older_than_days = {{ type = \"integer\", min = 1, max = 99999 }}"
                )),
            ),
        ]),
    );
    let set = builtin_hook("set-config-key.sh");
    let file = config.display().to_string();
    world.bind(
        "set-config-key",
        &[&set],
        30_000,
        table(&[
            ("dry_run", true.into()),
            ("verify", toml::Value::Array(vec![set.clone().into()])),
            ("rollback", toml::Value::Array(vec![set.clone().into()])),
            ("env", env_table(&[("PERFSAGE_ALLOWED_FILES", &file)])),
            (
                "params",
                params(&format!(
                    "file = {{ type = \"path\", roots = [\"{}\"] }}\n\
                     key = {{ type = \"key\", allow = [\"max_connections\"] }}\nvalue = \"text\"",
                    world.dir.path().display()
                )),
            ),
        ]),
    );
    // The plugin names a directory above the allowed root (as the disk plugin names a mount point).
    let above = world.dir.path().display().to_string();
    world.propose("clean-old-files", &[("dir", &above), ("older_than_days", "14")]);
    world.propose("set-config-key", &[("file", &file), ("key", "max_connections"), ("value", "500")]);
    world.propose("no-such-hook", &[("x", "1")]);
    (world, watched, config)
}

#[test]
fn plan_shows_exact_commands_and_dry_runs_and_changes_nothing() {
    let (world, watched, config) = watched_world();
    let mut plan = world.offline("plan");
    let before = tree(world.dir.path());
    let out = output(plan.args(["--format", "json"]));
    assert_eq!(out.status.code(), Some(0));
    let after = tree(world.dir.path());
    let changed: Vec<_> =
        after.keys().filter(|p| !p.starts_with(world.state()) && !p.starts_with(world.path("cache"))).collect();
    assert_eq!(changed, before.keys().collect::<Vec<_>>(), "no file appeared or vanished outside perfsage's state");
    for (path, content) in &before {
        assert_eq!(&after[path], content, "{} changed", path.display());
    }
    assert!(!world.state().join("journal.jsonl").exists(), "a plan journals nothing: it applies nothing");

    let plan = json(&out);
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    let clean = &steps[0];
    assert_eq!(clean["kind"], "hook");
    assert_eq!(clean["apply"]["argv"][0], builtin_hook("clean-old-files.sh"));
    assert_eq!(clean["apply"]["env"]["PERFSAGE_PARAM_DIR"], world.dir.path().display().to_string());
    assert_eq!(clean["apply"]["env"]["PERFSAGE_PARAM_OLDER_THAN_DAYS"], "14");
    assert!(clean["apply"]["env"].get("HOME").is_none(), "the environment is cleared");
    let listing = clean["dry_run_output"]["stdout"].as_str().unwrap();
    assert!(listing.contains("would remove 2 files, 1013 bytes, older than 14 days"), "{listing}");
    assert!(listing.contains("app.log.1") && listing.contains("session-42"), "{listing}");
    assert!(!listing.contains("keep-me") && !listing.contains("logs/app.log\n"), "{listing}");
    assert!(listing.contains(&watched.display().to_string()));

    let set = &steps[1];
    let diff = set["dry_run_output"]["stdout"].as_str().unwrap();
    assert!(diff.contains("-max_connections = 100") && diff.contains("+max_connections = 500"), "{diff}");
    assert_eq!(set["dry_run_output"]["status"], "exited");

    assert_eq!(steps[2]["kind"], "manual");
    assert!(steps[2]["reason"].as_str().unwrap().contains("hook `no-such-hook` is not bound"));
    assert!(steps[2].get("apply").is_none(), "an unbound hook gets no command");

    let text = stdout(&output(&mut world.offline("plan")));
    assert!(text.contains("[hook clean-old-files]") && text.contains("[manual] proposer.step-2"), "{text}");
    assert!(text.contains("PERFSAGE_PARAM_KEY=max_connections"));
    let _ = config;
}

#[test]
fn apply_runs_the_builtin_hooks_within_their_limits() {
    let (world, watched, config) = watched_world();
    let out =
        output(world.offline("apply").args(["--action", "proposer.step-0", "--action", "proposer.step-1", "--yes"]));
    assert_eq!(out.status.code(), Some(0), "verification is skipped from a snapshot, not failed");
    assert!(!watched.join("logs/app.log.1").exists() && !watched.join("session-42").exists());
    assert!(watched.join("logs/app.log").exists(), "a fresh file stays");
    assert!(world.path("outside/keep-me").exists(), "a symlink out of the root is not followed");
    assert!(std::fs::symlink_metadata(watched.join("link-out")).is_ok(), "links themselves stay");
    let text = std::fs::read_to_string(&config).unwrap();
    assert_eq!(text, "# app\nmax_connections = 500\nshared_buffers = 128MB\n");

    let journal = world.journal();
    assert_eq!(
        events(&journal),
        [
            "proposer.step-0 started apply",
            "proposer.step-0 finished apply",
            "proposer.step-0 verified",
            "proposer.step-1 started apply",
            "proposer.step-1 finished apply",
            "proposer.step-1 started verify",
            "proposer.step-1 finished verify",
            "proposer.step-1 verified",
        ]
    );
    assert_eq!(journal[2]["verdict"], "skipped");
    assert!(journal[2]["detail"].as_str().unwrap().contains("verification needs a live run"));
    assert_eq!(journal[1]["status"], "exited");
    assert_eq!(journal[1]["code"], 0);
    assert!(journal[1]["stdout"].as_str().unwrap().contains("removed 2 files, 1013 bytes"));
    let shown = stdout(&world.show_journal());
    assert!(
        shown.contains("proposer.step-1") && shown.contains("apply finished") && shown.contains("skipped"),
        "{shown}"
    );
}

#[test]
fn apply_without_consent_off_a_terminal_exits_two_and_runs_nothing() {
    let mut world = World::new();
    let marker = world.path("ran");
    let hook = world.script("touch.sh", &format!("touch '{}'", marker.display()));
    world.bind("touch", &[&hook], 5000, toml::Table::new());
    world.propose("touch", &[]);
    for selection in [&["--action", "proposer.step-0"][..], &["--top", "1"]] {
        let out = output(world.offline("apply").args(selection));
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("refusing to apply without consent"));
    }
    assert!(!marker.exists(), "the hook did not run");
    assert!(world.journal().is_empty());

    let out = output(world.offline("apply").args(["--action", "nonesuch", "--yes"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no ranked action `nonesuch`"));
    assert!(!marker.exists());
}

#[test]
fn a_failing_hook_is_journaled_and_stops_the_rest_unless_keep_going() {
    let mut world = World::new();
    let marker = world.path("second-ran");
    let fail = world.script("fail.sh", "echo partial; echo 'boom: no such thing' >&2; exit 3");
    let touch = world.script("touch.sh", &format!("touch '{}'", marker.display()));
    world.bind("fail", &[&fail], 5000, toml::Table::new());
    world.bind("touch", &[&touch], 5000, toml::Table::new());
    world.propose("fail", &[]);
    world.propose("touch", &[]);

    let out = output(world.offline("apply").args(["--top", "2", "--yes", "--format", "json"]));
    assert_eq!(out.status.code(), Some(3));
    let report = json(&out);
    assert_eq!(report["results"][0]["apply"]["code"], 3);
    assert_eq!(report["not_run"], serde_json::json!([2]));
    assert!(!marker.exists(), "the second hook did not run");
    let journal = world.journal();
    assert_eq!(events(&journal), ["proposer.step-0 started apply", "proposer.step-0 finished apply"]);
    assert_eq!(journal[1]["code"], 3);
    assert_eq!(journal[1]["stdout"], "partial\n");
    assert_eq!(journal[1]["stderr"], "boom: no such thing\n");

    let out = output(world.offline("apply").args(["--top", "2", "--yes", "--keep-going"]));
    assert_eq!(out.status.code(), Some(3), "a failure still fails the apply");
    assert!(marker.exists(), "--keep-going ran the second hook");
    assert!(stdout(&out).contains("1. proposer.step-0 on step 0 (hook fail): exit 3"));
}

#[test]
fn a_hanging_hook_is_killed_with_its_children_at_its_timeout() {
    let mut world = World::new();
    let pids = world.path("pids");
    // The pids are written first thing, and the timeout leaves a loaded
    // machine seconds to get there: the test waits on the files, not a clock.
    let hang =
        world.script("hang.sh", &format!("sleep 120 & echo $! > '{0}.child'; echo $$ > '{0}'; wait", pids.display()));
    world.bind("hang", &[&hang], 3_000, toml::Table::new());
    world.propose("hang", &[]);
    let out = output(world.offline("apply").args(["--top", "1", "--yes"]));
    assert_eq!(out.status.code(), Some(3));
    let journal = world.journal();
    assert_eq!(journal[1]["status"], "timed-out");
    assert_eq!(journal[1]["timeout_ms"], 3_000);
    for file in [pids.clone(), pids.with_extension("child")] {
        let pid: u32 = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: the hook did not start within its 3 s: {e}", file.display()))
            .trim()
            .parse()
            .unwrap();
        eventually(&format!("process {pid} to die"), || process_is_gone(pid));
    }
    assert!(stdout(&out).contains("timed out after 3000 ms; process group killed"));
}

#[test]
fn a_second_apply_is_refused_while_one_holds_the_lock() {
    let mut world = World::new();
    let started = world.path("started");
    let release = world.path("release");
    let hold = world.script(
        "hold.sh",
        &format!(
            "touch '{}'; i=0; while [ ! -e '{}' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done",
            started.display(),
            release.display()
        ),
    );
    world.bind("hold", &[&hold], 10_000, toml::Table::new());
    world.propose("hold", &[]);
    let mut first = world.offline("apply").args(["--top", "1", "--yes"]).stdout(Stdio::null()).spawn().unwrap();
    eventually("the first apply to start its hook", || started.exists());
    let second = output(world.offline("apply").args(["--top", "1", "--yes"]));
    assert_eq!(second.status.code(), Some(2));
    assert!(stderr(&second).contains("another `perfsage apply` is running"), "{}", stderr(&second));
    std::fs::write(&release, b"").unwrap();
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert_eq!(world.journal().len(), 3, "only the first apply ran: started, finished, verified");
}

/// The pid written in `file`, once the file is complete (ends in a newline).
fn pid_in(file: &Path) -> u32 {
    let mut pid = None;
    eventually(&format!("{} to be written", file.display()), || {
        pid = std::fs::read_to_string(file).ok().filter(|t| t.ends_with('\n')).and_then(|t| t.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap()
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a process this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0, "kill {pid}");
}

/// A world whose hook starts a grandchild and waits; both write their pids.
/// The grandchild runs `on_term` (`{dir}`: the world's directory) when it gets
/// SIGTERM, then waits for `release` (bounded: 60 s) before it exits.
fn family_world(on_term: &str, stop_grace_ms: i64) -> World {
    let mut world = World::new();
    let dir = world.dir.path().display().to_string();
    let on_term = on_term.replace("{dir}", &dir);
    let hook = world.script(
        "family.sh",
        &format!(
            "sh -c 'trap \"{on_term}\" TERM; echo $$ > {dir}/child.pid; i=0; \
             while [ ! -e {dir}/release ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done' &\n\
             echo $$ > {dir}/hook.pid\nwait"
        ),
    );
    world.bind(
        "family",
        &[&hook],
        300_000,
        table(&[("stop_grace_ms", stop_grace_ms.into()), ("params", params("note = \"text\""))]),
    );
    world.propose("family", &[("note", "in flight")]);
    world
}

/// `perfsage journal --format json` parses (exit 0) and its records.
fn journal_json(world: &World) -> Vec<Value> {
    let mut command = perfsage(&world.path("cache"));
    let out = output(command.args(["journal", "--format", "json", "--state-dir"]).arg(world.state()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json(&out).as_array().expect("an array of records").clone()
}

#[test]
fn sigterm_mid_apply_ends_the_hooks_whole_group_and_no_second_apply_runs_beside_it() {
    let world = family_world("touch {dir}/got-term", 60_000);
    let mut first = world.offline("apply").args(["--top", "1", "--yes"]).stdout(Stdio::null()).spawn().unwrap();
    let hook = pid_in(&world.path("hook.pid"));
    let child = pid_in(&world.path("child.pid"));
    signal(first.id(), libc::SIGTERM);
    eventually("the forwarded SIGTERM to reach the grandchild", || world.path("got-term").exists());
    eventually("the hook itself to die of the forwarded SIGTERM", || process_is_gone(hook));
    assert!(!process_is_gone(child), "the grandchild is still in its grace period");

    // Meanwhile a second apply refuses, naming the process still holding the lock.
    let second = output(world.offline("apply").args(["--top", "1", "--yes"]));
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    let refused = stderr(&second);
    assert!(refused.contains("another `perfsage apply` is running"), "{refused}");
    assert!(refused.contains(&format!("pid {child} (sh)")), "{refused}");

    std::fs::write(world.path("release"), b"").unwrap();
    assert_eq!(first.wait().unwrap().code(), Some(3), "an interrupted apply exits 3");
    eventually("the grandchild to be gone", || process_is_gone(child));

    let journal = journal_json(&world);
    assert_eq!(events(&journal), ["proposer.step-0 started apply", "proposer.step-0 finished apply"]);
    let last = journal.last().unwrap();
    assert_eq!(last["status"], "interrupted");
    assert_eq!(last["signal"], libc::SIGTERM);
    assert_eq!(last["killed_after_grace"], false, "the group ended within its grace");
    assert_eq!(journal.iter().filter(|r| r["event"] == "started").count(), 1, "the second apply ran nothing");
}

#[test]
fn a_group_that_outlives_the_grace_is_killed() {
    // The grandchild ignores SIGTERM: only the SIGKILL after 300 ms ends it.
    let world = family_world("", 300);
    let mut apply = world.offline("apply").args(["--top", "1", "--yes"]).stdout(Stdio::null()).spawn().unwrap();
    let hook = pid_in(&world.path("hook.pid"));
    let child = pid_in(&world.path("child.pid"));
    signal(apply.id(), libc::SIGINT);
    assert_eq!(apply.wait().unwrap().code(), Some(3));
    for pid in [hook, child] {
        eventually(&format!("process {pid} to be gone"), || process_is_gone(pid));
    }
    assert!(!world.path("release").exists(), "nothing released it: it was killed");
    let journal = journal_json(&world);
    let last = journal.last().unwrap();
    assert_eq!((&last["event"], &last["status"]), (&"finished".into(), &"interrupted".into()));
    assert_eq!(last["signal"], libc::SIGINT);
    assert_eq!(last["killed_after_grace"], true);
}

#[test]
fn sigkill_mid_apply_leaves_started_last_and_the_orphaned_hook_keeps_the_lock() {
    let mut world = World::new();
    let pid_file = world.path("hook.pid");
    let release = world.path("release");
    let hook = world.script(
        "slow.sh",
        &format!("echo $$ > '{}'; [ -e '{}' ] || exec sleep 120", pid_file.display(), release.display()),
    );
    world.bind("slow", &[&hook], 300_000, table(&[("params", params("note = \"text\""))]));
    world.propose("slow", &[("note", "in flight")]);
    let mut apply = world.offline("apply").args(["--top", "1", "--yes"]).stdout(Stdio::null()).spawn().unwrap();
    let hook_pid = pid_in(&pid_file);
    apply.kill().unwrap(); // SIGKILL: perfsage cannot forward anything
    apply.wait().unwrap();
    assert!(!process_is_gone(hook_pid), "the hook is orphaned, still running");

    let journal = world.journal();
    assert_eq!(events(&journal), ["proposer.step-0 started apply"]);
    assert_eq!(journal[0]["params"]["note"], "in flight");
    let shown = world.show_journal();
    assert_eq!(shown.status.code(), Some(0));
    assert!(stdout(&shown).contains("apply started"));

    // The orphan inherited the lock: no second apply while it lives.
    let second = output(world.offline("apply").args(["--top", "1", "--yes"]));
    assert_eq!(second.status.code(), Some(2));
    let refused = stderr(&second);
    assert!(refused.contains(&format!("pid {hook_pid} (sleep)")) && refused.contains("which is gone"), "{refused}");
    assert_eq!(world.journal().len(), 1, "the refused apply journaled nothing");

    // SAFETY: kill(2) on the process group this test's apply started.
    unsafe { libc::kill(-(hook_pid as i32), libc::SIGKILL) };
    eventually("the orphan to die", || process_is_gone(hook_pid));
    std::fs::write(&release, b"").unwrap();
    let third = output(world.offline("apply").args(["--top", "1", "--yes"]));
    assert_eq!(third.status.code(), Some(0), "the lock went with its last holder: {}", stderr(&third));
}

/// A process with a distinctive name, reaped by a thread as soon as it dies.
struct Victim {
    pid: u32,
    name: String,
}

impl Victim {
    fn start(world: &World) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let serial = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("psv{}x{serial}", std::process::id() % 100_000);
        let binary = world.path(&name);
        std::fs::copy("/bin/sleep", &binary).unwrap();
        let mut child: Child = Command::new(&binary).arg("300").spawn().unwrap();
        let pid = child.id();
        std::thread::spawn(move || child.wait());
        Victim { pid, name }
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process this test started.
        unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
    }
}

fn verify_world(stop_body: &str, rollback_body: Option<&str>) -> (World, Victim) {
    let mut world = World::new();
    let victim = Victim::start(&world);
    let stop = world.script("stop.sh", stop_body);
    let mut extra = table(&[("params", params("pid = { type = \"integer\", min = 1, max = 4194304 }"))]);
    if let Some(body) = rollback_body {
        let rollback = world.script("rollback.sh", body);
        extra.insert("rollback".into(), toml::Value::Array(vec![rollback.into()]));
    }
    world.bind("stop-process", &[&stop], 10_000, extra);
    world.proposer.insert("process_name".into(), victim.name.clone().into());
    // Keep every process, so the small victim is in the snapshot.
    world.collect = table(&[("top_processes", 100_000.into()), ("window_ms", 100.into())]);
    (world, victim)
}

#[test]
fn verify_reports_cleared_when_the_fix_really_removes_the_finding() {
    let (world, victim) = verify_world("kill \"$PERFSAGE_PARAM_PID\"", Some("echo should not run > /dev/null"));
    let plan = json(&output(world.perfsage("plan").args(["--format", "json"])));
    assert_eq!(plan["steps"][0]["params"]["pid"], victim.pid.to_string(), "the live plan sees the victim");
    let out = output(world.perfsage("apply").args(["--action", "proposer.stop-process", "--yes", "--format", "json"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(process_is_gone(victim.pid));
    let report = json(&out);
    assert_eq!(report["results"][0]["verdict"], "cleared");
    assert!(report["results"][0].get("rollback").is_none());
    let journal = world.journal();
    assert_eq!(journal.last().unwrap()["verdict"], "cleared");
    assert!(journal.iter().all(|r| r["phase"] != "rollback"));
}

#[test]
fn verify_rolls_back_a_fix_that_does_not_clear_the_finding() {
    let (world, victim) =
        verify_world("echo pretending to fix", Some("echo rolled back > \"$(dirname \"$0\")/../rolled-back\""));
    let marker = world.path("rolled-back");
    let out = output(world.perfsage("apply").args(["--action", "proposer.stop-process", "--yes", "--format", "json"]));
    assert_eq!(out.status.code(), Some(3), "a fix that does not clear fails the apply");
    assert!(!process_is_gone(victim.pid), "the hook did nothing");
    let report = json(&out);
    assert_eq!(report["results"][0]["verdict"], "still-present");
    assert_eq!(report["results"][0]["rollback"]["code"], 0);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "rolled back\n");
    let journal = world.journal();
    assert_eq!(
        events(&journal),
        [
            "proposer.stop-process started apply",
            "proposer.stop-process finished apply",
            "proposer.stop-process verified",
            "proposer.stop-process started rollback",
            "proposer.stop-process finished rollback",
        ]
    );
    assert!(journal[2]["detail"].as_str().unwrap().contains("proposer/process still reports"));
}

/// Values a hostile plugin might pass, each with absolute paths to a victim
/// directory `x` (must survive) and a canary `y` (must never be created).
fn hostile_values(x: &Path, y: &Path) -> Vec<String> {
    let (x, y) = (x.display(), y.display());
    vec![
        format!("; rm -rf {x}"),
        format!("$(touch {y})"),
        format!("`touch {y}`"),
        format!("a\nb; touch {y}\n"),
        format!("' ; touch {y}; echo '"),
        format!("\" && touch {y} && \""),
        format!("x|touch {y}"),
        format!("$(touch {y})").repeat(4000 / (10 + y.to_string().len())),
        format!("-rf {x}"),
        "*".into(),
    ]
}

#[test]
fn hostile_parameter_values_arrive_as_data_and_never_run() {
    let mut world = World::new();
    // Room for the oversized value to leave the sandbox, so the planner is what refuses it.
    world.runtime = table(&[("max_string_bytes", 1_000_000.into())]);
    let x = world.path("x");
    std::fs::create_dir_all(&x).unwrap();
    std::fs::write(x.join("precious"), b"keep").unwrap();
    let y = world.path("y");
    let record = world.path("record");
    std::fs::create_dir_all(&record).unwrap();
    let recorder = world.script(
        "record.sh",
        &format!(
            "printf '%s' \"$PERFSAGE_PARAM_VALUE\" > '{}/'\"$PERFSAGE_PARAM_INDEX.$PERFSAGE_DRY_RUN\"",
            record.display()
        ),
    );
    let loose = "{ type = \"text\", max = 4096 }";
    world.bind(
        "record",
        &[&recorder],
        5000,
        table(&[
            ("dry_run", true.into()),
            ("params", params(&format!("value = {loose}\nindex = {{ type = \"integer\", min = 0, max = 99 }}"))),
        ]),
    );
    // The built-in hooks get the same values in every parameter, through a
    // deliberately loose pack (every parameter free text): the scripts refuse them.
    let keys = ["key", "value", "dir", "older_than_days", "pid", "nice", "file", "service", "workers"];
    let every_key = params(&keys.iter().map(|k| format!("{k} = {loose}\n")).collect::<String>());
    let sysroot = world.path("sys");
    std::fs::create_dir_all(sysroot.join("vm")).unwrap();
    std::fs::write(sysroot.join("vm/swappiness"), "60\n").unwrap();
    let sys_root = sysroot.display().to_string();
    let allowed = x.display().to_string();
    let precious = x.join("precious").display().to_string();
    for (name, script) in [
        ("sysctl-set", "sysctl-set.sh"),
        ("clean-old-files", "clean-old-files.sh"),
        ("renice-process", "renice-process.sh"),
        ("set-config-key", "set-config-key.sh"),
        ("set-workers", "set-workers.sh"),
    ] {
        let env = env_table(&[
            ("PERFSAGE_SYSCTL_ROOT", &sys_root),
            ("PERFSAGE_ALLOWED_ROOTS", &allowed),
            ("PERFSAGE_ALLOWED_FILES", &allowed),
            ("PERFSAGE_WORKERS_FILE", &precious),
        ]);
        world.bind(
            name,
            &[&builtin_hook(script)],
            5000,
            table(&[("dry_run", true.into()), ("env", env), ("params", every_key.clone())]),
        );
    }
    let values = hostile_values(&x, &y);
    for (index, value) in values.iter().enumerate() {
        world.propose("record", &[("value", value), ("index", &index.to_string())]);
    }
    for value in &values {
        for hook in ["sysctl-set", "clean-old-files", "renice-process", "set-config-key", "set-workers"] {
            let params: Vec<(&str, &str)> = keys.iter().map(|k| (*k, value.as_str())).collect();
            world.propose(hook, &params);
        }
    }
    // Hostile keys and an oversized value: manual steps, no command at all.
    world.propose("record", &[("value; touch y", "1")]);
    world.propose("record", &[("PATH=/tmp", "1")]);
    world.propose("record", &[("value", &format!("$(touch {})", y.display()).repeat(10_000))]);

    let plan = output(world.offline("plan").args(["--format", "json"]));
    assert_eq!(plan.status.code(), Some(0));
    let steps = json(&plan)["steps"].as_array().unwrap().clone();
    let manual: Vec<&str> =
        steps.iter().filter(|s| s["kind"] == "manual").map(|s| s["reason"].as_str().unwrap()).collect();
    // Values with control characters are not even text: the host refuses them for every hook.
    let controlled = values.iter().filter(|v| v.contains('\n')).count();
    assert_eq!(manual.len(), 3 + controlled * 6, "{manual:?}");
    let typed = manual.iter().filter(|r| r.contains("holds control characters")).count();
    assert_eq!(typed, controlled * 6, "{manual:?}");
    for reason in
        ["parameter key \"value; touch y\" is not", "parameter key \"PATH=/tmp\" is not", "over the 4096-byte limit"]
    {
        assert!(manual.iter().any(|r| r.contains(reason)), "{reason} in {manual:?}");
    }

    let out = output(world.offline("apply").args(["--top", "1000", "--yes", "--keep-going"]));
    assert_eq!(out.status.code(), Some(3), "the built-in hooks refuse these values");
    for (index, value) in values.iter().enumerate().filter(|(_, v)| !v.contains('\n')) {
        for dry_run in ["0", "1"] {
            let got = std::fs::read(record.join(format!("{index}.{dry_run}"))).unwrap();
            assert_eq!(got, value.as_bytes(), "value {index} arrived byte for byte (dry run {dry_run})");
        }
    }
    assert!(!y.exists(), "no injected command ran");
    assert_eq!(std::fs::read(x.join("precious")).unwrap(), b"keep", "nothing was removed");
    assert_eq!(std::fs::read_to_string(sysroot.join("vm/swappiness")).unwrap(), "60\n");
    let journal = world.journal();
    let refused =
        journal.iter().filter(|r| r["event"] == "finished" && r["hook"] != "record").filter(|r| r["code"] == 2).count();
    assert_eq!(refused, (values.len() - controlled) * 5, "every built-in hook refused every hostile value");
    assert!(journal.iter().all(|r| r["hook"] != "record" || r["event"] != "finished" || r["code"] == 0));
}

#[test]
fn clean_old_files_handles_hostile_and_non_utf8_file_names_in_its_root() {
    use std::os::unix::ffi::OsStrExt;
    let mut world = World::new();
    let root = world.path("root");
    std::fs::create_dir_all(&root).unwrap();
    let y = world.path("y");
    let names: Vec<&[u8]> =
        vec![b"plain.log", b"caf\xff\xfe.bin", b"$(touch y)", b"; rm -rf ..", b"line\nbreak", b"`touch y`", b"-rf"];
    for name in &names {
        write_old(&root.join(std::ffi::OsStr::from_bytes(name)), b"old", 40);
    }
    let clean = builtin_hook("clean-old-files.sh");
    let allowed = root.display().to_string();
    world.bind(
        "clean-old-files",
        &[&clean],
        30_000,
        table(&[
            ("dry_run", true.into()),
            ("env", env_table(&[("PERFSAGE_ALLOWED_ROOTS", &allowed), ("PERFSAGE_CLEAN_NOW", &clean_now())])),
            (
                "params",
                params(&format!(
                    "dir = {{ type = \"path\", roots = [\"{allowed}\"] }}\n\
                     older_than_days = {{ type = \"integer\", min = 1, max = 99999 }}"
                )),
            ),
        ]),
    );
    world.propose("clean-old-files", &[("dir", &allowed), ("older_than_days", "30")]);

    let plan = json(&output(world.offline("plan").args(["--format", "json"])));
    let listing = plan["steps"][0]["dry_run_output"]["stdout"].as_str().unwrap();
    assert!(
        listing.contains(&format!("would remove 7 files, 21 bytes, older than 30 days under {allowed}")),
        "{listing}"
    );
    assert!(listing.contains("line\\nbreak"), "odd names are listed escaped: {listing}");
    assert_eq!(tree(&root).len(), 7, "the dry run removed nothing");

    let out = output(world.offline("apply").args(["--top", "1", "--yes"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(tree(&root).is_empty(), "all seven removed");
    assert!(!y.exists() && !world.path("root/y").exists() && world.path("pack.toml").exists());
}

/// Run a built-in hook script directly, as perfsage would, for one phase.
fn run_hook(script: &str, phase: &str, dry_run: bool, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(builtin_hook(script));
    command
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("PERFSAGE_PHASE", phase)
        .env("PERFSAGE_DRY_RUN", if dry_run { "1" } else { "0" })
        .env("PERFSAGE_RUN", "test-run")
        .envs(env.iter().copied());
    output(&mut command)
}

#[test]
fn clean_old_files_judges_age_by_all_three_clocks_and_never_enters_systemd_private() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tmp");
    let private = root.join("systemd-private-0123abcd-nginx.service-XyZ/tmp");
    std::fs::create_dir_all(&private).unwrap();
    let day = Duration::from_secs(86_400);
    let now = SystemTime::now() + day * SHIFT_DAYS as u32;
    for name in ["old", "read-lately", "modified-lately"] {
        write_old(&root.join(name), b"x", 40);
    }
    set_times(&root.join("read-lately"), now - day * 40, now - day);
    set_times(&root.join("modified-lately"), now - day, now - day * 40);
    write_old(&private.join("stale.sock.log"), b"a service's private file", 40);
    let allowed = root.display().to_string();
    let shifted = clean_now();
    let env = [
        ("PERFSAGE_PARAM_DIR", allowed.as_str()),
        ("PERFSAGE_PARAM_OLDER_THAN_DAYS", "30"),
        ("PERFSAGE_ALLOWED_ROOTS", allowed.as_str()),
        ("PERFSAGE_CLEAN_NOW", shifted.as_str()),
    ];
    let dry = run_hook("clean-old-files.sh", "apply", true, &env);
    let listing = stdout(&dry);
    assert!(listing.contains("would remove 1 files, 1 bytes, older than 30 days"), "{listing}");
    assert!(!listing.contains("systemd-private"), "never entered: {listing}");
    let applied = run_hook("clean-old-files.sh", "apply", false, &env);
    assert!(applied.status.success(), "{}", stderr(&applied));
    assert!(!root.join("old").exists(), "old by all three clocks: removed");
    assert!(root.join("read-lately").exists(), "read a day ago: in use");
    assert!(root.join("modified-lately").exists());
    assert!(private.join("stale.sock.log").exists(), "systemd-private-* is never entered");

    // A root inside a service's private /tmp is refused outright.
    let inside = private.display().to_string();
    let refused =
        run_hook("clean-old-files.sh", "apply", false, &[("PERFSAGE_PARAM_DIR", &inside), env[1], env[2], env[3]]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stdout(&refused).contains("inside a systemd-private-* directory"), "{}", stdout(&refused));
    assert!(private.join("stale.sock.log").exists());

    // On the real clock: modified and read 40 days ago, but changed (ctime) just now: kept.
    let changed = root.join("changed-lately");
    std::fs::write(&changed, b"y").unwrap();
    let long_ago = SystemTime::now() - day * 40;
    set_times(&changed, long_ago, long_ago);
    let real_clock = [env[0], env[1], env[2]];
    assert!(stdout(&run_hook("clean-old-files.sh", "apply", true, &real_clock)).contains("would remove 0 files"));
    assert!(run_hook("clean-old-files.sh", "apply", false, &real_clock).status.success());
    assert!(changed.exists(), "a recent change time keeps it");
}

/// The pack binding of the built-in set-config-key hook to `config`, with `verify` as its verify command.
fn bind_set_config_key(world: &mut World, config: &Path, verify: &str) {
    let set = builtin_hook("set-config-key.sh");
    let file = config.display().to_string();
    world.hooks.clear();
    world.bind(
        "set-config-key",
        &[&set],
        10_000,
        table(&[
            ("verify", toml::Value::Array(vec![verify.into()])),
            ("rollback", toml::Value::Array(vec![set.clone().into()])),
            ("env", env_table(&[("PERFSAGE_ALLOWED_FILES", &file)])),
            (
                "params",
                params(&format!(
                    "file = {{ type = \"path\", roots = [\"{file}\"] }}\n\
                     key = {{ type = \"key\", allow = [\"a\", \"b\"] }}\n\
                     value = {{ type = \"integer\", min = 0, max = 100 }}"
                )),
            ),
        ]),
    );
}

#[test]
fn rolling_back_a_later_apply_keeps_the_operators_edit_and_the_earlier_apply() {
    use std::os::unix::fs::PermissionsExt;
    let mut world = World::new();
    let config = world.path("app.conf");
    std::fs::write(&config, "# app\nworkers = 4\n").unwrap();
    let file = config.display().to_string();

    // Run 1: a = 2, verified by the script itself.
    bind_set_config_key(&mut world, &config, &builtin_hook("set-config-key.sh"));
    world.propose("set-config-key", &[("file", &file), ("key", "a"), ("value", "2")]);
    let out = output(world.offline("apply").args(["--top", "1", "--yes"]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "# app\nworkers = 4\na = 2\n");

    // The operator edits the file by hand.
    std::fs::write(&config, "# app\nworkers = 8 # by hand, after a load test\na = 2\n").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = std::fs::read(&config).unwrap();

    // Run 2: b = 5, whose verification fails, so it is rolled back.
    let never = world.script("never.sh", "echo 'not good enough' >&2; exit 1");
    bind_set_config_key(&mut world, &config, &never);
    world.actions.clear();
    world.propose("set-config-key", &[("file", &file), ("key", "b"), ("value", "5")]);
    let out = output(world.offline("apply").args(["--top", "1", "--yes", "--format", "json"]));
    assert_eq!(out.status.code(), Some(3));
    let result = &json(&out)["results"][0];
    assert_eq!(result["verdict"], "verify-failed");
    assert_eq!(result["rollback"]["code"], 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(&config).unwrap(), before, "byte for byte as before run 2: the hand edit and a = 2 stay");
    assert_eq!(std::fs::metadata(&config).unwrap().permissions().mode() & 0o777, 0o640);
    let leftovers: Vec<_> = std::fs::read_dir(world.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".perfsage."))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left beside the config: {leftovers:?}");
}

#[test]
fn a_rollback_refuses_to_overwrite_a_change_made_after_its_run() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("my.cnf");
    std::fs::write(&conf, "[mysqld]\nmax_connections = 100\n").unwrap();
    let state = dir.path().join("state");
    let path = conf.display().to_string();
    let state_dir = state.display().to_string();
    let env = [
        ("PERFSAGE_ALLOWED_FILES", path.as_str()),
        ("PERFSAGE_STATE_DIR", state_dir.as_str()),
        ("PERFSAGE_RUN", "2026-12-01T08:00:00Z-41"),
        ("PERFSAGE_PARAM_FILE", path.as_str()),
        ("PERFSAGE_PARAM_KEY", "max_connections"),
        ("PERFSAGE_PARAM_VALUE", "300"),
    ];
    assert!(run_hook("set-config-key.sh", "apply", false, &env).status.success());
    let edited = "[mysqld]\nmax_connections = 300\ninnodb_buffer_pool_size = 4G # by hand\n";
    std::fs::write(&conf, edited).unwrap();
    let refused = run_hook("set-config-key.sh", "rollback", false, &env);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("changed after run 2026-12-01T08:00:00Z-41"), "{}", stderr(&refused));
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), edited, "the later edit is kept");
    let other_run = [env[0], env[1], ("PERFSAGE_RUN", "2026-12-01T09:00:00Z-42"), env[3], env[4], env[5]];
    let refused = run_hook("set-config-key.sh", "rollback", false, &other_run);
    assert_eq!(refused.status.code(), Some(2), "another run has no backup of its own to restore");

    // sysctl-set: the same promise for a kernel parameter.
    let root = dir.path().join("sys");
    std::fs::create_dir_all(root.join("vm")).unwrap();
    std::fs::write(root.join("vm/swappiness"), "60\n").unwrap();
    let sys_root = root.display().to_string();
    let sysctl = [
        ("PERFSAGE_SYSCTL_ROOT", sys_root.as_str()),
        ("PERFSAGE_STATE_DIR", state_dir.as_str()),
        ("PERFSAGE_RUN", "r1"),
        ("PERFSAGE_PARAM_KEY", "vm.swappiness"),
        ("PERFSAGE_PARAM_VALUE", "10"),
    ];
    assert!(run_hook("sysctl-set.sh", "apply", false, &sysctl).status.success());
    std::fs::write(root.join("vm/swappiness"), "30\n").unwrap();
    let refused = run_hook("sysctl-set.sh", "rollback", false, &sysctl);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("not the '10' run r1 set"), "{}", stderr(&refused));
    assert_eq!(std::fs::read_to_string(root.join("vm/swappiness")).unwrap(), "30\n");
    std::fs::write(root.join("vm/swappiness"), "10\n").unwrap();
    assert!(run_hook("sysctl-set.sh", "rollback", false, &sysctl).status.success());
    assert_eq!(std::fs::read_to_string(root.join("vm/swappiness")).unwrap(), "60\n");
}

#[test]
fn sysctl_set_remembers_the_old_value_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sys");
    std::fs::create_dir_all(root.join("net/core")).unwrap();
    let file = root.join("net/core/somaxconn");
    std::fs::write(&file, "4096\n").unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let env = [
        ("PERFSAGE_SYSCTL_ROOT", root.to_str().unwrap()),
        ("PERFSAGE_STATE_DIR", state.to_str().unwrap()),
        ("PERFSAGE_PARAM_KEY", "net.core.somaxconn"),
        ("PERFSAGE_PARAM_VALUE", "8192"),
    ];
    let dry = run_hook("sysctl-set.sh", "apply", true, &env);
    assert!(stdout(&dry).contains("would set net.core.somaxconn: 4096 -> 8192"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "4096\n");
    assert_eq!(run_hook("sysctl-set.sh", "verify", false, &env).status.code(), Some(2), "not yet set");
    assert!(run_hook("sysctl-set.sh", "apply", false, &env).status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "8192\n");
    assert!(run_hook("sysctl-set.sh", "verify", false, &env).status.success());
    let undo = run_hook("sysctl-set.sh", "rollback", false, &env);
    assert!(stdout(&undo).contains("restored net.core.somaxconn: 8192 -> 4096"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "4096\n");
    let missing = [("PERFSAGE_PARAM_KEY", "vm.nonesuch"), env[0], env[1], env[3]];
    assert!(stderr(&run_hook("sysctl-set.sh", "apply", true, &missing)).contains("no such kernel parameter"));
}

#[test]
fn set_config_key_backs_up_and_rolls_back_and_refuses_unlisted_files() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("postgresql.conf");
    let original = "#max_connections = 50\nmax_connections=100 # default\nwork_mem = 4MB\n";
    std::fs::write(&conf, original).unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let value = "200";
    let env = [
        ("PERFSAGE_ALLOWED_FILES", conf.to_str().unwrap()),
        ("PERFSAGE_STATE_DIR", state.to_str().unwrap()),
        ("PERFSAGE_PARAM_FILE", conf.to_str().unwrap()),
        ("PERFSAGE_PARAM_KEY", "max_connections"),
        ("PERFSAGE_PARAM_VALUE", value),
    ];
    assert!(run_hook("set-config-key.sh", "apply", false, &env).status.success());
    let expected = format!("#max_connections = 50\nmax_connections = {value}\nwork_mem = 4MB\n");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), expected, "the value is written verbatim");
    assert!(run_hook("set-config-key.sh", "verify", false, &env).status.success());
    assert!(run_hook("set-config-key.sh", "rollback", false, &env).status.success());
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), original);

    let other = dir.path().join("other.conf");
    std::fs::write(&other, "a = 1\n").unwrap();
    let unlisted = [env[0], env[1], ("PERFSAGE_PARAM_FILE", other.to_str().unwrap()), env[3], env[4]];
    let refused = run_hook("set-config-key.sh", "apply", false, &unlisted);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("is not in this hook's allowed files"));
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "a = 1\n");

    // A value a shell or the file's reader could interpret is refused, the file untouched.
    for hostile in ["200 $(touch y)", "`id`", "a;b", "'x'", "\"x\"", "--", "*", "a\\!b"] {
        let with = [env[0], env[1], env[2], env[3], ("PERFSAGE_PARAM_VALUE", hostile)];
        let refused = run_hook("set-config-key.sh", "apply", false, &with);
        assert_eq!(refused.status.code(), Some(2), "{hostile}");
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), original);
    }
}

#[test]
fn renice_process_restores_the_old_niceness_on_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = sleeper.id().to_string();
    let nice = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        stat.rsplit_once(") ").unwrap().1.split(' ').nth(16).unwrap().to_string()
    };
    let state = dir.path().to_str().unwrap();
    let env = [("PERFSAGE_STATE_DIR", state), ("PERFSAGE_PARAM_PID", pid.as_str()), ("PERFSAGE_PARAM_NICE", "7")];
    let before = nice();
    assert!(stdout(&run_hook("renice-process.sh", "apply", true, &env)).contains(&format!("from {before} to 7")));
    assert_eq!(nice(), before);
    assert!(run_hook("renice-process.sh", "apply", false, &env).status.success());
    assert_eq!(nice(), "7");
    assert!(run_hook("renice-process.sh", "verify", false, &env).status.success());
    assert!(run_hook("renice-process.sh", "rollback", false, &env).status.success());
    assert_eq!(nice(), before);
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

#[test]
fn the_default_pack_binds_every_hook_the_builtin_plugins_name() {
    let cache = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    for (fixture_name, hook) in [
        ("rules/snapshots/disk-filling.json", "clean-old-files"),
        ("rules/snapshots/memory-swap-parked.json", "sysctl-set"),
        ("rules/snapshots/network-errors.json", "sysctl-set"),
        ("rules/snapshots/cpu-saturated.json", "renice-process"),
        ("rules/snapshots/endpoints-crm.json", "set-workers"),
        ("rules/snapshots/endpoints-crm.json", "nginx-upstream-keepalive"),
    ] {
        let out = output(
            perfsage(cache.path())
                .args(["plan", "--format", "json", "--state-dir"])
                .arg(state.path())
                .arg("--snapshot")
                .arg(fixture(fixture_name)),
        );
        assert_eq!(out.status.code(), Some(0));
        let plan = json(&out);
        let step = plan["steps"].as_array().unwrap().iter().find(|s| s["hook"] == hook).expect(hook).clone();
        assert_eq!(step["kind"], "hook", "{fixture_name}: {hook} is bound");
        let program = step["apply"]["argv"][0].as_str().unwrap();
        assert!(program.starts_with(&state.path().join("builtin-rules").display().to_string()), "{program}");
        assert!(step["dry_run_output"].is_object(), "{hook} was called in dry-run mode");
    }
}

#[test]
fn a_failing_verify_command_triggers_the_rollback() {
    let mut world = World::new();
    let fix = world.script("fix.sh", "echo fixed");
    let check = world.script("check.sh", "echo 'still wrong' >&2; exit 1");
    let undo = world.script("undo.sh", "echo undone > \"$(dirname \"$0\")/../undone\"");
    let extra = table(&[
        ("verify", toml::Value::Array(vec![check.into()])),
        ("rollback", toml::Value::Array(vec![undo.into()])),
    ]);
    world.bind("fix", &[&fix], 5000, extra);
    world.propose("fix", &[]);
    let out = output(world.offline("apply").args(["--top", "1", "--yes", "--format", "json"]));
    assert_eq!(out.status.code(), Some(3));
    let result = &json(&out)["results"][0];
    assert_eq!(result["verdict"], "verify-failed");
    assert!(result["detail"].as_str().unwrap().contains("still wrong"));
    assert_eq!(std::fs::read_to_string(world.path("undone")).unwrap(), "undone\n");
    let phases: Vec<String> = events(&world.journal());
    assert_eq!(
        phases,
        [
            "proposer.step-0 started apply",
            "proposer.step-0 finished apply",
            "proposer.step-0 started verify",
            "proposer.step-0 finished verify",
            "proposer.step-0 verified",
            "proposer.step-0 started rollback",
            "proposer.step-0 finished rollback",
        ]
    );
}

#[test]
fn an_unwritable_journal_stops_apply_before_any_hook_runs() {
    let mut world = World::new();
    let marker = world.path("ran");
    let hook = world.script("touch.sh", &format!("touch '{}'", marker.display()));
    world.bind("touch", &[&hook], 5000, toml::Table::new());
    world.propose("touch", &[]);
    std::fs::create_dir_all(world.state().join("journal.jsonl")).unwrap();
    let out = output(world.offline("apply").args(["--top", "1", "--yes"]));
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("cannot open the journal"), "{}", stderr(&out));
    assert!(!marker.exists(), "nothing runs unless it can be journaled");
}

#[test]
fn a_torn_journal_line_is_ended_before_the_next_apply_and_skipped_when_read() {
    let mut world = World::new();
    let hook = world.script("ok.sh", "true");
    world.bind("ok", &[&hook], 5000, toml::Table::new());
    world.propose("ok", &[]);
    assert_eq!(output(world.offline("apply").args(["--top", "1", "--yes"])).status.code(), Some(0));
    let path = world.state().join("journal.jsonl");
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut file, b"{\"at\":\"2026-").unwrap();
    let shown = world.show_journal();
    assert_eq!(shown.status.code(), Some(0), "reported, never fatal");
    assert!(stderr(&shown).contains("journal line 4 is unreadable"), "{}", stderr(&shown));
    assert!(stdout(&shown).contains("apply finished"));

    let again = output(world.offline("apply").args(["--top", "1", "--yes"]));
    assert_eq!(again.status.code(), Some(0));
    assert!(stderr(&again).contains("the journal's last line was torn"), "{}", stderr(&again));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert_eq!(lines[3], "{\"at\":\"2026-", "the fragment stays, alone on its line");
    let records = journal_json(&world);
    assert_eq!(records.len(), 6, "three records per apply, the new ones whole");
    assert_ne!(records[3]["run"], records[0]["run"]);
    assert_eq!(
        events(&records[3..]),
        ["proposer.step-0 started apply", "proposer.step-0 finished apply", "proposer.step-0 verified"]
    );
    let shown = world.show_journal();
    assert!(stderr(&shown).contains("journal line 4 is unreadable") && !stderr(&shown).contains("line 5"));
}

#[test]
fn bad_hook_bindings_are_rule_pack_errors() {
    let cases: [(&str, toml::Table, &str); 6] = [
        ("x", table(&[("command", toml::Value::Array(vec![]))]), "hooks.x.command must name a program"),
        ("x", table(&[("command", toml::Value::Array(vec!["a".into()])), ("timeout_ms", 0.into())]), "timeout_ms"),
        (
            "x",
            table(&[
                ("command", toml::Value::Array(vec!["a".into()])),
                ("env", env_table(&[("PERFSAGE_PARAM_DIR", "/")])),
            ]),
            "`PERFSAGE_PARAM_DIR` is not allowed",
        ),
        (
            "x",
            table(&[("command", toml::Value::Array(vec!["a".into()])), ("shell", true.into())]),
            "unknown field `shell`",
        ),
        (
            "renice",
            table(&[("command", toml::Value::Array(vec!["a".into()])), ("params", params("pid = \"int\""))]),
            "hooks.renice.params.pid: unknown type `int`",
        ),
        (
            "sysctl",
            table(&[
                ("command", toml::Value::Array(vec!["a".into()])),
                ("params", params("key = { type = \"key\", allow = [\"vm.swappiness\", \"a;b\"] }")),
            ]),
            "hooks.sysctl.params.key: `allow` entry \"a;b\" is not a key",
        ),
    ];
    for (name, binding, message) in cases {
        let mut world = World::new();
        world.hooks.insert(name.into(), binding.into());
        let out = output(&mut world.offline("plan"));
        assert_eq!(out.status.code(), Some(2), "{message}");
        assert!(stderr(&out).contains(message), "expected {message:?} in {}", stderr(&out));
    }
}

/// Run `command` on a pseudo-terminal (util-linux `script`), typing `answer`.
fn on_a_terminal(command: &Command, answer: &str) -> std::process::Output {
    use std::io::Write;
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_str().unwrap().replace('\'', r"'\''"));
    let line: Vec<String> = std::iter::once(command.get_program()).chain(command.get_args()).map(quote).collect();
    let mut script = Command::new("script");
    script.args(["-qec", &line.join(" "), "/dev/null"]).stdin(Stdio::piped()).stdout(Stdio::piped());
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            script.env(key, value);
        }
    }
    let mut child = script.spawn().unwrap();
    child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    eprintln!("--- terminal\n{}", String::from_utf8_lossy(&out.stdout));
    out
}

#[test]
fn on_a_terminal_apply_asks_and_runs_only_after_yes() {
    let mut world = World::new();
    let marker = world.path("ran");
    let hook = world.script("touch.sh", &format!("touch '{}'", marker.display()));
    world.bind("touch", &[&hook], 5000, toml::Table::new());
    world.propose("touch", &[]);

    let refused = on_a_terminal(world.offline("apply").args(["--top", "1"]), "n\n");
    assert_eq!(refused.status.code(), Some(2));
    let screen = String::from_utf8_lossy(&refused.stdout).into_owned();
    assert!(screen.contains("Apply these 1 actions? [y/N]"), "{screen}");
    assert!(screen.contains(&world.path("hooks/touch.sh").display().to_string()), "the prompt shows the argv");
    assert!(!marker.exists() && world.journal().is_empty());

    let accepted = on_a_terminal(world.offline("apply").args(["--top", "1"]), "y\n");
    assert_eq!(accepted.status.code(), Some(0));
    assert!(marker.exists());
}

#[test]
fn set_workers_edits_the_packs_file_within_its_cap_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("www.conf");
    let original = "[www]\npm = dynamic\npm.max_children = 5\npm.start_servers = 2\n";
    std::fs::write(&pool, original).unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let env = [
        ("PERFSAGE_STATE_DIR", state.to_str().unwrap()),
        ("PERFSAGE_WORKERS_FILE", pool.to_str().unwrap()),
        ("PERFSAGE_WORKERS_MAX", "48"),
        ("PERFSAGE_WORKERS_SERVICE", "web"),
        ("PERFSAGE_PARAM_SERVICE", "web"),
        ("PERFSAGE_PARAM_WORKERS", "12"),
    ];
    let dry = run_hook("set-workers.sh", "apply", true, &env);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let diff = stdout(&dry);
    assert!(diff.contains("-pm.max_children = 5") && diff.contains("+pm.max_children = 12"), "{diff}");
    assert_eq!(std::fs::read_to_string(&pool).unwrap(), original, "a dry run changes nothing");
    assert_eq!(run_hook("set-workers.sh", "verify", false, &env).status.code(), Some(2), "not yet set");
    assert!(run_hook("set-workers.sh", "apply", false, &env).status.success());
    assert_eq!(
        std::fs::read_to_string(&pool).unwrap(),
        "[www]\npm = dynamic\npm.max_children = 12\npm.start_servers = 2\n"
    );
    assert!(run_hook("set-workers.sh", "verify", false, &env).status.success());
    assert!(run_hook("set-workers.sh", "rollback", false, &env).status.success());
    assert_eq!(std::fs::read_to_string(&pool).unwrap(), original);

    // Refused, file untouched: over the cap, another service, not a number, no file in the pack.
    let with = |key: &'static str, value: &'static str| {
        let mut changed: Vec<(&str, &str)> = env.iter().copied().filter(|(k, _)| *k != key).collect();
        changed.push((key, value));
        changed
    };
    for (env, reason) in [
        (with("PERFSAGE_PARAM_WORKERS", "49"), "over the cap of 48"),
        (with("PERFSAGE_PARAM_WORKERS", "99999999999999999999"), "over the cap of 48"),
        (with("PERFSAGE_PARAM_SERVICE", "api"), "set up for service 'web'"),
        (with("PERFSAGE_PARAM_WORKERS", "12; touch y"), "a positive whole number"),
        (with("PERFSAGE_PARAM_WORKERS", "12.5"), "a positive whole number"),
        (with("PERFSAGE_WORKERS_FILE", ""), "no workers file configured"),
    ] {
        let refused = run_hook("set-workers.sh", "apply", false, &env);
        assert_eq!(refused.status.code(), Some(2), "{env:?}");
        assert!(stderr(&refused).contains(reason), "{}", stderr(&refused));
        assert_eq!(std::fs::read_to_string(&pool).unwrap(), original);
    }
    assert!(!dir.path().join("y").exists());
}

/// A keep-alive HTTP backend on 127.0.0.1 that counts the connections it accepts (bounded: 500).
fn counting_backend() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(500) {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        if stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n").is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (port, accepted)
}

/// One `GET path` to nginx on its own connection; the status line.
fn get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or_default().to_string()
}

/// nginx (master and one worker) on a config of its own; stopped with SIGTERM by PID when dropped.
struct RunningNginx(Child);

impl Drop for RunningNginx {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

#[test]
fn nginx_upstream_keepalive_edits_checks_reloads_and_rolls_back_a_real_nginx() {
    let mut world = World::new();
    let root = world.dir.path().to_path_buf();
    let (backend, accepted) = counting_backend();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = world.path("nginx.conf");
    let original = format!(
        r#"daemon off;
worker_processes 1;
error_log {root}/error.log;
pid {root}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream app {{
        server 127.0.0.1:{backend}; # the application
    }}
    server {{
        listen 127.0.0.1:{port};
        location = /health {{ return 200 "ok {{}}"; }}
        location /api/ {{
            proxy_pass http://app;
        }}
        location /other/ {{
            proxy_set_header X-Real-IP $remote_addr;
            proxy_pass http://app/other/;
            proxy_http_version 1.0;
        }}
    }}
}}
"#,
        root = root.display()
    );
    std::fs::write(&conf, &original).unwrap();
    let nginx = Command::new("nginx")
        .arg("-p")
        .arg(&root)
        .arg("-e")
        .arg(root.join("error.log"))
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .spawn()
        .expect("nginx is installed (.ci/run installs it)");
    let _nginx = RunningNginx(nginx);
    eventually("nginx listens", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    // One upstream connection per request over 4 requests, or (kept alive) at most one.
    let connections_for_four = || {
        let before = accepted.load(std::sync::atomic::Ordering::SeqCst);
        for path in ["/api/a", "/other/b", "/api/c", "/other/d"] {
            assert_eq!(get(port, path), "HTTP/1.1 200 OK");
        }
        accepted.load(std::sync::atomic::Ordering::SeqCst) - before
    };
    assert_eq!(connections_for_four(), 4, "without keepalive nginx opens one upstream connection per request");

    // Through a rule pack: plan shows the diff and changes nothing.
    let file = conf.display().to_string();
    let prefix = root.display().to_string();
    let hook = builtin_hook("nginx-upstream-keepalive.sh");
    let env = [
        ("PERFSAGE_NGINX_FILE", file.as_str()),
        ("PERFSAGE_NGINX_UPSTREAM", "app"),
        ("PERFSAGE_NGINX_PREFIX", prefix.as_str()),
        ("PERFSAGE_NGINX_RELOAD", "1"),
    ];
    let all = toml::Value::Array(vec![hook.clone().into()]);
    world.bind(
        "nginx-upstream-keepalive",
        &[&hook],
        30_000,
        table(&[
            ("dry_run", true.into()),
            ("verify", all.clone()),
            ("rollback", all),
            ("env", env_table(&env)),
            ("params", params("route = \"route\"")),
        ]),
    );
    let route = "GET /api/:id";
    world.propose("nginx-upstream-keepalive", &[("route", route)]);
    let plan = output(world.offline("plan").args(["--format", "json"]));
    assert_eq!(plan.status.code(), Some(0));
    let step = json(&plan)["steps"][0].clone();
    assert_eq!(step["kind"], "hook");
    let diff = step["dry_run_output"]["stdout"].as_str().unwrap().to_string();
    assert!(diff.contains(route), "the route is reported verbatim: {diff}");
    for line in [
        "+        keepalive 32;",
        "+            proxy_http_version 1.1;",
        "+            proxy_set_header Connection \"\";",
        "-            proxy_http_version 1.0;",
        "and reload nginx",
    ] {
        assert!(diff.contains(line), "{line:?} in {diff}");
    }
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), original, "a plan changes nothing");

    // Apply: edited, `nginx -t`, reloaded, verified; nginx now reuses the upstream connection.
    let out = output(world.offline("apply").args(["--action", "proposer.step-0", "--yes"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let edited = std::fs::read_to_string(&conf).unwrap();
    assert!(edited.contains("        server 127.0.0.1:"), "{edited}");
    assert!(edited.contains("\n        keepalive 32;\n    }\n"), "{edited}");
    assert!(edited.contains("proxy_pass http://app;\n            proxy_http_version 1.1;\n            proxy_set_header Connection \"\";\n"), "{edited}");
    assert!(edited.contains("proxy_set_header X-Real-IP $remote_addr;"), "{edited}");
    let journal = world.journal();
    assert!(events(&journal).contains(&"proposer.step-0 finished verify".to_string()), "{journal:?}");
    assert!(journal.iter().any(|r| r["stdout"].as_str().is_some_and(|s| s.contains("reloaded nginx"))));
    eventually("nginx keeps upstream connections open after the reload", || connections_for_four() <= 1);
    assert!(!world.path("y").exists() && !std::path::Path::new("y").exists(), "the route never ran");

    // Rollback (as perfsage runs it when verification fails): the old file, reloaded.
    let state = world.path("hook-state");
    std::fs::create_dir_all(&state).unwrap();
    let direct: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .chain([("PERFSAGE_STATE_DIR", state.to_str().unwrap()), ("PERFSAGE_PARAM_ROUTE", "GET /api")])
        .collect();
    std::fs::write(&conf, &original).unwrap();
    assert!(run_hook("nginx-upstream-keepalive.sh", "apply", false, &direct).status.success());
    assert!(run_hook("nginx-upstream-keepalive.sh", "verify", false, &direct).status.success());
    let undo = run_hook("nginx-upstream-keepalive.sh", "rollback", false, &direct);
    assert!(undo.status.success(), "{}", stderr(&undo));
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), original);
    eventually("one upstream connection per request again", || connections_for_four() == 4);

    // A change nginx rejects is undone: here the main config it checks is broken.
    let broken = world.path("broken.conf");
    std::fs::write(&broken, original.replace("worker_processes 1;", "worker_processes 1;\nbogus_directive on;"))
        .unwrap();
    let with_broken: Vec<(&str, &str)> =
        direct.iter().copied().chain([("PERFSAGE_NGINX_CONF", broken.to_str().unwrap())]).collect();
    let rejected = run_hook("nginx-upstream-keepalive.sh", "apply", false, &with_broken);
    assert_eq!(rejected.status.code(), Some(2));
    assert!(stderr(&rejected).contains("nginx rejected the change"), "{}", stderr(&rejected));
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), original, "restored");
    assert!(tree(&state).is_empty(), "no stale backup left");

    // Edits that would not be exact are refused before anything changes.
    for (text, reason) in [
        (original.replace("http {\n", "http {\n    proxy_set_header Host $host;\n"), "inherits those of \"http\""),
        (original.replace("upstream app {", "upstream other {"), "no upstream app block"),
        (
            original
                .replace("proxy_pass http://app;", "proxy_pass http://appx;")
                .replace("proxy_pass http://app/other/;", "return 204;"),
            "no location proxies to http://app",
        ),
        (
            original.replace(
                "location /api/ {\n            proxy_pass http://app;\n        }",
                "location /api/ { proxy_pass http://app; }",
            ),
            "on one line",
        ),
    ] {
        std::fs::write(&conf, &text).unwrap();
        let refused = run_hook("nginx-upstream-keepalive.sh", "apply", false, &direct);
        assert_eq!(refused.status.code(), Some(2), "{reason}");
        assert!(stderr(&refused).contains(reason), "{reason}: {}", stderr(&refused));
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), text, "{reason}: unchanged");
    }
}
