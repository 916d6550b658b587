use super::*;
use crate::sim::erlang::{erlang_c, mean_wait};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};

/// Runs M/M/c for `n` arrivals; returns (P(wait > 0), mean wait, ∫ queue
/// length dt up to the last arrival, time of the last arrival).
fn mmc(c: u32, lambda: f64, mu: f64, n: usize, seed: u64) -> (f64, f64, f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (inter, service) = (Exp::new(lambda).expect("rate"), Exp::new(mu).expect("rate"));
    let mut st = Station::new(c, f64::INFINITY);
    let mut out = Vec::new();
    let mut now = 0.0;
    for _ in 0..n {
        now += inter.sample(&mut rng);
        st.advance(now, &mut out);
        st.arrive(now, service.sample(&mut rng), &mut out);
    }
    let area_at_last_arrival = st.queue_area();
    st.advance(f64::MAX / 2.0, &mut out);
    let waits: Vec<f64> = out
        .iter()
        .filter_map(|o| {
            if let Outcome::Served { wait, .. } = o {
                Some(*wait)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(waits.len(), n, "every request served");
    let waited = waits.iter().filter(|&&w| w > 1e-12).count() as f64 / n as f64;
    let mean = waits.iter().sum::<f64>() / n as f64;
    (waited, mean, area_at_last_arrival, now)
}

#[test]
fn mmc_waiting_probability_and_mean_wait_match_erlang_c_within_5_percent() {
    // (servers, λ, μ): utilisations 0.5 to 0.9.
    for (c, lambda, mu) in [
        (1, 0.5, 1.0),
        (4, 3.0, 1.0),
        (10, 8.0, 1.0),
        (20, 18.0, 1.0),
    ] {
        let (p_wait, w, _, _) = mmc(c, lambda, mu, 400_000, 7);
        let (p_exp, w_exp) = (erlang_c(c, lambda / mu), mean_wait(c, lambda, mu));
        assert!(
            (p_wait - p_exp).abs() / p_exp < 0.05,
            "c={c}: P(wait) {p_wait:.4} vs Erlang C {p_exp:.4}"
        );
        assert!(
            (w - w_exp).abs() / w_exp < 0.05,
            "c={c}: Wq {w:.4} vs {w_exp:.4}"
        );
    }
}

#[test]
fn littles_law_holds_for_the_queue() {
    let (_, w, area, horizon) = mmc(4, 3.0, 1.0, 200_000, 11);
    // L_q = λ W_q: time-average queue length against arrival rate × mean wait,
    // both measured in the same run.
    let lambda = 200_000.0 / horizon;
    let lq = area / horizon;
    assert!(
        (lq - lambda * w).abs() / (lambda * w) < 0.03,
        "L_q {lq:.4} vs λ W_q {:.4}",
        lambda * w
    );
}

#[test]
fn waiting_requests_time_out_and_are_reported() {
    let mut st = Station::new(1, 2.0);
    let mut out = Vec::new();
    st.arrive(0.0, 10.0, &mut out);
    st.arrive(1.0, 1.0, &mut out);
    st.advance(3.5, &mut out);
    assert_eq!(out, vec![Outcome::TimedOut { arrived: 1.0 }]);
    st.advance(10.0, &mut out);
    assert_eq!(
        out[1],
        Outcome::Served {
            arrived: 0.0,
            wait: 0.0,
            service: 10.0
        }
    );
}

#[test]
fn a_station_with_no_slots_queues_until_capacity_arrives() {
    let mut st = Station::new(0, 60.0);
    let mut out = Vec::new();
    st.arrive(0.0, 1.0, &mut out);
    st.advance(5.0, &mut out);
    assert!(out.is_empty());
    st.set_slots(5.0, 1, &mut out); // a replica became ready after a 5 s cold start
    st.advance(10.0, &mut out);
    assert_eq!(
        out,
        vec![Outcome::Served {
            arrived: 0.0,
            wait: 5.0,
            service: 1.0
        }]
    );
}

mod running {
    use super::super::{Running, from_order_key, order_key};
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// A total order on times, as the completion heap had it.
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct At(f64);
    impl Eq for At {}
    impl PartialOrd for At {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for At {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.total_cmp(&other.0)
        }
    }

    fn any_time() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(0.0),
            Just(-0.0),
            (0u32..20).prop_map(|n| f64::from(n) * 0.25),
        ]
    }

    proptest! {
        #[test]
        fn order_keys_sort_as_total_cmp_and_give_the_time_back(a in any_time(), b in any_time()) {
            prop_assert_eq!(order_key(a).cmp(&order_key(b)), a.total_cmp(&b));
            prop_assert_eq!(from_order_key(order_key(a)).to_bits(), a.to_bits());
        }

        /// Starts and finishes, interleaved, come out as from a min-heap of
        /// (end, arrival, start), equal ends included.
        #[test]
        fn requests_in_service_finish_as_the_f64_heap_had_them(
            ops in prop::collection::vec(prop::option::of((0u32..12, 0u32..12, 0u32..12)), 0..200),
        ) {
            let mut running = Running::default();
            let mut heap = BinaryHeap::new();
            for op in ops {
                match op {
                    Some((end, arrived, start)) => {
                        let (e, a, s) = (f64::from(end), f64::from(arrived), f64::from(start));
                        running.start(e, a, s);
                        heap.push(Reverse((At(e), At(a), At(s))));
                    }
                    None => {
                        let expected = heap.pop().map(|Reverse((e, a, s))| (e.0, a.0, s.0));
                        prop_assert_eq!(running.finish(), expected);
                    }
                }
                prop_assert_eq!(running.len(), heap.len());
                prop_assert_eq!(running.next_end(), heap.peek().map(|Reverse((e, _, _))| e.0));
            }
        }
    }
}

#[test]
fn requests_left_at_the_end_count_as_late_when_they_are_sure_to_miss() {
    // One slot, a 30 s queue timeout, an SLO of 2 s.
    let mut st = Station::new(1, 30.0);
    let mut out = Vec::new();
    st.arrive(0.0, 100.0, &mut out); // in service until 100 s: late
    st.arrive(1.0, 0.1, &mut out); // waiting since 1 s
    st.arrive(9.5, 0.1, &mut out); // waiting since 9.5 s
    st.advance(10.0, &mut out);
    assert_eq!((st.in_service(), st.queued()), (1, 2));
    assert_eq!(
        st.sure_to_miss(10.0, 2.0),
        2,
        "the long one and the 9 s wait"
    );
    let mut quick = Station::new(1, 30.0);
    quick.arrive(9.0, 0.5, &mut out);
    assert_eq!(quick.sure_to_miss(9.2, 2.0), 0, "may still make it");
}
