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
            start: 1,
        }
    }
}

impl<R: Read> Read for BoundedLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'"' {
                // A quoted field may hold line ends: a record ends only at
                // one outside quotes (`""` inside quotes toggles twice).
                self.quoted = !self.quoted;
            }
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
        let mut endless = BoundedLines::new(io::repeat(0).take(3 * MAX_LINE as u64));
        let e = endless.read_to_end(&mut Vec::new()).expect_err("bounded");
        let long = e.get_ref().and_then(|e| e.downcast_ref::<LineTooLong>());
        assert_eq!(long.map(|l| l.line), Some(1), "{e}");
        // A quote never closed runs over short lines: bounded all the same.
        let open_quote = "a\n1,\""
            .as_bytes()
            .chain(io::repeat(b'\n').take(3 * MAX_LINE as u64));
        let e = BoundedLines::new(open_quote)
            .read_to_end(&mut Vec::new())
            .expect_err("bounded");
        let long = e.get_ref().and_then(|e| e.downcast_ref::<LineTooLong>());
        assert_eq!(
            long.map(|l| l.line),
            Some(2),
            "the record's first line: {e}"
        );
    }
}
