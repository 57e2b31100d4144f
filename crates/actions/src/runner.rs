//! The hook runner: with the sources, the only door through which perfsage
//! changes the outside world.
//!
//! A hook runs as an argv (no shell), with a cleared environment plus exactly
//! what perfsage passes, stdin closed, in `/`, in a process group of its own.
//! Past its timeout the whole group is killed (SIGKILL), so a script's
//! children die with it; when the script exits, whatever it left behind in its
//! group is killed too, so no stray child holds its output open. Output is
//! captured up to [`OUTPUT_CAP`] bytes per stream (the rest is drained and
//! counted), so a chatty hook can neither block nor exhaust memory.
//!
//! Under `apply` ([`run_guarded`]) two more promises hold:
//! - **A hook never outlives its guard.** When perfsage is asked to stop
//!   (SIGINT/SIGTERM, see [`super::interrupt`]) the signal is forwarded to the
//!   hook's group, the group gets [`Guard::grace`] to end (a second signal cuts
//!   it short), then the group is SIGKILLed; the run ends as
//!   [`Ending::Interrupted`].
//! - **The apply lock lives as long as the hook.** The lock's file descriptor
//!   is left open across `exec` in the hook (only in the hook: perfsage keeps
//!   it close-on-exec everywhere else). flock(2) belongs to the open file, and
//!   the kernel drops it only when the last descriptor on it closes, so if
//!   perfsage itself is SIGKILLed, the orphaned hook and whatever it started
//!   still hold the lock: no second `apply` can run a hook beside them.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::RawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Bytes of each stream kept per run.
pub const OUTPUT_CAP: usize = 64 * 1024;

/// How long after its exit (or kill) a hook's output pipes may stay open.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How often a wait looks for a pending signal.
const POLL: Duration = Duration::from_millis(20);

/// The default time a hook's group gets to end after a forwarded signal.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);

/// What guards a hook run under `apply`.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    /// A descriptor the hook inherits (the apply lock), so the lock lives as long as the hook's processes.
    pub inherit_fd: Option<RawFd>,
    /// After a forwarded SIGINT/SIGTERM, how long the group gets before SIGKILL.
    pub grace: Duration,
}

impl Default for Guard {
    fn default() -> Self {
        Guard { inherit_fd: None, grace: DEFAULT_STOP_GRACE }
    }
}

/// One run of a program.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invocation {
    pub argv: Vec<String>,
    /// The whole environment of the process (secrets masked when shown or serialized).
    #[serde(serialize_with = "serialize_masked")]
    pub env: BTreeMap<String, String>,
    #[serde(rename = "timeout_ms", serialize_with = "serialize_millis")]
    pub timeout: Duration,
}

/// Whether an environment variable holds a secret (a password or token passed
/// through to a hook): plans and journals show it masked.
pub fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    ["PASSWORD", "PWD", "SECRET", "TOKEN"].iter().any(|word| key.contains(word)) && key != "PWD"
}

/// An environment value as plans show it: secrets masked.
pub fn shown_value<'a>(key: &str, value: &'a str) -> &'a str {
    if is_secret(key) { "<secret, from the environment>" } else { value }
}

fn serialize_masked<S: serde::Serializer>(env: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(env.iter().map(|(key, value)| (key, shown_value(key, value))))
}

/// Serialize a duration as whole milliseconds.
pub(crate) fn serialize_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Ending {
    Exited {
        code: i32,
    },
    Signaled {
        signal: i32,
    },
    /// Killed with its process group at the timeout.
    TimedOut {
        timeout_ms: u64,
    },
    /// Could not be started (no such program, not executable, ...).
    SpawnFailed {
        error: String,
    },
    /// perfsage was asked to stop (SIGINT/SIGTERM) while the hook ran: the signal
    /// was forwarded to its process group, which was SIGKILLed if it outlived the grace.
    Interrupted {
        signal: i32,
        /// Whether the group was still alive at the end of the grace and had to be SIGKILLed.
        killed_after_grace: bool,
    },
}

impl Ending {
    pub fn succeeded(&self) -> bool {
        matches!(self, Ending::Exited { code: 0 })
    }
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Exited { code } => write!(f, "exit {code}"),
            Ending::Signaled { signal } => write!(f, "killed by signal {signal}"),
            Ending::TimedOut { timeout_ms } => write!(f, "timed out after {timeout_ms} ms; process group killed"),
            Ending::SpawnFailed { error } => write!(f, "could not start: {error}"),
            Ending::Interrupted { signal, killed_after_grace } => {
                write!(f, "interrupted by signal {signal}; forwarded to its process group")?;
                if *killed_after_grace { write!(f, ", which was killed after the grace period") } else { Ok(()) }
            }
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub ending: Ending,
    pub stdout: Captured,
    pub stderr: Captured,
    pub duration: Duration,
}

/// The first [`OUTPUT_CAP`] bytes of a stream, and how many bytes it had in all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Captured {
    pub bytes: Vec<u8>,
    pub total: u64,
}

impl Captured {
    /// The captured text (lossy UTF-8), at most `limit` bytes of it, marked when cut.
    pub fn excerpt(&self, limit: usize) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        let mut cut = text.len().min(limit);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut excerpt = text[..cut].to_string();
        if (cut as u64) < self.total {
            excerpt.push_str(&format!("\n[… {} more bytes]", self.total - cut as u64));
        }
        excerpt
    }
}

/// Run `invocation` to its end or its timeout (outside `apply`: nothing inherited, signals not watched).
pub fn run(invocation: &Invocation) -> Outcome {
    run_guarded(invocation, &Guard::default())
}

/// How the wait for a hook ended.
enum Stop {
    Exited,
    TimedOut,
    Interrupted(i32),
}

/// Run `invocation` to its end, its timeout or an interruption, under `guard`.
pub fn run_guarded(invocation: &Invocation, guard: &Guard) -> Outcome {
    let started = Instant::now();
    let spawn_failed = |error: String| Outcome {
        ending: Ending::SpawnFailed { error },
        stdout: Captured::default(),
        stderr: Captured::default(),
        duration: started.elapsed(),
    };
    let Some((program, args)) = invocation.argv.split_first() else {
        return spawn_failed("empty command".into());
    };
    let mut command = Command::new(program);
    if let Some(fd) = guard.inherit_fd {
        // SAFETY: runs in the forked child before exec; fcntl(2) is async-signal-safe
        // and only clears the close-on-exec flag of the child's copy of `fd`.
        unsafe {
            command.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = match command
        .args(args)
        .env_clear()
        .envs(&invocation.env)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return spawn_failed(format!("{program}: {e}")),
    };
    let (sender, receiver) = mpsc::channel();
    for (stream, pipe) in [
        (0, child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>)),
        (1, child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>)),
    ] {
        let sender = sender.clone();
        let mut pipe = pipe.expect("both streams are piped");
        std::thread::spawn(move || {
            let _ = sender.send((stream, drain(&mut pipe)));
        });
    }
    drop(sender);

    let group = child.id() as libc::pid_t;
    // A thread blocks until the hook exits without reaping it, so the group
    // (with the hook as a zombie in it) outlives the kill below.
    let (exited, exit_seen) = mpsc::channel();
    std::thread::spawn(move || {
        wait_for_exit(group);
        let _ = exited.send(());
    });
    let deadline = started + invocation.timeout;
    let stop = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match exit_seen.recv_timeout(left.min(POLL)) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break Stop::Exited,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(signal) = super::interrupt::pending() {
                    break Stop::Interrupted(signal);
                }
                if left.is_zero() {
                    break Stop::TimedOut;
                }
            }
        }
    };
    // Until the leader is reaped (below) the group exists, so its id cannot
    // have been reused: signalling -group reaches only the hook's processes.
    let mut killed_after_grace = false;
    if let Stop::Interrupted(signal) = stop {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory involved.
        unsafe { libc::kill(-group, signal) };
        killed_after_grace = !wait_for_group(group, guard.grace);
    }
    // Kill stragglers, or everyone at a timeout or past the grace.
    // SAFETY: as above.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    if !matches!(stop, Stop::Exited) {
        let _ = exit_seen.recv();
    }
    let status = child.wait();
    let duration = started.elapsed();

    let mut streams = [Captured::default(), Captured::default()];
    let drain_until = Instant::now() + DRAIN_GRACE;
    for _ in 0..2 {
        let left = drain_until.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok((stream, captured)) => streams[stream] = captured,
            // A process that left the group (setsid) still holds a pipe: keep what we have.
            Err(_) => break,
        }
    }
    let [stdout, stderr] = streams;
    let ending = match (stop, status) {
        (Stop::TimedOut, _) => Ending::TimedOut { timeout_ms: invocation.timeout.as_millis() as u64 },
        (Stop::Interrupted(signal), _) => Ending::Interrupted { signal, killed_after_grace },
        (Stop::Exited, Ok(status)) => match (status.code(), status.signal()) {
            (Some(code), _) => Ending::Exited { code },
            (None, Some(signal)) => Ending::Signaled { signal },
            (None, None) => Ending::SpawnFailed { error: format!("unknown wait status {status:?}") },
        },
        (Stop::Exited, Err(e)) => Ending::SpawnFailed { error: format!("cannot wait for {program}: {e}") },
    };
    Outcome { ending, stdout, stderr, duration }
}

/// Wait until no live (non-zombie) process is left in process group `group`,
/// for at most `grace` or until another signal arrives; whether it emptied.
fn wait_for_group(group: libc::pid_t, grace: Duration) -> bool {
    let signals = super::interrupt::count();
    let until = Instant::now() + grace;
    loop {
        if !group_has_live_members(group) {
            return true;
        }
        if Instant::now() >= until || super::interrupt::count() != signals {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Whether any process of group `group` is alive (zombies do not count: they hold nothing).
fn group_has_live_members(group: libc::pid_t) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        // No /proc to look in: assume the worst, so the group is SIGKILLed at the grace.
        return true;
    };
    entries.flatten().filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))).any(
        |entry| {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { return false };
            // After "pid (comm) ": state, ppid, pgrp, ... (comm may hold spaces and parentheses).
            let Some((_, rest)) = stat.rsplit_once(") ") else { return false };
            let mut fields = rest.split(' ');
            let state = fields.next();
            let pgrp = fields.nth(1).and_then(|f| f.parse::<libc::pid_t>().ok());
            pgrp == Some(group) && state != Some("Z") && state != Some("X")
        },
    )
}

/// Block until process `pid` (our child) has exited, without reaping it.
fn wait_for_exit(pid: libc::pid_t) {
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes into `info`, which lives for the call; WNOWAIT leaves the child unreaped.
        let result = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if result == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}

fn drain(pipe: &mut dyn Read) -> Captured {
    let mut captured = Captured::default();
    let mut buffer = [0u8; 8192];
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) | Err(_) => return captured,
            Ok(n) => {
                let room = OUTPUT_CAP.saturating_sub(captured.bytes.len());
                captured.bytes.extend_from_slice(&buffer[..n.min(room)]);
                captured.total += n as u64;
            }
        }
    }
}

/// Whether `name` is a safe environment-variable key: `[A-Za-z0-9_]`, 1..=64 long, not starting with a digit.
pub fn is_safe_env_key(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout_ms: u64) -> Invocation {
        Invocation {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: BTreeMap::from([("ONLY".to_string(), "this".to_string())]),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[test]
    fn the_environment_is_exactly_what_was_passed() {
        let outcome = run(&sh("env", 5000));
        assert_eq!(outcome.ending, Ending::Exited { code: 0 });
        let text = String::from_utf8(outcome.stdout.bytes).unwrap();
        let names: Vec<&str> = text.lines().map(|l| l.split('=').next().unwrap()).collect();
        // sh itself may export PWD (and SHLVL); nothing of perfsage's own environment leaks.
        assert!(names.contains(&"ONLY"), "{text}");
        assert!(names.iter().all(|n| ["ONLY", "PWD", "SHLVL", "_"].contains(n)), "{text}");
    }

    #[test]
    fn exit_codes_and_both_streams_are_captured() {
        let outcome = run(&sh("echo out; echo err >&2; exit 7", 5000));
        assert_eq!(outcome.ending, Ending::Exited { code: 7 });
        assert_eq!(outcome.stdout.bytes, b"out\n");
        assert_eq!(outcome.stderr.bytes, b"err\n");
    }

    #[test]
    fn a_hang_is_killed_with_its_children_at_the_timeout() {
        let started = Instant::now();
        // The child `sleep` holds stdout open: only killing the group ends the run.
        let outcome = run(&sh("sleep 30 & sleep 30", 200));
        assert_eq!(outcome.ending, Ending::TimedOut { timeout_ms: 200 });
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    }

    #[test]
    fn output_past_the_cap_is_counted_not_kept() {
        let outcome = run(&sh("head -c 200000 /dev/zero", 5000));
        assert_eq!(outcome.stdout.bytes.len(), OUTPUT_CAP);
        assert_eq!(outcome.stdout.total, 200_000);
        assert!(outcome.stdout.excerpt(10).ends_with("[… 199990 more bytes]"));
    }

    #[test]
    fn only_a_guarded_hook_inherits_the_lock_descriptor() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("apply.lock")).unwrap();
        let fd = file.as_raw_fd();
        let probe = sh(&format!("readlink /proc/$$/fd/{fd} || echo closed"), 5000);
        let guarded = run_guarded(&probe, &Guard { inherit_fd: Some(fd), grace: DEFAULT_STOP_GRACE });
        let shown = String::from_utf8(guarded.stdout.bytes).unwrap();
        assert!(shown.trim_end().ends_with("apply.lock"), "{shown}");
        let plain = String::from_utf8(run(&probe).stdout.bytes).unwrap();
        assert_eq!(plain, "closed\n", "close-on-exec everywhere else");
    }

    #[test]
    fn a_missing_program_is_a_spawn_failure() {
        let outcome = run(&Invocation {
            argv: vec!["/nonexistent/hook".into()],
            env: BTreeMap::new(),
            timeout: Duration::from_secs(1),
        });
        assert!(matches!(outcome.ending, Ending::SpawnFailed { ref error } if error.contains("/nonexistent/hook")));
    }
}
