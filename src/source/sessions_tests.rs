use super::*;
use proptest::prelude::*;

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
const HOUR: Duration = Duration::from_secs(3600);

/// One server's table and signals, fed events as the store feeds them.
#[derive(Default)]
struct Server {
    table: SessionTable,
    signals: Signals,
    budget: SessionLimits,
}

impl Server {
    fn event(&mut self, kind: EventKind, id: Option<&str>, at: Timestamp) -> &mut Self {
        let id = id.map(|s| SessionId::parse(s).expect("usable id"));
        self.table
            .record(&mut self.signals, (kind, id, at), &self.budget);
        self
    }

    fn sessions(&self) -> u32 {
        self.signals.load.event_count(SignalKind::Sessions)
    }
}

#[test]
fn a_session_whose_close_was_lost_is_forgotten_after_a_day_without_events() {
    let mut s = Server::default();
    s.event(EventKind::SessionOpen, Some("lost"), T0);
    s.event(EventKind::SessionOpen, Some("b"), T0 + HOUR);
    s.event(EventKind::SessionClose, Some("b"), T0 + HOUR * 2);
    assert_eq!(s.sessions(), 1, "the lost one still counts within a day");
    // A day after its last event, the next event forgets it.
    s.event(EventKind::SessionOpen, Some("c"), T0 + HOUR * 24);
    assert_eq!(s.sessions(), 1, "only c is open");
    assert_eq!(s.table.tracked(), 1);
    assert_eq!(s.budget.used(), 1);
    // The history shows the drop too (what replays read).
    let at = s.signals.history.at(T0 + HOUR * 24);
    assert_eq!(at.map(|l| l.event_count(SignalKind::Sessions)), Some(1));
}

#[test]
fn how_long_a_silent_session_is_kept_is_a_setting() {
    let mut s = Server {
        budget: SessionLimits::default().forgetting_after(HOUR),
        ..Server::default()
    };
    s.event(EventKind::SessionOpen, Some("lost"), T0);
    s.event(EventKind::Request, None, T0 + HOUR / 2);
    assert_eq!(s.sessions(), 1);
    s.event(EventKind::Request, None, T0 + HOUR);
    assert_eq!(s.sessions(), 0, "an hour without an event naming it");
}

#[test]
fn a_request_naming_a_session_keeps_it_from_being_forgotten() {
    let mut s = Server::default();
    s.event(EventKind::SessionOpen, Some("long"), T0);
    s.event(EventKind::Request, Some("long"), T0 + HOUR * 20);
    s.event(EventKind::Request, None, T0 + HOUR * 30);
    assert_eq!(s.sessions(), 1, "named 10 h ago: still open");
    s.event(EventKind::Request, None, T0 + HOUR * 44);
    assert_eq!(s.sessions(), 0, "silent for 24 h: forgotten");
}

#[test]
fn a_second_open_of_one_session_counts_once() {
    let mut s = Server::default();
    s.event(EventKind::SessionOpen, Some("a"), T0).event(
        EventKind::SessionOpen,
        Some("a"),
        T0 + HOUR,
    );
    assert_eq!(s.sessions(), 1);
    s.event(EventKind::SessionClose, Some("a"), T0 + HOUR * 2);
    assert_eq!(s.sessions(), 0);
    assert_eq!(s.budget.used(), 0, "a closed unit gives its place back");
}

#[test]
fn a_close_whose_open_was_never_seen_does_not_hide_another_session() {
    let mut s = Server::default();
    s.event(EventKind::SessionOpen, Some("live"), T0);
    s.event(EventKind::SessionClose, Some("open-was-lost"), T0 + HOUR);
    s.event(EventKind::SessionClose, Some("open-was-lost"), T0 + HOUR);
    assert_eq!(s.sessions(), 1, "the live session still counts");
    // Plain arithmetic (no ids) would have hidden it.
    let mut plain = Signals::default();
    plain.record_event(EventKind::SessionOpen, T0);
    plain.record_event(EventKind::SessionClose, T0 + HOUR);
    assert_eq!(plain.load.event_count(SignalKind::Sessions), 0);
}

#[test]
fn events_without_ids_count_opens_minus_closes_as_before() {
    let mut s = Server::default();
    s.event(EventKind::SessionOpen, None, T0)
        .event(EventKind::SessionOpen, None, T0)
        .event(EventKind::SessionClose, None, T0);
    assert_eq!(s.sessions(), 1);
    // They are never forgotten by the table (the policy's
    // `event_count_ttl` still lapses them for decisions).
    s.event(EventKind::Request, None, T0 + HOUR * 48);
    assert_eq!(s.sessions(), 1);
    s.event(EventKind::SessionClose, None, T0 + HOUR * 49)
        .event(EventKind::SessionClose, None, T0 + HOUR * 49);
    assert_eq!(s.sessions(), 0);
    assert_eq!(s.table.tracked(), 0);
}

#[test]
fn a_close_without_a_known_id_cancels_only_units_counted_without_one() {
    let mut s = Server::default();
    s.event(EventKind::SessionOpen, Some("tracked"), T0)
        .event(EventKind::SessionOpen, None, T0);
    s.event(EventKind::SessionClose, None, T0)
        .event(EventKind::SessionClose, None, T0);
    assert_eq!(s.sessions(), 1, "the second close has nothing to cancel");
}

#[test]
fn connections_and_sessions_are_tracked_apart() {
    let mut s = Server::default();
    s.event(EventKind::SessionOpen, Some("x"), T0)
        .event(EventKind::ConnectionOpen, Some("x"), T0)
        .event(EventKind::SessionClose, Some("x"), T0);
    assert_eq!(s.sessions(), 0);
    assert_eq!(s.signals.load.event_count(SignalKind::Connections), 1);
}

#[test]
fn opens_beyond_a_servers_cap_are_counted_without_an_id() {
    let mut s = Server::default();
    for i in 0..=MAX_PER_SERVER {
        s.event(EventKind::SessionOpen, Some(&format!("s-{i}")), T0);
    }
    assert_eq!(s.table.tracked(), MAX_PER_SERVER);
    assert_eq!(s.sessions(), MAX_PER_SERVER as u32 + 1);
    // The one beyond the cap closes against the share beyond the caps.
    s.event(
        EventKind::SessionClose,
        Some(&format!("s-{MAX_PER_SERVER}")),
        T0,
    );
    assert_eq!(s.sessions(), MAX_PER_SERVER as u32);
}

#[test]
fn opens_beyond_the_stores_budget_are_counted_apart_from_those_without_an_id() {
    let mut s = Server {
        budget: SessionLimits::with_limit(1),
        ..Server::default()
    };
    s.event(EventKind::SessionOpen, Some("tracked"), T0)
        .event(EventKind::SessionOpen, Some("beyond"), T0)
        .event(EventKind::SessionOpen, None, T0);
    assert_eq!((s.sessions(), s.table.tracked()), (3, 1));
    assert!(s.budget.is_full());
    // A close without an id cancels the open without one; a close of an
    // unknown id cancels the one beyond the budget; then nothing more.
    s.event(EventKind::SessionClose, None, T0)
        .event(EventKind::SessionClose, None, T0);
    assert_eq!(s.sessions(), 2);
    s.event(EventKind::SessionClose, Some("beyond"), T0).event(
        EventKind::SessionClose,
        Some("stray"),
        T0,
    );
    assert_eq!(s.sessions(), 1, "the tracked one stays");
}

/// Ids whose buckets beyond the caps differ from each other's.
fn ids_in_distinct_buckets(n: usize) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    (0..)
        .map(|i| format!("id-{i}"))
        .filter(|id| {
            let parsed = SessionId::parse(id).expect("usable id");
            taken.insert(beyond::bucket_of(parsed))
        })
        .take(n)
        .collect()
}

/// A server tracking no id at all: every open with an id is beyond the caps.
fn past_the_caps() -> Server {
    Server {
        budget: SessionLimits::with_limit(0),
        ..Server::default()
    }
}

#[test]
fn past_the_caps_a_stray_close_cancels_only_an_open_of_its_own_bucket() {
    let [live, stray] = <[String; 2]>::try_from(ids_in_distinct_buckets(2)).expect("two ids");
    let mut s = past_the_caps();
    s.event(EventKind::SessionOpen, Some(&live), T0).event(
        EventKind::SessionClose,
        Some(&stray),
        T0,
    );
    assert_eq!(s.sessions(), 1, "a stray close in another bucket");
    s.event(EventKind::SessionClose, Some(&live), T0);
    assert_eq!(s.sessions(), 0, "its own close");
    assert_eq!(s.table.beyond_caps(SignalKind::Sessions), 0);
}

#[test]
fn past_the_caps_a_silent_unit_is_forgotten_and_a_request_keeps_it() {
    let [kept, silent] = <[String; 2]>::try_from(ids_in_distinct_buckets(2)).expect("two ids");
    let mut s = past_the_caps();
    s.event(EventKind::SessionOpen, Some(&kept), T0)
        .event(EventKind::SessionOpen, Some(&silent), T0)
        .event(EventKind::Request, Some(&kept), T0 + 20 * HOUR);
    assert_eq!(s.sessions(), 2);
    s.event(EventKind::Request, None, T0 + 24 * HOUR);
    assert_eq!(s.sessions(), 1, "the silent one is forgotten");
    s.event(EventKind::Request, None, T0 + 44 * HOUR);
    assert_eq!(s.sessions(), 0);
}

/// An id other than `of` that falls in `of`'s bucket.
fn same_bucket_as(of: &str) -> String {
    let bucket = beyond::bucket_of(SessionId::parse(of).expect("usable id"));
    (0..)
        .map(|i| format!("other-{i}"))
        .find(|id| beyond::bucket_of(SessionId::parse(id).expect("usable id")) == bucket)
        .expect("some id shares the bucket")
}

#[test]
fn past_the_caps_a_close_moves_its_pod_unless_it_cancelled_the_shared_count() {
    let close = |s: &mut Server, id: &str| {
        let id = SessionId::parse(id).expect("usable id");
        s.table.record(
            &mut s.signals,
            (EventKind::SessionClose, Some(id), T0),
            &s.budget,
        )
    };
    // In buckets: its own close frees its pod.
    let mut s = past_the_caps();
    s.event(EventKind::SessionOpen, Some("live"), T0);
    assert_eq!(close(&mut s, "live"), Counted::both(true));
    assert_eq!(close(&mut s, "live"), Counted::NOTHING, "nothing left");
    // Past the store's buckets: any close cancels the shared count, so no
    // pod moves (the open may have been on another).
    let mut s = Server {
        budget: SessionLimits::with_limit(0).with_bucket_limit(0),
        ..Server::default()
    };
    s.event(EventKind::SessionOpen, Some("live"), T0);
    assert_eq!(
        close(&mut s, "stray"),
        Counted {
            server: true,
            pod: false
        }
    );
}

#[test]
fn past_the_stores_buckets_opens_are_counted_in_one_share_and_buckets_are_given_back() {
    let mut s = Server {
        budget: SessionLimits::with_limit(0).with_bucket_limit(1),
        ..Server::default()
    };
    let [a, b, stray] = <[String; 3]>::try_from(ids_in_distinct_buckets(3)).expect("ids");
    s.event(EventKind::SessionOpen, Some(&a), T0)
        .event(EventKind::SessionOpen, Some(&b), T0);
    assert_eq!((s.sessions(), s.budget.buckets_used()), (2, 1));
    // The shared count takes any close of an unknown id, as before buckets.
    s.event(EventKind::SessionClose, Some(&stray), T0);
    assert_eq!(s.sessions(), 1);
    s.event(EventKind::SessionClose, Some(&a), T0);
    assert_eq!((s.sessions(), s.budget.buckets_used()), (0, 0));
}

#[test]
fn past_the_caps_requests_for_a_tracked_id_do_not_keep_another_ids_bucket() {
    let mut s = Server {
        budget: SessionLimits::with_limit(1),
        ..Server::default()
    };
    let tracked = "tracked";
    let beyond = same_bucket_as(tracked);
    s.event(EventKind::SessionOpen, Some(tracked), T0).event(
        EventKind::SessionOpen,
        Some(&beyond),
        T0,
    );
    assert_eq!((s.sessions(), s.table.tracked()), (2, 1));
    for hours in (10..=50).step_by(10) {
        s.event(EventKind::Request, Some(tracked), T0 + hours * HOUR);
    }
    assert_eq!(
        s.sessions(),
        1,
        "the silent one beyond the caps is forgotten"
    );
    assert_eq!(s.budget.buckets_used(), 0);
}

#[test]
fn a_table_that_emptied_gives_its_room_back_at_the_next_sweep() {
    let mut s = Server::default();
    for i in 0..1000 {
        s.event(EventKind::SessionOpen, Some(&format!("s-{i}")), T0);
    }
    let full = s.table.open.capacity();
    for i in 0..1000 {
        s.event(EventKind::SessionClose, Some(&format!("s-{i}")), T0);
    }
    s.event(EventKind::Request, None, T0 + HOUR);
    assert!(
        s.table.open.capacity() < full / 4,
        "{} of {full}",
        s.table.open.capacity()
    );
}

#[test]
fn unusable_ids_are_refused() {
    assert!(SessionId::parse("").is_none());
    assert!(SessionId::parse(&"x".repeat(MAX_ID_LEN + 1)).is_none());
    assert!(SessionId::parse("a\nb").is_none());
    assert!(SessionId::parse(&"x".repeat(MAX_ID_LEN)).is_some());
    assert_eq!(SessionId::parse("abc"), SessionId::parse("abc"));
    assert_ne!(SessionId::parse("abc"), SessionId::parse("abd"));
}

fn events() -> impl Strategy<Value = Vec<(u8, Option<u8>, u32)>> {
    // (kind 0..5, id among 4 or none, minutes after the previous event)
    prop::collection::vec((0u8..5, prop::option::of(0u8..4), 0u32..600), 0..80)
}

fn kind(k: u8) -> EventKind {
    match k {
        0 => EventKind::Request,
        1 => EventKind::SessionOpen,
        2 => EventKind::SessionClose,
        3 => EventKind::ConnectionOpen,
        _ => EventKind::ConnectionClose,
    }
}

fn feed(events: &[(u8, Option<u8>, u32)]) -> Server {
    let mut s = Server::default();
    let mut at = T0;
    for &(k, id, minutes) in events {
        at = at + Duration::from_secs(u64::from(minutes) * 60);
        let id = id.map(|i| format!("id-{i}"));
        s.event(kind(k), id.as_deref(), at);
    }
    s
}

proptest! {
    /// Past the caps, a close of an id whose bucket holds no open never
    /// lowers a count; the count is still the units open.
    #[test]
    fn past_the_caps_a_stray_close_never_hides_a_unit_of_another_bucket(
        events in events(),
    ) {
        let mut s = past_the_caps();
        let mut at = T0;
        let ids = ids_in_distinct_buckets(5);
        for &(k, id, minutes) in &events {
            at = at + Duration::from_secs(u64::from(minutes) * 60);
            s.event(kind(k), id.map(|i| ids[usize::from(i)].as_str()), at);
        }
        let before = s.signals.load.event_counts;
        prop_assert_eq!(
            before[SignalKind::Sessions.index()],
            s.table.anonymous[SignalKind::Sessions.index()]
                + s.table.beyond_caps(SignalKind::Sessions)
        );
        s.event(EventKind::SessionClose, Some(&ids[4]), at);
        prop_assert_eq!(s.signals.load.event_counts, before);
    }

    /// Each count is the units tracked by id plus those counted without
    /// one, and the store-wide budget holds exactly the tracked ones.
    #[test]
    fn counts_are_tracked_plus_untracked_units(events in events()) {
        let s = feed(&events);
        for signal in [SignalKind::Sessions, SignalKind::Connections] {
            let tracked = s.table.open.keys().filter(|(k, _)| *k == signal).count();
            let count = s.signals.load.event_count(signal);
            let untracked = s.table.anonymous[signal.index()] + s.table.beyond_caps(signal);
            prop_assert_eq!(count as usize, tracked + untracked as usize);
        }
        prop_assert_eq!(s.budget.used(), s.table.tracked());
    }

    /// A close of an id never opened never lowers a count but for opens
    /// beyond the caps (none here: the caps are far).
    #[test]
    fn a_close_of_an_unknown_id_never_lowers_a_tracked_count(events in events()) {
        let mut s = feed(&events);
        let beyond = s.table.beyond_caps(SignalKind::Sessions);
        let before = s.signals.load.event_counts;
        let last = s.signals.last_event.unwrap_or(T0);
        s.event(EventKind::SessionClose, Some("never-opened"), last);
        let after = s.signals.load.event_counts;
        let i = SignalKind::Sessions.index();
        prop_assert_eq!(beyond, 0);
        prop_assert_eq!(after[i], before[i]);
    }
}
