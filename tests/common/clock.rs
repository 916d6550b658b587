//! The scaler's clock in integration tests: wall-clock time plus an offset
//! the test moves forward. Time a decision waits for (an idle window, an
//! age limit) then passes at once, while the real Prometheus and NATS keep
//! their own pace. With no jump it is the system clock.

use mcp_autoscaler::time::{Clock, SystemClock, Timestamp};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// System time plus a forward offset.
#[derive(Debug, Default)]
pub struct JumpClock {
    offset_ms: AtomicU64,
}

impl JumpClock {
    /// Moves the scaler's time forward by `by`, at once.
    pub fn jump(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).expect("a test-sized jump");
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for JumpClock {
    fn now(&self) -> Timestamp {
        SystemClock.now() + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}
