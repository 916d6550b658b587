use super::*;

fn t(secs: u64) -> Timestamp {
    Timestamp::from_millis(1_000_000 + secs * 1_000)
}

fn quiet() -> Behavior {
    Behavior {
        tolerance: 0.0,
        scale_up_window: Duration::ZERO,
        scale_down_window: Duration::ZERO,
        scale_up: RateLimit {
            pods: 1000,
            percent: 0.0,
            period: Duration::from_secs(15),
        },
        scale_down: RateLimit {
            pods: 1000,
            percent: 0.0,
            period: Duration::from_secs(15),
        },
        panic: None,
    }
}

#[test]
fn history_answers_the_value_in_force_and_prunes_what_it_no_longer_needs() {
    let mut h = History::default();
    h.push(t(0), 1);
    h.push(t(10), 1);
    h.push(t(20), 3);
    assert_eq!(h.value_at(t(5)), Some(1));
    assert_eq!(h.value_at(t(25)), Some(3));
    h.prune(t(21));
    assert_eq!(h.value_at(t(21)), Some(3));
    assert_eq!(h.0.len(), 1);
}

#[test]
fn changes_inside_the_tolerance_band_are_ignored() {
    let b = Behavior {
        tolerance: 0.1,
        ..quiet()
    };
    let mut m = Memory::default();
    assert_eq!(
        stabilize(21, 20, &b, &mut m, t(0)),
        (20, Some(Limit::Tolerance))
    );
    assert_eq!(stabilize(23, 20, &b, &mut m, t(1)), (23, None));
}

#[test]
fn scale_down_waits_for_the_highest_need_in_its_window() {
    let b = Behavior {
        scale_down_window: Duration::from_secs(60),
        ..quiet()
    };
    let mut m = Memory::default();
    stabilize(8, 8, &b, &mut m, t(0));
    assert_eq!(stabilize(2, 8, &b, &mut m, t(30)), (8, Some(Limit::Window)));
    assert_eq!(stabilize(2, 8, &b, &mut m, t(59)), (8, Some(Limit::Window)));
    assert_eq!(stabilize(2, 8, &b, &mut m, t(91)), (2, None));
}

#[test]
fn a_ten_minute_window_holds_its_peak_through_a_need_that_changes_every_slot() {
    let b = Behavior {
        scale_down_window: Duration::from_secs(600),
        ..quiet()
    };
    let mut m = Memory::default();
    let mut current = stabilize(30, 1, &b, &mut m, t(0)).0;
    assert_eq!(current, 30);
    // The need alternates 3 and 4 every 5 s slot: 120 changes in 10 min.
    for step in 1..=119u64 {
        let need = 3 + u32::try_from(step % 2).expect("small");
        current = stabilize(need, current, &b, &mut m, t(step * 5)).0;
        assert_eq!(current, 30, "at {} s the peak is in the window", step * 5);
    }
    current = stabilize(3, current, &b, &mut m, t(605)).0;
    assert!(current < 30, "past the window: {current}");
}

#[test]
fn scale_up_is_rate_limited_per_period() {
    let b = Behavior {
        scale_up: RateLimit {
            pods: 4,
            percent: 100.0,
            period: Duration::from_secs(15),
        },
        ..quiet()
    };
    let mut m = Memory::default();
    stabilize(2, 2, &b, &mut m, t(0));
    assert_eq!(
        stabilize(50, 2, &b, &mut m, t(20)),
        (6, Some(Limit::Rate)),
        "max(4 pods, 100% of 2)"
    );
    assert_eq!(
        stabilize(50, 6, &b, &mut m, t(40)),
        (12, Some(Limit::Rate)),
        "100% of 6"
    );
}

#[test]
fn a_burst_starts_a_panic_that_forbids_scaling_down() {
    let b = Behavior {
        panic: Some(Panic {
            threshold: 2.0,
            window: Duration::from_secs(60),
        }),
        ..quiet()
    };
    let mut m = Memory::default();
    assert_eq!(stabilize(10, 4, &b, &mut m, t(0)), (10, None));
    assert_eq!(
        stabilize(3, 10, &b, &mut m, t(30)),
        (10, Some(Limit::Panic))
    );
    assert_eq!(stabilize(3, 10, &b, &mut m, t(61)), (3, None), "panic over");
}

#[test]
fn waking_from_zero_is_never_held_back() {
    let mut m = Memory::default();
    assert_eq!(
        stabilize(7, 0, &Behavior::default(), &mut m, t(0)),
        (7, None)
    );
}

#[test]
fn every_window_period_and_amount_is_bounded_and_named() {
    type Mutation = fn(&mut Behavior);
    let day = crate::engine::limits::MAX_WINDOW;
    let cases: [(&str, Mutation); 7] = [
        ("behavior.scale_up_window", |b| {
            b.scale_up_window = Duration::MAX
        }),
        ("behavior.scale_down_window", |b| {
            b.scale_down_window = Duration::from_secs(25 * 3600)
        }),
        ("behavior.scale_down.period", |b| {
            b.scale_down.period = Duration::MAX
        }),
        ("behavior.scale_up.percent", |b| {
            b.scale_up.percent = f64::INFINITY
        }),
        ("behavior.scale_up.pods", |b| b.scale_up.pods = u32::MAX),
        ("behavior.panic.threshold", |b| {
            b.panic = Some(Panic {
                threshold: f64::MAX,
                window: Duration::from_secs(60),
            })
        }),
        ("behavior.panic.window", |b| {
            b.panic = Some(Panic {
                threshold: 2.0,
                window: Duration::MAX,
            })
        }),
    ];
    for (field, mutate) in cases {
        let mut b = Behavior::default();
        mutate(&mut b);
        let e = b.validate().expect_err(field);
        assert_eq!(e.field, field, "{e}");
    }
    let longest = Behavior {
        scale_down_window: day,
        scale_up: RateLimit {
            period: day,
            ..Behavior::default().scale_up
        },
        ..Behavior::default()
    };
    assert_eq!(
        longest.validate(),
        Ok(()),
        "the bounds themselves are allowed"
    );
}
