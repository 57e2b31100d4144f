//! `perfsage audit --every`: audits on a schedule, as a long-running service.
//!
//! A single-threaded tokio runtime waits (timer, SIGTERM, SIGINT); each audit
//! runs on tokio's blocking pool, and the next one is only scheduled after it
//! ends, so runs never overlap. Starts are `every` apart (plus a random
//! jitter up to `jitter`, to spread a fleet's load); an audit that overruns
//! its slot is followed by the next one at once, never by two.
//!
//! Shutdown: a signal between audits stops the service at once; a signal
//! during an audit lets it finish and be recorded, then stops (exit 0). A
//! second signal gives up on the running audit, which the history marks
//! `interrupted` when the next audit process starts.

use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;

/// When audits run.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub every: Duration,
    pub jitter: Duration,
}

/// How the service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Stopped by a signal with no audit left unfinished.
    Clean,
    /// Stopped by a second signal while an audit ran.
    Abandoned,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot start the service runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot listen for signals")]
    Signals(#[source] std::io::Error),
    #[error("an audit panicked")]
    Panicked(#[source] tokio::task::JoinError),
}

/// Run `audit` on `schedule` until SIGTERM or SIGINT. The first audit starts at once.
pub fn serve<A>(schedule: Schedule, audit: A) -> Result<Ended, ServiceError>
where
    A: FnMut() + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ServiceError::Runtime)?;
    let ended = runtime.block_on(run(schedule, audit));
    // An abandoned audit's thread must not hold the process open.
    runtime.shutdown_background();
    ended
}

async fn run<A>(schedule: Schedule, audit: A) -> Result<Ended, ServiceError>
where
    A: FnMut() + Send + 'static,
{
    let mut terminate = signal(SignalKind::terminate()).map_err(ServiceError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServiceError::Signals)?;
    let mut next = Instant::now();
    // The audit moves to the blocking pool for each run and comes back after it.
    let mut audit = Some(audit);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = terminate.recv() => return Ok(Ended::Clean),
            _ = interrupt.recv() => return Ok(Ended::Clean),
        }
        let started = Instant::now();
        log::info!("audit starting");
        let mut job = audit.take().expect("the audit is back after each run");
        let mut running = tokio::task::spawn_blocking(move || {
            job();
            job
        });
        let stopping = tokio::select! {
            done = &mut running => {
                audit = Some(done.map_err(ServiceError::Panicked)?);
                false
            }
            _ = terminate.recv() => true,
            _ = interrupt.recv() => true,
        };
        if stopping {
            log::warn!("stopping: letting the running audit finish (signal again to abandon it)");
            return tokio::select! {
                done = running => done.map(|_| Ended::Clean).map_err(ServiceError::Panicked),
                _ = terminate.recv() => Ok(Ended::Abandoned),
                _ = interrupt.recv() => Ok(Ended::Abandoned),
            };
        }
        next = (started + schedule.every + jitter(schedule.jitter)).max(Instant::now());
        log::info!("next audit in {:?}", next - Instant::now());
    }
}

fn jitter(max: Duration) -> Duration {
    if max.is_zero() { Duration::ZERO } else { Duration::from_millis(fastrand::u64(0..=max.as_millis() as u64)) }
}
