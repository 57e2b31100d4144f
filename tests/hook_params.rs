//! Hook parameters under attack: the typed declarations of the default pack
//! refuse every injection payload before any hook runs, the built-in scripts
//! refuse the same payloads when called directly, and plugin text that would
//! rewrite a terminal is shown escaped.
//!
//! Data-driven: every payload of `crate::support::payloads` × every built-in hook ×
//! every parameter, the other parameters holding values the hook accepts.
//! (The index hooks against the real databases are in `tests/db_index.rs`,
//! which runs under the database lock.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use crate::support::payloads::payloads;
use crate::support::*;

/// Each built-in hook with parameters it accepts (set-config-key allows no key
/// in the default pack, so it is refused whatever its values).
const VALID: &[(&str, &[(&str, &str)])] = &[
    ("sysctl-set", &[("key", "vm.swappiness"), ("value", "10")]),
    ("renice-process", &[("pid", "1"), ("nice", "10")]),
    ("clean-old-files", &[("dir", "/var/tmp"), ("older_than_days", "14")]),
    ("set-config-key", &[("file", "/etc/perfsage-test.conf"), ("key", "max_connections"), ("value", "500")]),
    ("set-workers", &[("service", "web"), ("workers", "12")]),
    ("nginx-upstream-keepalive", &[("route", "GET /api/contacts/:id")]),
    (
        "pg-create-index",
        &[("database", "crm"), ("table", "public.contacts"), ("columns", "email"), ("index", "contacts_email_idx")],
    ),
    (
        "mysql-create-index",
        &[("database", "crm"), ("table", "contacts"), ("columns", "account_id,email"), ("index", "contacts_email_idx")],
    ),
];

/// `params` with `key` set to `value`.
fn with(params: &[(&str, &str)], key: &str, value: &str) -> Vec<(String, String)> {
    params.iter().map(|(k, v)| (k.to_string(), if *k == key { value.to_string() } else { v.to_string() })).collect()
}

/// A pack in `dir`: the default pack's `[hooks]` (its scripts copied beside it),
/// and the proposer proposing `actions` in order, with `title` if given.
fn write_pack(dir: &Path, actions: &[(String, Vec<(String, String)>)], title: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let hooks_dir = dir.join("hooks");
    std::fs::create_dir_all(&hooks_dir).unwrap();
    for entry in std::fs::read_dir(repo_root().join("rules/hooks")).unwrap() {
        let entry = entry.unwrap();
        let copy = hooks_dir.join(entry.file_name());
        std::fs::copy(entry.path(), &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let default: toml::Table =
        toml::from_str(&std::fs::read_to_string(repo_root().join("rules/default.toml")).unwrap()).unwrap();
    let spec: Vec<String> = actions
        .iter()
        .map(|(hook, params)| {
            let mut record = hook.clone();
            for (k, v) in params {
                record.push_str(&format!("\u{1e}{k}\u{1f}{v}"));
            }
            record
        })
        .collect();
    let mut proposer = toml::Table::new();
    proposer.insert("actions".into(), spec.join("\u{1d}").into());
    proposer.insert("title".into(), title.into());
    let mut pack = toml::Table::new();
    pack.insert("hooks".into(), default["hooks"].clone());
    let mut runtime = toml::Table::new();
    runtime.insert("max_findings".into(), 10_000.into());
    runtime.insert("max_string_bytes".into(), 1_000_000.into());
    runtime.insert("deadline_ms".into(), 10_000.into());
    pack.insert("runtime".into(), runtime.into());
    let mut collect = toml::Table::new();
    collect.insert("window_ms".into(), 100.into());
    pack.insert("collect".into(), collect.into());
    let mut plugins = toml::Table::new();
    plugins.insert("proposer".into(), toml::Value::Table(toml::Table::from_iter([("params".into(), proposer.into())])));
    pack.insert("plugins".into(), plugins.into());
    let path = dir.join("pack.toml");
    std::fs::write(&path, toml::to_string(&pack).unwrap()).unwrap();
    path
}

/// `perfsage COMMAND` with the pack in `dir`, the proposer alone, and `dir/state`.
fn perfsage_in(dir: &Path, command: &str) -> Command {
    let mut cmd = perfsage(&dir.join("cache"));
    cmd.arg(command)
        .arg("--no-builtin")
        .arg("--plugin")
        .arg(test_plugin("proposer"))
        .arg("--config")
        .arg(dir.join("pack.toml"))
        .stdin(Stdio::null());
    if command != "run" && command != "check" {
        cmd.arg("--state-dir").arg(dir.join("state"));
    }
    cmd
}

fn offline(dir: &Path, command: &str) -> Command {
    let mut cmd = perfsage_in(dir, command);
    cmd.arg("--snapshot").arg(fixture("rules/snapshots/idle.json"));
    cmd
}

fn has_raw_controls(text: &str) -> bool {
    text.chars().any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
}

#[test]
fn every_payload_in_every_parameter_of_every_builtin_hook_is_refused_before_any_hook_runs() {
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("canary");
    // (hook, parameter, payload name); the baselines first, one per hook, all valid.
    let mut cases: Vec<(&str, &str, &str)> = Vec::new();
    let mut actions: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (hook, params) in VALID {
        actions.push((hook.to_string(), with(params, "", "")));
    }
    for (hook, params) in VALID {
        for (param, _) in params.iter() {
            for (name, payload) in payloads(&canary) {
                cases.push((hook, param, name));
                actions.push((hook.to_string(), with(params, param, &payload)));
            }
        }
    }
    write_pack(dir.path(), &actions, "");

    let out = output(offline(dir.path(), "plan").args(["--format", "json"]));
    assert_eq!(out.status.code(), Some(0));
    let plan = json(&out);
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), VALID.len() + cases.len());
    let step = |index: usize| {
        let id = format!("proposer.step-{index}");
        steps.iter().find(|s| s["action"] == id.as_str()).unwrap_or_else(|| panic!("no step {id}"))
    };
    // The baselines: valid parameters do get a command (set-config-key allows no key).
    for (index, (hook, _)) in VALID.iter().enumerate() {
        let step = step(index);
        if *hook == "set-config-key" {
            assert!(step["reason"].as_str().unwrap().contains("parameter `key`"), "{step}");
        } else {
            assert_eq!(step["kind"], "hook", "{hook} runs with valid parameters: {step}");
        }
    }
    for (offset, (hook, param, name)) in cases.iter().enumerate() {
        let step = step(VALID.len() + offset);
        assert_eq!(step["kind"], "manual", "{hook}.{param} = {name}: {step}");
        assert!(step.get("apply").is_none(), "{hook}.{param} = {name} got a command");
        let reason = step["reason"].as_str().unwrap();
        let named = reason.contains(&format!("parameter `{param}`"))
            || (*hook == "set-config-key" && reason.contains("parameter `key`"));
        assert!(named, "{hook}.{param} = {name}: the reason names the parameter: {reason}");
        assert!(!has_raw_controls(reason), "{hook}.{param} = {name}: {reason:?}");
    }

    // The text plan shows each refusal's reason, escaped.
    let text = stdout(&output(&mut offline(dir.path(), "plan")));
    let refusals = text.matches("   manual: parameters do not match the hook's declaration").count();
    assert_eq!(refusals, cases.len() + 1, "every refusal (and set-config-key's baseline) is shown");
    assert!(!has_raw_controls(&text), "no raw control character reaches the terminal");
    assert!(text.contains("\\x1b[2J") && text.contains("\\u{202e}"), "payloads are shown escaped");

    // apply runs none of them.
    let mut apply = offline(dir.path(), "apply");
    apply.arg("--yes");
    for offset in 0..cases.len() {
        apply.arg("--action").arg(format!("proposer.step-{}", VALID.len() + offset));
    }
    let out = output(&mut apply);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("perfsage: nothing to apply"), "{}", stderr(&out));
    assert!(!dir.path().join("state/journal.jsonl").exists(), "nothing ran, nothing was journaled");
    assert!(!canary.exists(), "no payload executed");
}

#[test]
fn plugin_text_that_would_rewrite_the_terminal_is_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let title = "evil\x1b[2J\u{202e}txt.exe";
    let shown = "evil\\x1b[2J\\u{202e}txt.exe";
    let actions = vec![("nginx-upstream-keepalive".to_string(), with(VALID[5].1, "", ""))];
    write_pack(dir.path(), &actions, title);
    let clean = |what: &str, text: &str| {
        // Markdown doubles the backslashes of the escapes, as it does every backslash.
        let markdown = shown.replace('\\', "\\\\");
        assert!(text.contains(shown) || text.contains(&markdown), "{what} shows the title escaped: {text}");
        assert!(!text.contains('\x1b') && !text.contains('\u{202e}'), "{what} holds a raw escape: {text:?}");
    };
    let run = output(perfsage_in(dir.path(), "run").args(["--format", "table"]));
    clean("run (table)", &stdout(&run));
    let markdown = output(perfsage_in(dir.path(), "run").args(["--format", "markdown"]));
    clean("run (markdown)", &stdout(&markdown));
    let idle = fixture("rules/snapshots/idle.json");
    let check = output(perfsage_in(dir.path(), "check").arg(&idle).args(["--format", "table"]));
    clean("check (table)", &stdout(&check));
    let json_out = output(perfsage_in(dir.path(), "check").arg(&idle).args(["--format", "json"]));
    assert_eq!(json(&json_out)["findings"][0]["title"], title, "JSON keeps the exact text (serde escapes it)");
    let plan = output(&mut offline(dir.path(), "plan"));
    clean("plan", &stdout(&plan));
    assert!(stdout(&plan).contains("params: route=GET /api/contacts/:id"), "plan shows every parameter");
    // The consent prompt, on a terminal (util-linux `script`), answered no.
    let refused = on_a_terminal(offline(dir.path(), "apply").args(["--top", "1"]), "n\n");
    assert_eq!(refused.status.code(), Some(2));
    let screen = String::from_utf8_lossy(&refused.stdout).into_owned();
    assert!(screen.contains("Apply these 1 actions? [y/N]"), "{screen}");
    clean("the consent prompt", &screen);
    assert!(screen.contains("params: route=GET /api/contacts/:id"), "the prompt shows every parameter: {screen}");
    // The hook refuses (no nginx file configured): enough to journal the run.
    let applied = output(offline(dir.path(), "apply").args(["--top", "1", "--yes"]));
    assert_eq!(applied.status.code(), Some(3));
    clean("apply", &stdout(&applied));
    let journal =
        output(perfsage(&dir.path().join("cache")).arg("journal").arg("--state-dir").arg(dir.path().join("state")));
    let table = stdout(&journal);
    clean("the journal table", &table);
    assert!(table.contains("route=GET /api/contacts/:id"), "the journal shows the parameters: {table}");
}

/// Run `command` on a pseudo-terminal (util-linux `script`), typing `answer`.
fn on_a_terminal(command: &mut Command, answer: &str) -> Output {
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
    child.wait_with_output().unwrap()
}

/// A built-in script run directly (bypassing perfsage): phase apply, for real.
fn clean_now_in_60_days() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    (now + 60 * 86_400).to_string()
}

fn run_script(script: &str, env: &[(String, String)]) -> Output {
    let mut command = Command::new(repo_root().join("rules/hooks").join(script));
    command
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("PERFSAGE_PHASE", "apply")
        .env("PERFSAGE_DRY_RUN", "0")
        .env("PERFSAGE_RUN", "payloads")
        // clean-old-files judges age by change time too, which no test can set:
        // "now" is taken 60 days ahead (the other scripts ignore the variable).
        .env("PERFSAGE_CLEAN_NOW", clean_now_in_60_days())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    command.output().expect("cannot run the hook script")
}

fn nice_of(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit_once(") ").unwrap().1.split(' ').nth(16).unwrap().to_string()
}

fn write_old(path: &Path, days: u64) {
    std::fs::write(path, b"old").unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(days * 86_400)).unwrap();
}

/// One script under attack: its parameters (valid values), the operator's
/// environment, and what it could change.
struct Target {
    script: &'static str,
    valid: Vec<(&'static str, String)>,
    env: Vec<(String, String)>,
    observe: Box<dyn Fn() -> String>,
}

#[test]
fn every_payload_given_straight_to_each_script_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let canary = root.join("canary");
    let state = root.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let s = |p: &Path| p.display().to_string();

    let sys = root.join("sys");
    std::fs::create_dir_all(sys.join("vm")).unwrap();
    std::fs::write(sys.join("vm/swappiness"), "60\n").unwrap();
    let mut sleeper = Command::new("sleep").arg("300").spawn().unwrap();
    let pid = sleeper.id();
    let clean = root.join("clean");
    std::fs::create_dir_all(&clean).unwrap();
    write_old(&clean.join("old.log"), 30);
    let conf = root.join("app.conf");
    std::fs::write(&conf, "max_connections = 100\n").unwrap();
    let pool = root.join("www.conf");
    std::fs::write(&pool, "pm.max_children = 5\n").unwrap();
    let nginx = root.join("nginx.conf");
    let r = s(root);
    std::fs::write(
        &nginx,
        format!(
            "daemon off;\nerror_log {r}/error.log;\npid {r}/nginx.pid;\nevents {{ worker_connections 16; }}\n\
             http {{\n    access_log off;\n    client_body_temp_path {r}/body;\n    proxy_temp_path {r}/proxy;\n\
             \x20   fastcgi_temp_path {r}/fastcgi;\n    uwsgi_temp_path {r}/uwsgi;\n    scgi_temp_path {r}/scgi;\n\
             \x20   upstream app {{\n        server 127.0.0.1:9;\n    }}\n    server {{\n        listen 127.0.0.1:9;\n\
             \x20       location /api/ {{\n            proxy_pass http://app;\n        }}\n    }}\n}}\n"
        ),
    )
    .unwrap();

    let file = |p: PathBuf| move || std::fs::read_to_string(&p).unwrap();
    let st = |hook: &str| ("PERFSAGE_STATE_DIR".to_string(), s(&state.join(hook)));
    let targets = vec![
        Target {
            script: "sysctl-set.sh",
            valid: vec![("key", "vm.swappiness".into()), ("value", "10".into())],
            env: vec![("PERFSAGE_SYSCTL_ROOT".into(), s(&sys)), st("sysctl")],
            observe: Box::new(file(sys.join("vm/swappiness"))),
        },
        Target {
            script: "renice-process.sh",
            valid: vec![("pid", pid.to_string()), ("nice", "10".into())],
            env: vec![st("renice")],
            observe: Box::new(move || nice_of(pid)),
        },
        Target {
            script: "clean-old-files.sh",
            valid: vec![("dir", s(&clean)), ("older_than_days", "14".into())],
            env: vec![("PERFSAGE_ALLOWED_ROOTS".into(), s(&clean)), st("clean")],
            observe: Box::new({
                let clean = clean.clone();
                move || {
                    format!("{:?}", std::fs::read_dir(&clean).unwrap().map(|e| e.unwrap().path()).collect::<Vec<_>>())
                }
            }),
        },
        Target {
            script: "set-config-key.sh",
            valid: vec![("file", s(&conf)), ("key", "max_connections".into()), ("value", "500".into())],
            env: vec![("PERFSAGE_ALLOWED_FILES".into(), s(&conf)), st("config")],
            observe: Box::new(file(conf.clone())),
        },
        Target {
            script: "set-workers.sh",
            valid: vec![("service", "web".into()), ("workers", "12".into())],
            env: vec![("PERFSAGE_WORKERS_FILE".into(), s(&pool)), st("workers")],
            observe: Box::new(file(pool.clone())),
        },
        Target {
            script: "nginx-upstream-keepalive.sh",
            valid: vec![("route", "GET /api/contacts/:id".into())],
            env: vec![
                ("PERFSAGE_NGINX_FILE".into(), s(&nginx)),
                ("PERFSAGE_NGINX_UPSTREAM".into(), "app".into()),
                ("PERFSAGE_NGINX_PREFIX".into(), s(root)),
                st("nginx"),
            ],
            observe: Box::new(file(nginx.clone())),
        },
    ];
    for hook in ["sysctl", "renice", "clean", "config", "workers", "nginx"] {
        std::fs::create_dir_all(state.join(hook)).unwrap();
    }

    for target in &targets {
        let before = (target.observe)();
        let env_with = |key: &str, value: &str| -> Vec<(String, String)> {
            let mut env = target.env.clone();
            for (k, v) in &target.valid {
                let v = if *k == key { value } else { v.as_str() };
                env.push((format!("PERFSAGE_PARAM_{}", k.to_ascii_uppercase()), v.to_string()));
            }
            env
        };
        for (param, _) in &target.valid {
            for (name, payload) in payloads(&canary) {
                let out = run_script(target.script, &env_with(param, &payload));
                assert_ne!(out.status.code(), Some(0), "{} refuses {param} = {name}", target.script);
                assert_eq!((target.observe)(), before, "{}: {param} = {name} changed nothing", target.script);
                assert!(!canary.exists(), "{}: {param} = {name} ran nothing", target.script);
            }
        }
        // The same script with valid parameters does change things: the battery can see a change.
        let out = run_script(target.script, &env_with("", ""));
        assert!(out.status.success(), "{}: {}", target.script, String::from_utf8_lossy(&out.stderr));
        assert_ne!((target.observe)(), before, "{} with valid parameters changes its target", target.script);
    }
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

#[test]
fn plugin_list_hooks_documents_what_each_default_binding_accepts() {
    let cache = tempfile::tempdir().unwrap();
    let out = output(perfsage(cache.path()).args(["plugin", "list", "--hooks"]));
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for line in [
        "  sysctl-set:\n    key: key, one of: vm.swappiness, net.core.netdev_max_backlog, net.ipv4.tcp_congestion_control\n    value: enum: 10, 16384, bbr\n",
        "    key: key, none allowed\n",
        "    nice: integer 0..=19\n",
        "    dir: path under or above /tmp, /var/tmp\n",
        "    columns: identifier-list\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
}
