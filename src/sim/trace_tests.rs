use super::*;
use crate::sim::recorded::{Recorded, SPILL_AFTER};
use crate::sim::workload::Fleet;

fn parse_events(text: &[u8], origin: &str) -> Result<Fleet, TraceError> {
    Recorded::from_events(text, origin, f64::INFINITY, SPILL_AFTER).map(|r| r.to_fleet())
}

fn parse_azure(text: &[u8], origin: &str, seed: u64) -> Result<Fleet, TraceError> {
    Recorded::from_azure(text, origin, seed, f64::INFINITY).map(|r| r.to_fleet())
}

const EVENTS: &str = "time_s,server,kind,session,service_s
2.5,weather,request,,0.2
0.5,weather,session_open,s1,
1.0,search,request,,
3.0,weather,session_close,s1,
";

#[test]
fn an_events_csv_becomes_a_time_sorted_fleet() {
    let fleet = parse_events(EVENTS.as_bytes(), "t.csv").expect("parses");
    assert_eq!(fleet.servers, ["weather", "search"]);
    let times: Vec<f64> = fleet.arrivals.iter().map(|a| a.t).collect();
    assert_eq!(times, [0.5, 1.0, 2.5, 3.0]);
    assert_eq!(fleet.arrivals[2].service_s, Some(0.2));
    assert_eq!(fleet.arrivals[0].session, fleet.arrivals[3].session);
}

#[test]
fn fields_and_the_header_are_read_without_surrounding_whitespace() {
    let padded = " time_s , server,kind ,session,service_s\n\
                  2.5 , weather ,request,, 0.2 \n\
                  0.5,weather , session_open ,\ts1 ,\n\
                  1.0,\u{a0}search\u{3000},request,,\n\
                  3.0,weather,session_close, s1,\n";
    let fleet = parse_events(padded.as_bytes(), "t.csv").expect("parses");
    let plain = parse_events(EVENTS.as_bytes(), "t.csv").expect("parses");
    assert_eq!(fleet.servers, plain.servers);
    assert_eq!(fleet.arrivals, plain.arrivals);
    let text = azure(&[" o , a ,f,http, 2 ,0"], 2);
    let azure = parse_azure(text.as_bytes(), "az.csv", 1).expect("parses");
    assert_eq!(azure.arrivals.len(), 2);
}

#[test]
fn bad_events_name_the_file_line_and_field() {
    let cases = [
        (
            "time_s,server,kind,session,colour\n",
            "t.csv:1: colour: unexpected column",
        ),
        ("time_s,server,kind\n", "t.csv:1: header"),
        (
            "time_s,server,kind,session,service_s\n1,a,request,,\nx,a,request,,\n",
            "t.csv:3: time_s:",
        ),
        (
            "time_s,server,kind,session,service_s\n1,Bad.Id,request,,\n",
            "t.csv:2: server:",
        ),
        (
            "time_s,server,kind,session,service_s\n1,a,explode,,\n",
            "t.csv:2: kind:",
        ),
        (
            "time_s,server,kind,session,service_s\n1,a,request,,-1\n",
            "t.csv:2: service_s:",
        ),
        (
            "time_s,server,kind,session,service_s\n1,a,request\n",
            "t.csv:2: row: has 3 fields",
        ),
        (
            "time_s,server,kind,session,service_s\n1,a,request,\"open,0.1\n2,a,request,,0.1\n",
            "t.csv:2: row: has 4 fields, expected 5 (a quoted field runs over lines here: \
             is a quote never closed?)",
        ),
    ];
    for (text, want) in cases {
        let err = parse_events(text.as_bytes(), "t.csv")
            .expect_err(text)
            .to_string();
        assert!(err.starts_with(want), "{err} should start with {want}");
    }
}

/// An Azure Functions file with `minutes` minute columns and `rows`.
pub(crate) fn azure(rows: &[&str], minutes: usize) -> String {
    let cols: Vec<String> = (1..=minutes).map(|m| m.to_string()).collect();
    format!(
        "HashOwner,HashApp,HashFunction,Trigger,{}\n{}\n",
        cols.join(","),
        rows.join("\n")
    )
}

#[test]
fn azure_counts_are_spread_within_their_minute_and_grouped_by_app() {
    let text = azure(
        &[
            "o1,a1,f1,http,2,0,1",
            "o1,a1,f2,timer,0,3,0",
            "o2,a9,f1,queue,1,1,1",
        ],
        3,
    );
    let fleet = parse_azure(text.as_bytes(), "az.csv", 7).expect("parses");
    assert_eq!(fleet.servers, ["app-0", "app-1"]);
    assert_eq!(fleet.arrivals.len(), 9);
    let minute_two_of_app0 = fleet
        .arrivals
        .iter()
        .filter(|a| a.server == 0 && (60.0..120.0).contains(&a.t))
        .count();
    assert_eq!(minute_two_of_app0, 3);
    assert_eq!(
        fleet,
        parse_azure(text.as_bytes(), "az.csv", 7).expect("again"),
        "same seed, same spread"
    );
}

/// The error reading `text` as an Azure file named `az.csv`.
fn azure_error(text: &str, why: &str) -> String {
    parse_azure(text.as_bytes(), "az.csv", 1)
        .expect_err(why)
        .to_string()
}

#[test]
fn bad_azure_files_name_the_line_and_column() {
    let bad_count = azure(&["o,a,f,http,1,x,1"], 3);
    let err = azure_error(&bad_count, "bad count");
    assert!(err.starts_with("az.csv:2: 2:"), "{err}");
    // More a minute than the simulator could hold in memory.
    let huge = azure(&["o,a,f,http,1,4294967295,1"], 3);
    let err = azure_error(&huge, "too many");
    assert!(
        err.starts_with("az.csv:2: 2: 4294967295 invocations in one minute; at most 600000"),
        "{err}"
    );
    // Rows of one app add up, and the bound holds for the sum.
    let split = azure(&["o,a,f1,http,1,400000,1", "o,a,f2,http,1,400000,1"], 3);
    let err = azure_error(&split, "too many in all");
    assert!(
        err.contains("minute 2: the rows of app-0 (HashOwner,HashApp pair number 1")
            && err.contains("add up to 800000 invocations in one minute"),
        "{err}"
    );
    // A file with no line ends is refused, not read into memory.
    let endless = std::io::Read::take(std::io::repeat(b'x'), 3 << 20);
    let err = crate::sim::trace::read_azure(endless, "zero", |_, _| {})
        .expect_err("endless")
        .to_string();
    assert!(
        err.starts_with("zero:1: ") && err.contains("longer than"),
        "{err}"
    );
    let err = azure_error("Owner,HashApp,HashFunction,Trigger,1\n", "bad header");
    assert!(
        err.starts_with("az.csv:1: Owner: expected column \"HashOwner\""),
        "{err}"
    );
    let err = azure_error("HashOwner,HashApp,HashFunction,Trigger,1,3\n", "gap");
    assert!(err.contains("expected minute column \"2\""), "{err}");
}
