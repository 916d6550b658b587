//! How the control loop as deployed acts on the engine's decisions: a
//! `StreamIsActive` push, KEDA's `IsActive` poll (activation and scale to
//! zero after the cooldown), the HPA's sync, or the direct actuator.

use super::{ServerSim, ts};
use crate::engine::hpa::MetricType;
use crate::engine::{Decision, MetricMode};
use crate::sim::scenario::{Activation, Actuator};

impl ServerSim<'_> {
    /// `StreamIsActive` re-decides; a new `true` wakes KEDA at once.
    pub(super) fn stream(&mut self) {
        let d = self.decide();
        if d.active && !self.pushed {
            self.activate(&d);
        }
        self.pushed = d.active;
    }

    pub(super) fn activate(&mut self, d: &Decision) {
        if self.run.wiring.activation == Activation::Oracle {
            return;
        }
        self.keda_last_active = Some(self.now);
        if self.spec() == 0 {
            let first = match self.run.wiring.actuator {
                Actuator::Hpa => self.run.policy.min_replicas.max(1),
                Actuator::Direct => d.desired.max(1),
            };
            self.scale_to(first);
        }
    }

    pub(super) fn keda_poll(&mut self) {
        if self.run.wiring.actuator == Actuator::Direct
            || self.run.wiring.activation == Activation::Oracle
        {
            return;
        }
        let d = self.decide();
        if d.active {
            self.activate(&d);
            return;
        }
        let cooldown = self
            .run
            .wiring
            .cooldown_period
            .unwrap_or(self.setup.scenario.control.cooldown_period)
            .as_secs_f64();
        let cooled = self
            .keda_last_active
            .is_none_or(|at| self.now - at >= cooldown);
        if self.spec() > 0 && self.run.policy.min_replicas == 0 && cooled {
            self.scale_to(0);
        }
    }

    pub(super) fn hpa_sync(&mut self) {
        let current = self.spec();
        if self.run.wiring.actuator != Actuator::Hpa || current == 0 {
            return;
        }
        let d = self.decide();
        let (metric, target) = match self.run.policy.metric_mode {
            MetricMode::Desired => (f64::from(d.desired), 1.0),
            MetricMode::Native => d
                .contributions
                .iter()
                .filter(|c| !c.metric.is_slo() && c.target > 0.0)
                .map(|c| (c.value, c.target))
                .max_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)))
                .unwrap_or((0.0, 1.0)),
        };
        let p = &self.run.policy;
        let n = self.hpa.sync(
            current,
            metric,
            target,
            MetricType::AverageValue,
            p.min_replicas,
            p.max_replicas,
            ts(self.now),
        );
        self.scale_to(n);
    }

    pub(super) fn direct(&mut self) {
        if self.run.wiring.actuator != Actuator::Direct {
            return;
        }
        let d = self.decide();
        if self.spec() == 0 {
            if d.active {
                self.activate(&d);
            }
        } else {
            self.scale_to(d.desired);
        }
    }
}
