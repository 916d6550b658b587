//! A recorded trace's events grouped by server and sorted by time, held in
//! bounded memory: up to [`Sorter::new`]'s chunk of events in memory; past
//! that, sorted runs go to temporary files and are merged into one file
//! that each server's events are read back from as they are consumed. A
//! trace that fits in one chunk never touches the disk. The directory is
//! made under `$TMPDIR` (else `/tmp`) and removed with the records.
//!
//! Order: by server, then time; events of one server at one time keep the
//! order they had in the file.

use crate::signal::EventKind;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// One event of a recorded trace, as it is sorted and stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    /// Seconds from the start (finite, ≥ 0).
    pub t: f64,
    /// The server's index.
    pub server: u32,
    /// What happens ([`Record::code`]).
    pub kind: u8,
    /// A hash of the session it belongs to, if any.
    pub session: Option<u64>,
    /// Work it needs, if the trace says.
    pub service_s: Option<f64>,
}

/// Bytes of one stored record.
const SIZE: usize = 32;
/// Runs merged at once (each holds a read buffer and a file).
const FAN_IN: usize = 64;
/// Read and write buffers.
const BUFFER: usize = 64 * 1024;

impl Record {
    /// How an event kind is stored.
    pub fn code(kind: EventKind) -> u8 {
        match kind {
            EventKind::Request => 0,
            EventKind::SessionOpen => 1,
            EventKind::SessionClose => 2,
            EventKind::ConnectionOpen => 3,
            EventKind::ConnectionClose => 4,
        }
    }

    /// The event kind this record stores.
    pub fn event_kind(&self) -> EventKind {
        match self.kind {
            1 => EventKind::SessionOpen,
            2 => EventKind::SessionClose,
            3 => EventKind::ConnectionOpen,
            4 => EventKind::ConnectionClose,
            _ => EventKind::Request,
        }
    }

    fn key(&self) -> (u32, u64) {
        (self.server, self.t.to_bits())
    }

    fn encode(&self) -> [u8; SIZE] {
        let mut b = [0u8; SIZE];
        b[0..8].copy_from_slice(&self.t.to_le_bytes());
        b[8..12].copy_from_slice(&self.server.to_le_bytes());
        b[12] = self.kind;
        b[13] = u8::from(self.session.is_some()) | (u8::from(self.service_s.is_some()) << 1);
        b[16..24].copy_from_slice(&self.session.unwrap_or(0).to_le_bytes());
        b[24..32].copy_from_slice(&self.service_s.unwrap_or(0.0).to_le_bytes());
        b
    }

    fn decode(b: &[u8; SIZE]) -> Self {
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[at..at + 8]);
            w
        };
        let mut server = [0u8; 4];
        server.copy_from_slice(&b[8..12]);
        Self {
            t: f64::from_le_bytes(word(0)),
            server: u32::from_le_bytes(server),
            kind: b[12],
            session: (b[13] & 1 != 0).then(|| u64::from_le_bytes(word(16))),
            service_s: (b[13] & 2 != 0).then(|| f64::from_le_bytes(word(24))),
        }
    }
}

/// Collects records, spilling sorted runs to disk past a chunk.
#[derive(Debug)]
pub struct Sorter {
    chunk: usize,
    buffer: Vec<Record>,
    dir: Option<tempfile::TempDir>,
    runs: Vec<PathBuf>,
    /// Files made so far (each gets a new name).
    files: u64,
}

impl Sorter {
    /// At most `chunk` records in memory at once.
    pub fn new(chunk: usize) -> Self {
        Self {
            chunk: chunk.max(1),
            buffer: Vec::new(),
            dir: None,
            runs: Vec::new(),
            files: 0,
        }
    }

    /// Adds one record.
    pub fn push(&mut self, r: Record) -> io::Result<()> {
        if self.buffer.len() >= self.chunk {
            self.spill()?;
        }
        self.buffer.push(r);
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        self.buffer.sort_by_key(Record::key);
        let path = self.next_path()?;
        let mut out = BufWriter::with_capacity(BUFFER, File::create(&path)?);
        for r in self.buffer.drain(..) {
            out.write_all(&r.encode())?;
        }
        out.flush()?;
        self.runs.push(path);
        Ok(())
    }

    fn next_path(&mut self) -> io::Result<PathBuf> {
        if self.dir.is_none() {
            self.dir = Some(tempfile::Builder::new().prefix("mcp-sim-trace").tempdir()?);
        }
        let dir = self
            .dir
            .as_ref()
            .map_or_else(std::env::temp_dir, |d| d.path().to_owned());
        self.files += 1;
        Ok(dir.join(format!("run-{}", self.files)))
    }

    /// Every record, grouped by server (`servers` of them) and sorted.
    pub fn finish(mut self, servers: usize) -> io::Result<Grouped> {
        if self.runs.is_empty() {
            self.buffer.sort_by_key(Record::key);
            let mut ranges = Ranges::new(servers);
            for r in &self.buffer {
                ranges.add(r.server);
            }
            return Ok(Grouped {
                storage: Storage::Memory(self.buffer),
                ranges: ranges.0,
            });
        }
        if !self.buffer.is_empty() {
            self.spill()?;
        }
        let mut runs = std::mem::take(&mut self.runs);
        // Level by level, neighbours together, so that earlier runs stay
        // first (ties keep the file's order).
        while runs.len() > FAN_IN {
            let mut level = Vec::with_capacity(runs.len().div_ceil(FAN_IN));
            for group in runs.chunks(FAN_IN) {
                let path = self.next_path()?;
                write_merged(group, &path, |_| {})?;
                level.push(path);
            }
            runs = level;
        }
        let path = self.next_path()?;
        let mut ranges = Ranges::new(servers);
        write_merged(&runs, &path, |r| ranges.add(r.server))?;
        Ok(Grouped {
            storage: Storage::Disk {
                _dir: self.dir,
                path,
            },
            ranges: ranges.0,
        })
    }
}

/// (first record, count) of each server, built from sorted records.
struct Ranges(Vec<(u64, u64)>, u64);

impl Ranges {
    fn new(servers: usize) -> Self {
        Self(vec![(0, 0); servers], 0)
    }
    fn add(&mut self, server: u32) {
        if let Some(r) = self.0.get_mut(server as usize) {
            if r.1 == 0 {
                r.0 = self.1;
            }
            r.1 += 1;
        }
        self.1 += 1;
    }
}

/// Merges `runs` into a new file at `path` (removing the runs), telling
/// `each` every record written.
fn write_merged(runs: &[PathBuf], path: &Path, mut each: impl FnMut(&Record)) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(BUFFER, File::create(path)?);
    merge(runs, |r| {
        each(&r);
        out.write_all(&r.encode())
    })?;
    out.flush()?;
    for p in runs {
        // Space back early; the directory goes at the end in any case.
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

/// Merges sorted runs; on equal keys the earlier run first.
fn merge(runs: &[PathBuf], mut emit: impl FnMut(Record) -> io::Result<()>) -> io::Result<()> {
    let mut readers = runs
        .iter()
        .map(|p| Reader::open(p, 0, u64::MAX))
        .collect::<io::Result<Vec<_>>>()?;
    let mut heads = BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some(rec) = r.next().transpose()? {
            heads.push(Reverse((rec.key(), i, Slot(rec))));
        }
    }
    while let Some(Reverse((_, i, Slot(rec)))) = heads.pop() {
        emit(rec)?;
        if let Some(next) = readers[i].next().transpose()? {
            heads.push(Reverse((next.key(), i, Slot(next))));
        }
    }
    Ok(())
}

/// A record carried through the heap (ordered by the key beside it).
#[derive(Debug)]
struct Slot(Record);

impl PartialEq for Slot {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Slot {}
impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Slot {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

/// Records from a file: `count` of them from record `first`, or (with
/// `count` = `u64::MAX`) to its end. A file that ends early or inside a
/// record is an error, never a shorter list.
struct Reader {
    input: BufReader<File>,
    left: u64,
}

impl Reader {
    fn open(path: &Path, first: u64, count: u64) -> io::Result<Self> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(first.saturating_mul(SIZE as u64)))?;
        Ok(Self {
            input: BufReader::with_capacity(BUFFER, file),
            left: count,
        })
    }

    fn read(&mut self) -> io::Result<Option<Record>> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut b = [0u8; SIZE];
        let mut got = 0;
        while got < SIZE {
            match self.input.read(&mut b[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        match got {
            0 if self.left == u64::MAX => Ok(None),
            SIZE => {
                self.left = self.left.saturating_sub(u64::from(self.left != u64::MAX));
                Ok(Some(Record::decode(&b)))
            }
            _ if self.left == u64::MAX => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a sorted trace file ends inside a record",
            )),
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("a sorted trace file ends {} records early", self.left),
            )),
        }
    }
}

impl Iterator for Reader {
    type Item = io::Result<Record>;
    fn next(&mut self) -> Option<Self::Item> {
        let got = self.read();
        if got.is_err() {
            // One error, then the end.
            self.left = 0;
        }
        got.transpose()
    }
}

/// Records grouped by server.
#[derive(Debug)]
pub struct Grouped {
    storage: Storage,
    ranges: Vec<(u64, u64)>,
}

#[derive(Debug)]
enum Storage {
    Memory(Vec<Record>),
    Disk {
        /// Removed (with the file) when the records are dropped.
        _dir: Option<tempfile::TempDir>,
        path: PathBuf,
    },
}

impl Grouped {
    /// How many records server `i` has.
    pub fn count(&self, i: usize) -> u64 {
        self.ranges.get(i).map_or(0, |r| r.1)
    }

    /// Whether the records went to disk.
    pub fn spilled(&self) -> bool {
        matches!(self.storage, Storage::Disk { .. })
    }

    /// Server `i`'s records in time order, read as they are consumed.
    pub fn records(
        &self,
        i: usize,
    ) -> io::Result<Box<dyn Iterator<Item = io::Result<Record>> + Send + '_>> {
        let (first, count) = self.ranges.get(i).copied().unwrap_or((0, 0));
        match &self.storage {
            Storage::Memory(all) => {
                let from = usize::try_from(first).unwrap_or(usize::MAX).min(all.len());
                let to = from
                    .saturating_add(usize::try_from(count).unwrap_or(0))
                    .min(all.len());
                Ok(Box::new(all[from..to].iter().copied().map(Ok)))
            }
            Storage::Disk { path, .. } => {
                if count == 0 {
                    return Ok(Box::new(std::iter::empty()));
                }
                Ok(Box::new(Reader::open(path, first, count)?))
            }
        }
    }
}

#[cfg(test)]
#[path = "spill_tests.rs"]
mod tests;
