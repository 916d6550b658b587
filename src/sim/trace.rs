//! Trace replay inputs.
//!
//! - Events CSV, header `time_s,server,kind,session,service_s`: one event per
//!   row; `kind` is `request`, `session_open` or `session_close`; `session`
//!   and `service_s` may be empty.
//! - Azure Functions 2019 invocation counts, header
//!   `HashOwner,HashApp,HashFunction,Trigger,1,...,1440`: per-minute counts
//!   per function. Functions of one app form one server (`app-N`, numbered
//!   by first appearance); each minute's invocations are spread uniformly
//!   over the minute (see [`super::recorded`]).
//!
//! Every error names the file, the line and the field.

use super::spill::Record;
use super::trace_lines::{BoundedLines, LineTooLong};
use crate::id::ServerId;
use crate::signal::EventKind;
use std::collections::HashMap;
use std::io::Read;

/// A trace that cannot be used: where, which field, and why.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct TraceError {
    /// The file (or other origin).
    pub file: String,
    /// 1-based line.
    pub line: u64,
    /// The column at fault.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

const EVENT_COLUMNS: [&str; 5] = ["time_s", "server", "kind", "session", "service_s"];

/// What is wrong with a record of the wrong width; a field that holds a
/// line end (a quoted field that ran on) points at a quote never closed.
fn field_count(r: &csv::StringRecord, expected: usize) -> String {
    let joined = r.iter().any(|f| f.contains('\n'));
    let hint = if joined {
        " (a quoted field runs over lines here: is a quote never closed?)"
    } else {
        ""
    };
    format!("has {} fields, expected {expected}{hint}", r.len())
}

struct Origin<'a>(&'a str);

impl Origin<'_> {
    /// A CSV-level error (bad quoting, bad UTF-8) at its line.
    fn row_error(&self, e: &csv::Error) -> TraceError {
        let too_long = match e.kind() {
            csv::ErrorKind::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<LineTooLong>()),
            _ => None,
        };
        if let Some(long) = too_long {
            return self.err(long.line, "row", long.to_string());
        }
        self.err(
            e.position().map_or(0, csv::Position::line),
            "row",
            e.to_string(),
        )
    }

    fn err(&self, line: u64, field: &str, message: impl Into<String>) -> TraceError {
        TraceError {
            file: self.0.to_owned(),
            line,
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// A CSV reader and its header row, trimmed. Rows are not trimmed by the
/// reader (csv's trim copies every record): each field read is trimmed
/// where it is used, of the same (Unicode) whitespace csv's trim removes.
fn open<R: Read>(
    input: R,
    o: &Origin<'_>,
) -> Result<(csv::Reader<BoundedLines<R>>, csv::StringRecord), TraceError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(BoundedLines::new(input));
    let header = rdr
        .headers()
        .map_err(|e| o.err(1, "header", e.to_string()))?
        .iter()
        .map(str::trim)
        .collect();
    Ok((rdr, header))
}

/// Field `i` of `r` without surrounding whitespace ("" if absent).
fn field(r: &csv::StringRecord, i: usize) -> &str {
    r.get(i).map_or("", str::trim)
}

fn line_of(record: &csv::StringRecord) -> u64 {
    record.position().map_or(0, csv::Position::line)
}

/// Reads an events CSV, handing each valid row to `each` (in file order);
/// returns the server names in order of first appearance.
pub fn read_events(
    input: impl Read,
    origin: &str,
    mut each: impl FnMut(Record) -> Result<(), TraceError>,
) -> Result<Vec<String>, TraceError> {
    let o = Origin(origin);
    let (mut rdr, header) = open(input, &o)?;
    for (i, name) in header.iter().enumerate() {
        if EVENT_COLUMNS.get(i) != Some(&name) {
            let msg = format!(
                "unexpected column {name:?}; the header must be {}",
                EVENT_COLUMNS.join(",")
            );
            return Err(o.err(1, name, msg));
        }
    }
    if header.len() != EVENT_COLUMNS.len() {
        return Err(o.err(1, "header", format!("must be {}", EVENT_COLUMNS.join(","))));
    }
    let mut servers = Servers::default();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(true) => each(event_row(&o, &record, &mut servers)?)?,
            Ok(false) => return Ok(servers.names),
            Err(e) => return Err(o.row_error(&e)),
        }
    }
}

/// Server names to indices, in order of first appearance.
#[derive(Default)]
struct Servers {
    index: HashMap<String, u32>,
    names: Vec<String>,
}

impl Servers {
    /// The index of server `name`, checked as a server id the first time
    /// it appears (later rows cost a lookup, no allocation).
    fn intern_server(&mut self, name: &str) -> Result<u32, String> {
        if let Some(&i) = self.index.get(name) {
            return Ok(i);
        }
        let id = ServerId::parse(name).map_err(|e| e.to_string())?;
        Ok(self.intern(id.as_str()))
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.index.insert(name.to_owned(), i);
        self.names.push(name.to_owned());
        i
    }
}

/// A session id as a number: the simulator only tells sessions apart.
fn session_hash(session: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    session.hash(&mut h);
    h.finish()
}

fn event_row(
    o: &Origin<'_>,
    r: &csv::StringRecord,
    servers: &mut Servers,
) -> Result<Record, TraceError> {
    let line = line_of(r);
    if r.len() != EVENT_COLUMNS.len() {
        return Err(o.err(line, "row", field_count(r, EVENT_COLUMNS.len())));
    }
    // `+ 0.0` turns -0 into 0, which sorts first.
    let t: f64 = field(r, 0)
        .parse()
        .ok()
        .map(|t: f64| t + 0.0)
        .filter(|t: &f64| t.is_finite() && *t >= 0.0)
        .ok_or_else(|| {
            o.err(
                line,
                "time_s",
                format!("{:?} is not a number of seconds >= 0", field(r, 0)),
            )
        })?;
    let server = servers
        .intern_server(field(r, 1))
        .map_err(|e| o.err(line, "server", e))?;
    let kind = match field(r, 2) {
        "request" => EventKind::Request,
        "session_open" => EventKind::SessionOpen,
        "session_close" => EventKind::SessionClose,
        "connection_open" => EventKind::ConnectionOpen,
        "connection_close" => EventKind::ConnectionClose,
        other => {
            return Err(o.err(
                line,
                "kind",
                format!(
                    "{other:?} is not request, session_open, session_close, \
                     connection_open or connection_close"
                ),
            ));
        }
    };
    let service_s = match field(r, 4) {
        "" => None,
        s => Some(
            s.parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .ok_or_else(|| {
                    o.err(
                        line,
                        "service_s",
                        format!("{s:?} is not a positive number of seconds"),
                    )
                })?,
        ),
    };
    Ok(Record {
        t,
        server,
        kind: Record::code(kind),
        session: Some(field(r, 3))
            .filter(|s| !s.is_empty())
            .map(session_hash),
        service_s,
    })
}

/// Most invocations one Azure row may count in a minute: 10,000 a second,
/// the simulator's highest synthetic rate (each queued request is held).
pub const MAX_AZURE_PER_MINUTE: u32 = 600_000;

/// Most minute columns an Azure file may have (one day).
pub const AZURE_MINUTES: usize = 1440;

/// Reads Azure Functions 2019 per-minute invocation counts, handing each
/// row's server (functions of one app are one server) and its non-zero
/// minutes (0-based minute, count) to `each`; returns the server names.
pub fn read_azure(
    input: impl Read,
    origin: &str,
    mut each: impl FnMut(u32, &[(u16, u32)]),
) -> Result<Vec<String>, TraceError> {
    let o = Origin(origin);
    let (mut rdr, header) = open(input, &o)?;
    let minutes = azure_header(&o, &header)?;
    let mut apps = Servers::default();
    let mut names = Vec::new();
    let mut counts = Vec::new();
    // owner/app: the server's key, built in one buffer for every row.
    let mut key = String::new();
    let mut r = csv::StringRecord::new();
    while rdr.read_record(&mut r).map_err(|e| o.row_error(&e))? {
        let line = line_of(&r);
        if r.len() != 4 + minutes {
            return Err(o.err(line, "row", field_count(&r, 4 + minutes)));
        }
        key.clear();
        key.push_str(field(&r, 0));
        key.push('/');
        key.push_str(field(&r, 1));
        let server = apps.intern(&key);
        if server as usize == names.len() {
            names.push(format!("app-{server}"));
        }
        counts.clear();
        for m in 0..minutes {
            let column = &header[4 + m];
            let text = field(&r, 4 + m);
            let count: u32 = text.parse().map_err(|_| {
                o.err(
                    line,
                    column,
                    format!("{text:?} is not a whole number of invocations"),
                )
            })?;
            if count > MAX_AZURE_PER_MINUTE {
                return Err(o.err(
                    line,
                    column,
                    format!("{count} invocations in one minute; at most {MAX_AZURE_PER_MINUTE} (10,000 a second)"),
                ));
            }
            if count > 0 {
                counts.push((m as u16, count));
            }
        }
        each(server, &counts);
    }
    Ok(names)
}

/// Checks `HashOwner,HashApp,HashFunction,Trigger,1,2,...`; returns the minute count.
fn azure_header(o: &Origin<'_>, header: &csv::StringRecord) -> Result<usize, TraceError> {
    let fixed = ["HashOwner", "HashApp", "HashFunction", "Trigger"];
    for (i, want) in fixed.iter().enumerate() {
        let got = header.get(i).unwrap_or("");
        if got != *want {
            return Err(o.err(1, got, format!("expected column {want:?}: the header must be HashOwner,HashApp,HashFunction,Trigger,1,...,1440")));
        }
    }
    for (m, name) in header.iter().skip(4).enumerate() {
        if name != (m + 1).to_string() {
            return Err(o.err(1, name, format!("expected minute column \"{}\"", m + 1)));
        }
    }
    match header.len() - 4 {
        0 => Err(o.err(1, "header", "no minute columns")),
        n if n > AZURE_MINUTES => Err(o.err(1, "header", "more than 1440 minute columns")),
        n => Ok(n),
    }
}

#[cfg(test)]
#[path = "trace_tests.rs"]
pub(crate) mod tests;
