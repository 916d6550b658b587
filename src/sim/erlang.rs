//! Closed-form M/M/c results, to check the simulator against.

/// Erlang C: the probability that an arrival waits, for `servers` servers
/// and offered load `a` = λ / μ erlangs (requires a < servers).
pub fn erlang_c(servers: u32, a: f64) -> f64 {
    let c = f64::from(servers);
    if a >= c {
        return 1.0;
    }
    // Erlang B by the stable recurrence, then C from B.
    let mut b = 1.0;
    for k in 1..=servers {
        b = a * b / (f64::from(k) + a * b);
    }
    c * b / (c - a * (1.0 - b))
}

/// Mean wait in queue for M/M/c: C(c, a) / (c μ − λ).
pub fn mean_wait(servers: u32, arrival_rate: f64, service_rate: f64) -> f64 {
    let a = arrival_rate / service_rate;
    erlang_c(servers, a) / (f64::from(servers) * service_rate - arrival_rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_textbook_values() {
        // One server: P(wait) = utilisation.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // c = 2, a = 1: C = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        // c = 10, a = 8: C ≈ 0.4092 (standard tables).
        assert!((erlang_c(10, 8.0) - 0.4092).abs() < 5e-4);
        // M/M/1, λ = 0.5, μ = 1: Wq = ρ / (μ − λ) = 1.
        assert!((mean_wait(1, 0.5, 1.0) - 1.0).abs() < 1e-12);
    }
}
