//! A reader that refuses a record longer than a bound, so that a trace
//! without line ends (a binary file, `/dev/zero`) or with a quote never
//! closed is an error naming the line rather than a record that grows
//! until memory runs out.

use std::io::{self, Read};

/// Longest record (line, or lines joined by a quoted field) a trace may have: an Azure row of 1,440 minutes takes
/// about 15 KB.
pub const MAX_LINE: usize = 1 << 20;

/// A line past [`MAX_LINE`] bytes, and which (1-based).
#[derive(Debug, thiserror::Error)]
#[error("longer than {MAX_LINE} bytes: not a trace of the given format")]
pub struct LineTooLong {
    /// The line.
    pub line: u64,
}

/// `inner`, failing once a line runs past [`MAX_LINE`] bytes.
pub struct BoundedLines<R> {
    inner: R,
    /// Bytes since the last line end.
    run: usize,
    /// Lines ended so far (for the error).
    lines: u64,
    /// Inside a quoted field.
    quoted: bool,
    /// The byte before (a line end at the start).
    prev: u8,
    /// A quote just closed a quoted field (a second one is an escaped quote).
    just_closed: bool,
    /// The line the current record began on.
    start: u64,
}

impl<R: Read> BoundedLines<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            run: 0,
            lines: 0,
            quoted: false,
            prev: b'\n',
            just_closed: false,
            start: 1,
        }
    }
}

impl<R: Read> Read for BoundedLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            // A quoted field may hold line ends: a record ends only at one
            // outside quotes. As for csv, a quote opens a field only at its
            // start (inside an unquoted field it is a plain character), and
            // `""` inside quotes is an escaped quote.
            if b == b'"' {
                if self.quoted {
                    self.quoted = false;
                    self.just_closed = true;
                } else {
                    self.quoted = self.just_closed || matches!(self.prev, b',' | b'\n' | b'\r');
                    self.just_closed = false;
                }
            } else {
                self.just_closed = false;
            }
            self.prev = b;
            if b == b'\n' {
                self.lines += 1;
                if !self.quoted {
                    self.run = 0;
                    self.start = self.lines + 1;
                    continue;
                }
            }
            self.run += 1;
            if self.run > MAX_LINE {
                break;
            }
        }
        if self.run > MAX_LINE {
            let line = self.start;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                LineTooLong { line },
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_past_the_bound_is_an_error_and_ordinary_lines_pass() {
        let mut ok = String::new();
        BoundedLines::new("a,b\n1,2\n".as_bytes())
            .read_to_string(&mut ok)
            .expect("short lines");
        assert_eq!(ok, "a,b\n1,2\n");
        assert_eq!(
            too_long_at(io::repeat(0).take(3 * MAX_LINE as u64)),
            Some(1)
        );
        // A quote never closed runs over short lines: bounded all the same.
        let open_quote = "a\n1,\""
            .as_bytes()
            .chain(io::repeat(b'\n').take(3 * MAX_LINE as u64));
        assert_eq!(too_long_at(open_quote), Some(2), "the record's first line");
    }

    /// The line a record refused as too long began on, reading `input` to
    /// its end (`None`: read through).
    fn too_long_at(input: impl Read) -> Option<u64> {
        let e = BoundedLines::new(input)
            .read_to_end(&mut Vec::new())
            .err()?;
        let long = e.get_ref().and_then(|e| e.downcast_ref::<LineTooLong>());
        Some(long.expect("refused as too long").line)
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_a_plain_character() {
        // As csv reads it: `ab"c` is a field, and the records after it end
        // at their own line ends however many there are.
        let rows = "1,s1,session_open,ab\"c,\n"
            .as_bytes()
            .chain(io::repeat(b'\n').take(2 * MAX_LINE as u64));
        assert_eq!(too_long_at(rows), None, "a plain quote opens no field");
        // A quoted field with an escaped quote and a line end is one record.
        let record = "a,\"x \"\"y\"\" \nz\",b\n";
        let mut text = String::new();
        BoundedLines::new(record.as_bytes())
            .read_to_string(&mut text)
            .expect("escaped quote");
        assert_eq!(text, record, "passed through unchanged");
        let opened = "a,\"x\"\"\n"
            .as_bytes()
            .chain(io::repeat(b'\n').take(2 * MAX_LINE as u64));
        assert_eq!(
            too_long_at(opened),
            Some(1),
            "still open after an escaped quote"
        );
    }
}
