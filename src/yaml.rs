//! YAML parsing with messages for the people who wrote the file: the
//! parser's advice to programmers (which function or option to use) is
//! replaced by what the file should hold, and the excerpt of the file it
//! adds is left out (the file may hold secrets; line and column remain).

use serde::de::DeserializeOwned;

/// Parses `text` as one YAML document of `T`; the error names the line and
/// column, and what is expected there.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str(text).map_err(|e| for_people(&e.to_string()))
}

/// Largest YAML file read (a config or scenario is a few kilobytes).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads `path` as text, refusing a file larger than [`MAX_FILE_BYTES`]
/// (`/dev/zero` would otherwise be read until memory runs out).
pub fn read_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(text)
}

/// The parser's message, rewritten where it speaks to a programmer.
fn for_people(message: &str) -> String {
    const REWRITES: [(&str, &str); 8] = [
        (
            "multiple YAML documents detected; use from_str_multiple or from_str_multiple_with_options",
            "a second YAML document (after `---`): the file must hold one",
        ),
        (
            ", set DuplicateKeyPolicy in Options if acceptable",
            ": each key may appear once",
        ),
        (
            "invalid u32",
            "expected a whole number from 0 to 4294967295",
        ),
        (
            "invalid u64",
            "expected a whole number from 0 to 18446744073709551615",
        ),
        ("invalid usize", "expected a whole number from 0"),
        (
            "expected a duration",
            "expected a duration such as 90s, 5m or 1h30m",
        ),
        (
            "expected string key for externally tagged enum",
            "expected a map with one key naming which kind (such as \
             `bearer_token_file: /path`; the README lists the kinds)",
        ),
        (
            "invalid socket address syntax",
            "expected an IP address and port such as 0.0.0.0:9090 (not a host name)",
        ),
    ];
    let message = message.strip_prefix("error: ").unwrap_or(message);
    message
        .lines()
        .take_while(|line| !starts_the_excerpt(line))
        .map(|line| {
            let line = outside_quotes(line, &REWRITES);
            if line.contains("://") {
                crate::redact::redact_url(&line)
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The parser's excerpt of the file (` --> <input>:1:5` and the lines
/// around the error) begins here: it is left out, as the file's lines may
/// hold secrets (a URL's password, a header) and the message already names
/// the line and column.
fn starts_the_excerpt(line: &str) -> bool {
    line.trim_start().starts_with("--> ")
}

/// `line` with `rewrites` made only outside double quotes (the file's own
/// values, which the parser quotes).
fn outside_quotes(line: &str, rewrites: &[(&str, &str)]) -> String {
    line.split('"')
        .enumerate()
        .map(|(i, part)| {
            let mut part = part.to_owned();
            if i % 2 == 0 {
                for (from, to) in rewrites {
                    part = part.replace(from, to);
                }
            }
            part
        })
        .collect::<Vec<_>>()
        .join("\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        name: Option<String>,
        count: Option<u32>,
        #[serde(default, with = "humantime_serde")]
        wait: Option<std::time::Duration>,
        addr: Option<std::net::SocketAddr>,
        kind: Option<Kind>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        #[allow(dead_code)]
        File(String),
    }

    #[test]
    fn messages_say_what_the_file_should_hold() {
        let cases = [
            ("name: a\n---\nname: b\n", "a second YAML document"),
            ("name: a\nname: b\n", "each key may appear once"),
            ("count: -5\n", "a whole number from 0 to 4294967295"),
            ("wait: 3600\n", "such as 90s, 5m or 1h30m"),
            (
                "addr: \"localhost:9090\"\n",
                "such as 0.0.0.0:9090 (not a host name)",
            ),
            ("kind: {}\n", "a map with one key naming which kind"),
        ];
        for (yaml, wanted) in cases {
            let e = parse::<Doc>(yaml).expect_err(yaml);
            assert!(e.contains(wanted), "{yaml}: {e}");
            assert!(!e.starts_with("error:"), "{e}");
            assert!(
                !e.contains("from_str_multiple") && !e.contains("Options"),
                "{e}"
            );
        }
        // A file past the bound is refused, not read into memory.
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("big.yaml");
        let file = std::fs::File::create(&big).expect("create");
        file.set_len(MAX_FILE_BYTES + 1).expect("size");
        let e = read_file(&big).expect_err("too large");
        assert!(e.to_string().contains("larger than"), "{e}");
        // The file's own words are quoted as they are.
        let e = parse::<Doc>("wait: \"invalid u32\"\n").expect_err("not a duration");
        assert!(e.contains("string \"invalid u32\""), "{e}");
        assert!(!e.contains("from 0 to 4294967295"), "{e}");
    }
}
