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
}
