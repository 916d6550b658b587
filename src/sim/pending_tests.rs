use super::*;
use proptest::prelude::*;

/// Groups of (time, kind) events, each sealed as its own session, drawn
/// and taken interleaved: `takes[i]` events are taken (before `limit`)
/// after group `i` is sealed.
type Groups = Vec<Vec<(f64, u8)>>;

fn groups() -> impl Strategy<Value = (Groups, Vec<usize>, f64)> {
    // Few distinct times, so that equal times are common.
    let event = (0u32..40, 0u8..3).prop_map(|(t, k)| (f64::from(t) * 0.5, k));
    let group = prop::collection::vec(event, 0..12);
    (
        prop::collection::vec(group, 1..30),
        prop::collection::vec(0usize..8, 30),
        0.0f64..25.0,
    )
}

/// What one heap of every event takes: the least (time, rank, push
/// number) first, while it sorts before `(limit, OPEN)`.
/// `None` marks where a round of takes stopped short.
fn reference(groups: &Groups, takes: &[usize], limit: f64) -> Vec<Option<(f64, u8, u32)>> {
    let mut waiting: Vec<(u64, u8, u64, u32)> = Vec::new();
    let (mut seq, mut out) = (0u64, Vec::new());
    for (g, events) in groups.iter().enumerate() {
        for &(t, kind) in events {
            seq += 1;
            waiting.push((t.to_bits(), kind, seq, g as u32));
        }
        for _ in 0..takes[g] {
            waiting.sort_unstable();
            match waiting.first() {
                Some(&(bits, kind, _, s)) if (bits, kind) < (limit.to_bits(), OPEN) => {
                    waiting.remove(0);
                    out.push(Some((f64::from_bits(bits), kind, s)));
                }
                _ => {
                    out.push(None);
                    break;
                }
            }
        }
    }
    waiting.sort_unstable();
    out.extend(
        waiting
            .into_iter()
            .map(|(bits, kind, _, s)| Some((f64::from_bits(bits), kind, s))),
    );
    out
}

proptest! {
    /// Grouped, the events come out exactly as from one heap of them all:
    /// by time, then rank, then push order, whatever the interleaving of
    /// drawing and taking (a slot freed by one group is reused by the
    /// next), and a take finds nothing exactly when that heap would.
    #[test]
    fn grouped_events_come_out_as_one_heap_of_them_all((groups, takes, limit) in groups()) {
        let mut pending = Pending::default();
        let mut out = Vec::new();
        for (g, events) in groups.iter().enumerate() {
            for &(t, kind) in events {
                pending.push(t, kind);
            }
            pending.seal(g as u32);
            for _ in 0..takes[g] {
                let taken = pending.pop_before(limit, OPEN);
                out.push(taken);
                if taken.is_none() {
                    break;
                }
            }
        }
        while let Some(e) = pending.pop_before(f64::INFINITY, OPEN) {
            out.push(Some(e));
        }
        prop_assert_eq!(out, reference(&groups, &takes, limit));
        prop_assert!(pending.heads.is_empty());
    }
}

#[test]
fn an_event_at_the_limit_waits_unless_it_ranks_before_it() {
    let mut pending = Pending::default();
    pending.push(5.0, OPEN);
    pending.push(5.0, REQUEST);
    pending.seal(3);
    assert_eq!(pending.pop_before(5.0, OPEN), None);
    assert_eq!(pending.pop_before(5.0, REQUEST), Some((5.0, OPEN, 3)));
    assert_eq!(pending.pop_before(5.0, REQUEST), None);
    assert_eq!(pending.pop_before(5.0, CLOSE), Some((5.0, REQUEST, 3)));
}

#[test]
fn an_empty_group_adds_nothing_and_a_freed_slot_is_reused() {
    let mut pending = Pending::default();
    pending.seal(1);
    assert_eq!(pending.pop_before(f64::INFINITY, OPEN), None);
    pending.push(1.0, REQUEST);
    pending.seal(2);
    assert_eq!(
        pending.pop_before(f64::INFINITY, OPEN),
        Some((1.0, REQUEST, 2))
    );
    pending.push(2.0, REQUEST);
    pending.seal(4);
    assert_eq!(
        pending.groups.len(),
        1,
        "the emptied group's slot was reused"
    );
    assert_eq!(
        pending.pop_before(f64::INFINITY, OPEN),
        Some((2.0, REQUEST, 4))
    );
}
