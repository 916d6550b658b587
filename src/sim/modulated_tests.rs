use super::*;
use proptest::prelude::*;

proptest! {
    #[test]
    fn the_diurnal_floor_is_never_above_the_shape(
        amplitude in -2.0f64..2.0,
        phase in 0.0f64..TAU,
        t in 0.0f64..1.0e7,
    ) {
        let shape = Diurnal { amplitude, phase };
        prop_assert!(shape.floor() <= shape.at(t), "{} > {}", shape.floor(), shape.at(t));
    }

    #[test]
    fn the_floor_at_its_tightest_still_holds(amplitude in 0.0f64..1.0) {
        // Where sin is −1 (a quarter day before the phase's zero), the
        // shape is at its least: the floor must not pass it by rounding.
        let shape = Diurnal { amplitude, phase: 0.0 };
        prop_assert!(shape.floor() <= shape.at(0.75 * 86_400.0));
    }

    /// The bound decides every candidate as evaluating the shape does,
    /// also for draws within a hair of the shape's value.
    #[test]
    fn an_anchored_shape_keeps_exactly_what_the_shape_keeps(
        amplitude in 0.0f64..=1.0,
        phase in 0.0f64..TAU,
        start in 0.0f64..(31.0 * 86_400.0),
        steps in prop::collection::vec((0.0f64..900.0, -1.0e-6f64..1.0e-6, any::<bool>()), 1..200),
    ) {
        let shape = Diurnal { amplitude, phase };
        let mut anchor = Anchor::NONE;
        let mut t = start;
        for (gap, offset, near) in steps {
            t += gap;
            let exact = shape.at(t);
            // Half the draws sit next to the value, the rest anywhere.
            let u = if near { exact + offset } else { (offset + 1.0e-6) * 1.0e6 * shape.peak() / 2.0 };
            prop_assert_eq!(anchor.below(shape, t, u), u < exact, "t {} u {} exact {}", t, u, exact);
            prop_assert!(!anchor.below(shape, t, exact), "a draw equal to the shape is not kept");
        }
    }
}
