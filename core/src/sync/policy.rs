//! When a phone syncs. In the foreground the live channel runs: partners' writes arrive at
//! once and local writes go out as they happen. In the background the socket is closed and
//! local writes are coalesced: at most one sync per [`BACKGROUND_INTERVAL`] (the first write
//! after a quiet spell goes at once, the rest wait for the window), so the radio isn't woken
//! per keystroke. A sync the app asks for ([`SyncPolicy::request_sync`], e.g. from the OS's
//! background-fetch callback) runs at once in either state.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::live::LiveHandle;
use crate::engine::Duet;
use crate::error::{Error, Result};

/// At most one background sync per this long, unless the app asks.
pub const BACKGROUND_INTERVAL: Duration = Duration::from_secs(15);

/// Whether the app is on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum AppState {
    /// On screen: live sync.
    Foreground,
    /// Not on screen: writes coalesced, at most one sync per interval.
    Background,
}

#[derive(Debug)]
enum Command {
    State(AppState),
    SyncNow,
}

/// Runs the sync policy; dropping it stops the policy (and the live channel it holds).
#[derive(Debug)]
#[must_use = "dropping a SyncPolicy stops automatic sync"]
pub struct SyncPolicy {
    commands: mpsc::UnboundedSender<Command>,
    task: tokio::task::JoinHandle<()>,
}

impl SyncPolicy {
    /// The app came to the foreground or left it.
    pub fn set_app_state(&self, state: AppState) {
        let _ = self.commands.send(Command::State(state));
    }

    /// Sync now, whatever the state and however recent the last sync.
    pub fn request_sync(&self) {
        let _ = self.commands.send(Command::SyncNow);
    }
}

impl Drop for SyncPolicy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Duet {
    /// Start the sync policy on the current tokio runtime, in `state`; background syncs
    /// are at least `interval` apart ([`BACKGROUND_INTERVAL`] for phones).
    pub fn start_sync_policy(
        self: &Arc<Self>,
        state: AppState,
        interval: Duration,
    ) -> Result<SyncPolicy> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Internal("start_sync_policy needs a tokio runtime".into()))?;
        if self.relay_info()?.is_none() {
            return Err(Error::NoRelay);
        }
        let (commands, rx) = mpsc::unbounded_channel();
        let task = rt.spawn(run(self.clone(), state, interval, rx));
        Ok(SyncPolicy { commands, task })
    }
}

async fn run(
    duet: Arc<Duet>,
    mut state: AppState,
    interval: Duration,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let notify = duet.outbox_notify();
    let mut live: Option<LiveHandle> = None;
    // When the next background sync may start, and whether a write waits for it.
    let mut next_allowed = Instant::now();
    let mut waiting = false;
    loop {
        match state {
            AppState::Foreground if live.is_none() => match duet.start_live() {
                Ok(h) => live = Some(h),
                Err(e) => tracing::warn!(code = %e.code(), "live sync could not start"),
            },
            AppState::Background => {
                if let Some(h) = live.take() {
                    h.stop().await;
                    // Whatever the socket had not pushed yet goes in the first window.
                    waiting = duet.outbox_len().is_ok_and(|n| n > 0);
                }
            }
            AppState::Foreground => {}
        }
        let due = waiting.then_some(next_allowed.max(Instant::now()));
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(Command::State(s)) => state = s,
                Some(Command::SyncNow) => {
                    sync(&duet).await;
                    if state == AppState::Background {
                        next_allowed = Instant::now() + interval;
                        waiting = duet.outbox_len().is_ok_and(|n| n > 0);
                    }
                }
                None => return,
            },
            // In the foreground the live channel waits on the outbox itself (one waiter: a
            // notification taken here would be one it never sees).
            _ = notify.notified(), if state == AppState::Background => waiting = true,
            _ = sleep_until(due), if due.is_some() => {
                next_allowed = Instant::now() + interval;
                waiting = false;
                sync(&duet).await;
            }
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    if let Some(at) = due {
        tokio::time::sleep_until(at).await;
    }
}

/// One sync; its outcome reaches the app through the sync listeners.
async fn sync(duet: &Duet) {
    if let Err(e) = duet.sync_now().await {
        tracing::debug!(code = %e.code(), "policy sync ended");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::testkit;
    use super::*;
    use crate::state::{SyncListener, SyncReport, SyncState};

    /// Counts the syncs that start (each begins with `Syncing` and nothing done yet).
    #[derive(Default)]
    struct Starts(AtomicUsize);

    impl SyncListener for Starts {
        fn on_sync_state(&self, state: &SyncState) {
            if let SyncState::Syncing { progress } = state
                && *progress == SyncReport::default()
            {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    #[tokio::test]
    async fn background_writes_are_coalesced_and_an_asked_sync_runs_at_once() {
        // A relay that can't be reached: every sync ends offline at once, which is all the
        // policy's timing needs (what a sync does is tested elsewhere).
        let (_dir, duet) = testkit::home("Ada");
        duet.set_relay("http://127.0.0.1:9").unwrap();
        let duet = Arc::new(duet);
        let count = Arc::new(Starts::default());
        let _sub = duet.subscribe_sync(count.clone());
        let j = duet.create_journal("Us").unwrap();
        let policy = duet
            .start_sync_policy(AppState::Background, Duration::from_millis(600))
            .unwrap();
        // Twelve writes over ~1.2 s: the first goes at once, then one per window.
        for i in 0..12 {
            testkit::entry(&duet, &j, &format!("note {i}"));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        let coalesced = count.0.load(Ordering::Relaxed);
        assert!(
            (1..=4).contains(&coalesced),
            "12 writes in ~1.2 s with a 600 ms window: {coalesced} syncs"
        );
        // Asked: at once, inside the window.
        policy.request_sync();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(count.0.load(Ordering::Relaxed), coalesced + 1);
        // Quiet: no write, no sync.
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(count.0.load(Ordering::Relaxed) <= coalesced + 2);
    }
}
