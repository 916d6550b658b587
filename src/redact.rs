//! Secrets out of logs and printed configs.
//!
//! Credentials belong in files and environment variables, but a URL can
//! still carry them (`http://user:pass@prometheus:9090`, `?token=…`) and an
//! extra header can be `Authorization`. Whatever logs or prints a URL or a
//! header goes through here first. Both helpers take any text, well-formed
//! or not, and never fail; when unsure they hide more rather than less.

use std::collections::BTreeMap;

/// What a hidden secret is shown as.
pub const REDACTED: &str = "***";

/// Query parameter names containing one of these (any case) are secrets.
const SECRET_PARAMS: [&str; 8] = [
    "token", "pass", "pwd", "secret", "key", "auth", "sig", "cred",
];

/// `url` with its userinfo and secret-looking query values replaced by
/// `***`; scheme, host, port and path are kept. Works on comma-separated
/// lists (`nats://a:b@n1:4222,nats://n2:4222`) and on text with no scheme.
pub fn redact_url(url: &str) -> String {
    let without_userinfo: Vec<String> = url.split("://").map(redact_authorities).collect();
    redact_query(&without_userinfo.join("://"))
}

/// Header names as they are, every value replaced by `***`.
pub fn redact_headers(headers: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    headers
        .keys()
        .map(|name| (name.clone(), REDACTED.to_owned()))
        .collect()
}

/// `part` begins with an authority (the text after `://`, or the whole input
/// when it has no scheme); after a query or fragment, each comma starts
/// another. Userinfo is everything up to the last `@` before `?` or `#`, so
/// an unescaped `@`, `/` or `,` in a password stays hidden (and a path with
/// an `@` loses its host and path too: more hidden, never less); an `@`
/// after a `?` or `#` and before the next comma means they were in the
/// password, unescaped, and it reaches that `@`.
fn redact_authorities(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    let mut rest = part;
    loop {
        let end = authority_end(rest);
        let (authority, tail) = rest.split_at(end);
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        let Some(comma) = tail.find(',') else {
            out.push_str(tail);
            return out;
        };
        out.push_str(&tail[..=comma]);
        rest = &tail[comma + 1..];
    }
}

/// Whether some URL in `text` has an `@` after a `?` or `#` (before the
/// next comma): a `?` or `#` left unescaped in a password, which parsers
/// read as the start of a query or fragment (and a host before it).
pub(crate) fn at_after_query(text: &str) -> bool {
    text.split("://").any(|part| {
        let end = authority_end(part);
        part[..end].contains(['?', '#'])
    })
}

/// Where the authority at the start of `rest` ends: at the first `?` or
/// `#` with no `@` after it before the next comma.
fn authority_end(rest: &str) -> usize {
    let mut from = 0;
    loop {
        let Some(mark) = rest[from..].find(['?', '#']).map(|i| from + i) else {
            return rest.len();
        };
        let tail = &rest[mark..];
        let until_comma = &tail[..tail.find(',').unwrap_or(tail.len())];
        match until_comma.rfind('@') {
            Some(at) => from = mark + at + 1,
            None => return mark,
        }
    }
}

/// Every `name=value` after a `?`, `&`, `;` or `#` whose name looks secret
/// gets its value replaced.
fn redact_query(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for (i, piece) in url.split_inclusive(['?', '&', ';', '#']).enumerate() {
        let (body, separator) = match piece.char_indices().last() {
            Some((at, '?' | '&' | ';' | '#')) => piece.split_at(at),
            _ => (piece, ""),
        };
        match body.split_once('=') {
            Some((name, _)) if i > 0 && is_secret_param(name) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(body),
        }
        out.push_str(separator);
    }
    out
}

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| name.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_hidden_and_the_rest_kept() {
        let cases = [
            (
                "http://user:pass@prometheus:9090",
                "http://***@prometheus:9090",
            ),
            ("nats://user:pass@nats:4222", "nats://***@nats:4222"),
            (
                "https://u:p@prom.example:443/api/v1?x=1",
                "https://***@prom.example:443/api/v1?x=1",
            ),
            ("nats://token@nats:4222", "nats://***@nats:4222"),
            ("http://[::1]:9090/p", "http://[::1]:9090/p"),
            ("http://prometheus:9090", "http://prometheus:9090"),
            ("http://host/path", "http://host/path"),
            ("http://host/path@x", "http://***@x"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn passwords_with_at_signs_commas_slashes_question_marks_or_hashes_stay_hidden() {
        for (url, secret) in [
            ("nats://u:p@ss@nats:4222", "p@ss"),
            ("nats://u:pa,ss@nats:4222", "pa,ss"),
            ("user:hunter2@prometheus:9090", "hunter2"),
            ("http://u:s3cr/et@h:1", "s3cr"),
            ("http://u:SECRETC#x@127.0.0.1:9/", "SECRETC"),
            ("nats://u:NSECRET2#x@127.0.0.1:4222", "NSECRET2"),
            ("http://u:a?b#c@h:1/p?q=1", "a?b"),
            ("u:pw?x@h:1", "pw"),
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains(secret), "{url} -> {shown}");
            assert!(shown.contains("***@"), "{url} -> {shown}");
        }
        // A query with no `@` still ends the authority.
        assert_eq!(redact_url("http://h:1/?x=1"), "http://h:1/?x=1");
    }

    #[test]
    fn every_url_of_a_list_is_redacted() {
        assert_eq!(
            redact_url("nats://a:b@n1:4222,nats://n2:4222,nats://c:d@n3:4222"),
            "nats://***@n1:4222,nats://n2:4222,nats://***@n3:4222"
        );
        assert_eq!(
            redact_url("http://n1/?x=1,c:d@n2:4222"),
            "http://n1/?x=1,***@n2:4222"
        );
    }

    #[test]
    fn secret_query_parameters_are_hidden() {
        assert_eq!(
            redact_url("http://h:9090/api?token=abc&org=7;Password=x#access_token=y"),
            "http://h:9090/api?token=***&org=7;Password=***#access_token=***"
        );
        assert_eq!(
            redact_url("http://h/?a=1?api_key=z"),
            "http://h/?a=1?api_key=***"
        );
    }

    #[test]
    fn malformed_input_never_panics() {
        for url in [
            "",
            "@",
            "://",
            ":///@",
            "@@@",
            "?",
            "?=",
            "&token",
            "a,b,,",
            "é@ü/ö?ß=1",
            "🔑:🔒@h",
            "http://",
            "http://@",
            "x?token=",
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains('🔒'), "{url} -> {shown}");
        }
        assert_eq!(redact_url("http://@"), "http://***@");
    }

    #[test]
    fn header_names_are_kept_and_values_hidden() {
        let headers = BTreeMap::from([
            ("Authorization".to_owned(), "Bearer s3cret".to_owned()),
            ("X-Scope-OrgID".to_owned(), "tenant".to_owned()),
        ]);
        let shown = redact_headers(&headers);
        assert_eq!(
            shown.keys().collect::<Vec<_>>(),
            ["Authorization", "X-Scope-OrgID"]
        );
        assert!(shown.values().all(|v| v == REDACTED));
    }
}
