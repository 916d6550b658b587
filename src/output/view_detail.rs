//! The server page's text parts: the decision, its contributions, the
//! signals with their ages, the keep-alive plan, replicas and the recent
//! decision changes.

use super::detail::ServerDetail;
use super::view_html::{escape, opt, secs, yes_no};
use crate::engine::DataQuality;
use std::fmt::Write;

/// The decision in a few lines.
pub fn decision_block(out: &mut String, d: &ServerDetail) {
    let dec = &d.decision;
    // Unknown is never idle: no 0 or "no" from unavailable data.
    let (desired, active) = dec.shown();
    let _ = write!(
        out,
        "<dl id=decision><dt>active</dt><dd id=active>{}</dd><dt>desired replicas</dt>\
         <dd id=desired>{}</dd><dt>current / ready</dt><dd>{} / {}</dd><dt>reason</dt>\
         <dd id=reason>{}</dd><dt>driver</dt><dd>{}</dd><dt>data</dt><dd>{}</dd>\
         <dt>policy</dt><dd>{}</dd></dl>",
        yes_no(active),
        opt(desired),
        opt(d.replicas.as_ref().map(|r| r.current)),
        opt(d.replicas.as_ref().map(|r| r.ready)),
        dec.reason.name(),
        dec.driver.map_or("–", |m| m.name()),
        escape(&data_text(&dec.data)),
        escape(&d.policy),
    );
}

fn data_text(q: &DataQuality) -> String {
    match q {
        DataQuality::Fresh => "fresh".into(),
        DataQuality::EventsOnly => "events only".into(),
        DataQuality::Stale { age_ms, cause } => {
            format!(
                "stale ({}): {}",
                secs(*age_ms as f64 / 1000.0),
                cause.describe()
            )
        }
        DataQuality::Unavailable { cause, .. } => format!("unavailable: {}", cause.describe()),
    }
}

/// The tables below the charts.
pub fn tables(out: &mut String, d: &ServerDetail) {
    signals(out, d);
    contributions(out, d);
    keep_alive(out, d);
    changes(out, d);
    workloads(out, d);
    apply(out, d);
}

fn apply(out: &mut String, d: &ServerDetail) {
    let Some(a) = &d.apply else {
        return;
    };
    let last = a.last.as_ref().map_or_else(
        || "none yet".to_owned(),
        |l| {
            format!(
                "{} {} → {} ({}) at {}: {}",
                l.workload, l.from, l.to, l.reason, l.at, l.outcome
            )
        },
    );
    let _ = write!(
        out,
        "<section><h3>Apply mode</h3><dl id=apply><dt>this replica</dt><dd>{}</dd>\
         <dt>left alone</dt><dd>{}</dd><dt>last request</dt><dd>{}</dd></dl></section>",
        a.mode,
        escape(a.skipped.as_deref().unwrap_or("no")),
        escape(&last),
    );
}

fn signals(out: &mut String, d: &ServerDetail) {
    out.push_str(
        "<section><h3>Signals</h3><table id=signals><tr><th>signal</th><th>source</th>\
         <th>value</th><th>age</th></tr>",
    );
    for s in &d.signals {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td></tr>",
            s.signal,
            s.source,
            s.value.map_or_else(|| "–".into(), |v| format!("{v:.2}")),
            if s.held { " (held)" } else { "" },
            s.age_s.map_or_else(|| "–".into(), secs),
        );
    }
    out.push_str("</table></section>");
}

fn contributions(out: &mut String, d: &ServerDetail) {
    out.push_str(
        "<section><h3>What each metric needs</h3><table id=contributions><tr><th>metric</th>\
         <th>value</th><th>target</th><th>replicas</th></tr>",
    );
    for c in &d.decision.contributions {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>",
            c.metric.name(),
            c.value,
            c.target,
            c.replicas
        );
    }
    out.push_str("</table></section>");
}

fn keep_alive(out: &mut String, d: &ServerDetail) {
    let k = &d.keep_alive;
    let t = |v: &Option<String>| escape(v.as_deref().unwrap_or("–"));
    let _ = write!(
        out,
        "<section><h3>Keep-alive</h3><dl id=keep-alive><dt>plan</dt><dd>{}</dd>\
         <dt>last activity</dt><dd>{}</dd><dt>warm until</dt><dd>{}</dd>\
         <dt>pre-warm</dt><dd>{} → {}</dd></dl></section>",
        k.plan,
        t(&k.last_activity),
        t(&k.warm_until),
        t(&k.prewarm_from),
        t(&k.prewarm_until),
    );
}

fn changes(out: &mut String, d: &ServerDetail) {
    out.push_str(
        "<section><h3>Recent decision changes</h3><table id=changes><tr><th>at</th>\
         <th>desired</th><th>active</th><th>reason</th></tr>",
    );
    if d.recent_changes.is_empty() {
        out.push_str("<tr><td colspan=4 class=muted>None sampled yet.</td></tr>");
    }
    for c in d.recent_changes.iter().rev() {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.at),
            opt(c.desired),
            yes_no(c.active),
            c.reason.name(),
        );
    }
    out.push_str("</table></section>");
}

fn workloads(out: &mut String, d: &ServerDetail) {
    let Some(r) = &d.replicas else {
        return;
    };
    out.push_str("<section><h3>Workloads</h3><ul id=workloads>");
    for w in &r.workloads {
        let _ = write!(out, "<li>{} {}</li>", w.kind, escape(&w.name));
    }
    let _ = write!(
        out,
        "</ul><p class=muted>watch {}</p></section>",
        if r.live { "live" } else { "not live" }
    );
}
