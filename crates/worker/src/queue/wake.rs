//! Waking idle workers when tasks are pushed.
//!
//! An apalis worker whose fetch came back empty sleeps until its poll strategy wakes it:
//! with the interval alone, a step pushed into an empty queue waited up to a whole
//! `poll_interval` (250 ms) before any worker looked, on every hop of a walk that the
//! dispatcher or a finished step handed on. Pushes therefore also signal, and a worker's
//! poll strategy is the signal *or* the interval: the interval stays as the fallback for
//! a lost signal, a pub/sub connection that is down, or tasks that fall due in
//! `<q>:scheduled` without a push.
//!
//! - Redis: `PUBLISH <queue>:wake` after each push (but a single handed-on step:
//!   `StepQueue::push_handed_on`); every worker session subscribes
//!   ([`subscribe`]). A signal is a hint, never a task: losing one costs at most one
//!   interval.
//! - SQLite (embedded, one process): the pushing side signals the sessions of the same
//!   queue in this process directly ([`signal_local`]).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use futures::StreamExt;
use futures::task::AtomicWaker;

/// A worker session's wake-up signal: a stream that yields once after any number of
/// signals since it was last polled (signals coalesce).
#[derive(Clone, Default)]
pub(super) struct Wakeups(Arc<Signal>);

#[derive(Default)]
struct Signal {
    waker: AtomicWaker,
    pending: AtomicBool,
}

fn signal(signal: &Signal) {
    signal.pending.store(true, Ordering::Release);
    signal.waker.wake();
}

impl Stream for Wakeups {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let signal = &self.0;
        if signal.pending.swap(false, Ordering::AcqRel) {
            return Poll::Ready(Some(()));
        }
        signal.waker.register(cx.waker());
        // A signal between the check and the registration must not be missed.
        if signal.pending.swap(false, Ordering::AcqRel) {
            return Poll::Ready(Some(()));
        }
        Poll::Pending
    }
}

/// The channel pushes to `queue` publish on.
pub(super) fn channel(queue: &str) -> String {
    format!("{queue}:wake")
}

/// Subscribes to `queue`'s wake channel and signals `wakeups` on every message, until
/// the returned task is aborted. A subscription that fails or drops is retried after a
/// pause; meanwhile the worker polls on its interval.
pub(super) fn subscribe(
    client: ::redis::Client,
    queue: &str,
    wakeups: &Wakeups,
) -> tokio::task::JoinHandle<()> {
    let channel = channel(queue);
    // Weak: the subscription must not keep a finished session's signal alive.
    let target = Arc::downgrade(&wakeups.0);
    tokio::spawn(async move {
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                    Ok(()) => {
                        let mut messages = pubsub.on_message();
                        while messages.next().await.is_some() {
                            let Some(target) = target.upgrade() else {
                                return;
                            };
                            signal(&target);
                        }
                        tracing::debug!(%channel, "wake-up subscription ended; polling meanwhile");
                    }
                    Err(error) => {
                        tracing::debug!(%channel, %error, "cannot subscribe to wake-ups; polling meanwhile");
                    }
                },
                Err(error) => {
                    tracing::debug!(%channel, %error, "cannot open a wake-up subscription; polling meanwhile");
                }
            }
            if target.strong_count() == 0 {
                return;
            }
            tokio::time::sleep(RESUBSCRIBE_AFTER).await;
        }
    })
}

const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

/// Sessions of each SQLite queue in this process, by the queue file and name.
static LOCAL: LazyLock<Mutex<HashMap<String, Vec<Weak<Signal>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Registers a session of the in-process queue `key` for [`signal_local`].
pub(super) fn register_local(key: &str, wakeups: &Wakeups) {
    let mut local = LOCAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let sessions = local.entry(key.to_owned()).or_default();
    sessions.retain(|s| s.strong_count() > 0);
    sessions.push(Arc::downgrade(&wakeups.0));
}

/// Wakes every live session of the in-process queue `key`.
pub(super) fn signal_local(key: &str) {
    let local = LOCAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for session in local.get(key).into_iter().flatten() {
        if let Some(session) = session.upgrade() {
            signal(&session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn signals_coalesce_into_one_wake_up_and_none_is_lost() {
        let mut wakeups = Wakeups::default();
        assert!(
            wakeups.next().now_or_never().is_none(),
            "nothing signalled yet"
        );

        signal(&wakeups.0);
        signal(&wakeups.0);
        assert_eq!(wakeups.next().now_or_never(), Some(Some(())));
        assert!(
            wakeups.next().now_or_never().is_none(),
            "two signals, one wake-up"
        );

        let waiting = tokio::spawn({
            let mut wakeups = wakeups.clone();
            async move { wakeups.next().await }
        });
        tokio::task::yield_now().await;
        signal(&wakeups.0);
        let woken = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(
            matches!(woken, Ok(Ok(Some(())))),
            "a waiting stream is woken"
        );
    }

    #[tokio::test]
    async fn a_local_signal_reaches_the_sessions_of_its_queue_only() {
        let mine = Wakeups::default();
        let other = Wakeups::default();
        register_local("test-a", &mine);
        register_local("test-b", &other);

        signal_local("test-a");

        assert_eq!(mine.clone().next().now_or_never(), Some(Some(())));
        assert!(other.clone().next().now_or_never().is_none());
    }
}
