//! The one watch loop every discovered kind shares: list, then watch, by
//! label; on failure, report it, back off (1 s doubling to 30 s) and start
//! again with a fresh list (kube-runtime itself relists after `410 Gone`).
//! What the objects mean is the [`Sink`]'s business.

use crate::id::Namespace;
use crate::time::Backoff;
use futures::StreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// First wait before a failed watch starts again; it doubles per failure.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Longest wait before a failed watch starts again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A watch that stayed up this long after its list was complete starts
/// its backoff over: one that fails sooner (a list that works and a watch
/// that does not) keeps doubling, not relisting every second.
pub const STAYED_UP: Duration = Duration::from_secs(60);

/// A watch's retry waits.
const BACKOFF: Backoff = Backoff {
    first: FIRST_BACKOFF,
    max: MAX_BACKOFF,
    stayed_up: STAYED_UP,
};

/// Where a watch's objects go: only the few fields it keeps, so a relist of
/// 100,000 objects never holds them whole.
pub trait Sink<K>: Send + Sync + 'static {
    /// What is kept of one object.
    type Kept: Send;
    /// The kind, for logs and metrics.
    fn kind(&self) -> &'static str;
    /// The fields kept of `object`; `None` skips it (not one of ours).
    fn keep(&self, object: &K) -> Option<Self::Kept>;
    /// A complete list of the scope (`None`: every namespace): what it
    /// does not hold is gone.
    fn resync(&self, namespace: Option<&Namespace>, listed: Vec<Self::Kept>);
    /// An object was added or changed.
    fn apply(&self, kept: Self::Kept);
    /// An object was deleted.
    fn delete(&self, object: &K);
    /// The watch is live (its list complete) or has failed.
    fn set_live(&self, live: bool);
    /// Whether a kind the API server does not serve (its CRD is not
    /// installed: the list answers 404) counts as a complete, empty list.
    fn missing_kind_is_empty(&self) -> bool {
        false
    }
}

/// Runs one watch of `api` selected by `label` until `shutdown`.
pub async fn run<K, S>(
    api: Api<K>,
    namespace: Option<Namespace>,
    label: String,
    sink: S,
    shutdown: CancellationToken,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    S: Sink<K>,
{
    let mut backoff = BACKOFF.initial();
    // An empty label selects every object.
    let config = if label.is_empty() {
        watcher::Config::default()
    } else {
        watcher::Config::default().labels(&label)
    };
    // A kind that was served once and is now 404 (its CRD being
    // reinstalled) is not "none": what was listed stays, not live.
    let mut listed_once = false;
    loop {
        let events = watcher::watcher(api.clone(), config.clone());
        let mut listed_at = None;
        let failure = tokio::select! {
            () = shutdown.cancelled() => return,
            failure = follow(events, namespace.as_ref(), &sink, &mut listed_at, &mut listed_once) => failure,
        };
        // How long the watch stayed up after its list was complete.
        backoff = BACKOFF.next(
            backoff,
            listed_at.map(|t: tokio::time::Instant| t.elapsed()),
        );
        if sink.missing_kind_is_empty() && !listed_once && kind_not_served(&failure) {
            sink.resync(namespace.as_ref(), Vec::new());
            sink.set_live(true);
            tracing::info!(kind = sink.kind(), retry_in = ?MAX_BACKOFF, "the API server does not serve this kind: none exist");
            backoff = MAX_BACKOFF;
        } else {
            sink.set_live(false);
            tracing::warn!(kind = sink.kind(), error = %failure, retry_in = ?backoff, "kubernetes watch failed; its data is not live until it has listed again");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
    }
}

/// Whether the list failed because the API server serves no such kind.
fn kind_not_served(failure: &watcher::Error) -> bool {
    matches!(failure, watcher::Error::InitialListFailed(kube::Error::Api(s)) if s.code == 404)
}

/// Applies a watch's events until it fails; notes when its list was
/// complete.
async fn follow<K, S>(
    events: impl futures::Stream<Item = Result<Event<K>, watcher::Error>>,
    namespace: Option<&Namespace>,
    sink: &S,
    listed_at: &mut Option<tokio::time::Instant>,
    listed_once: &mut bool,
) -> watcher::Error
where
    S: Sink<K>,
{
    let mut events = std::pin::pin!(events);
    let mut listing: Vec<S::Kept> = Vec::new();
    loop {
        match events.next().await {
            Some(Ok(Event::Init)) => listing.clear(),
            Some(Ok(Event::InitApply(object))) => listing.extend(sink.keep(&object)),
            Some(Ok(Event::InitDone)) => {
                *listed_at = Some(tokio::time::Instant::now());
                *listed_once = true;
                sink.resync(namespace, std::mem::take(&mut listing));
                sink.set_live(true);
            }
            Some(Ok(Event::Apply(object))) => match sink.keep(&object) {
                Some(kept) => sink.apply(kept),
                // Changed into something not ours (a bad id): forget it.
                None => sink.delete(&object),
            },
            Some(Ok(Event::Delete(object))) => sink.delete(&object),
            Some(Err(e)) => return e,
            // The watcher's stream never ends; if it did, start over.
            None => return watcher::Error::NoResourceVersion,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_starts_over_only_after_the_watch_stayed_up() {
        let secs = Duration::from_secs;
        assert_eq!(BACKOFF.next(FIRST_BACKOFF / 2, None), FIRST_BACKOFF);
        // Listed, then the watch failed at once: keep doubling.
        assert_eq!(BACKOFF.next(secs(4), Some(Duration::ZERO)), secs(8));
        assert_eq!(BACKOFF.next(secs(16), Some(secs(59))), MAX_BACKOFF);
        assert_eq!(BACKOFF.next(MAX_BACKOFF, None), MAX_BACKOFF);
        assert_eq!(BACKOFF.next(MAX_BACKOFF, Some(STAYED_UP)), FIRST_BACKOFF);
    }
}
