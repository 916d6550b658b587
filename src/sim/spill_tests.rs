use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Records of `servers` servers in shuffled time order, with ties.
fn records(n: usize, servers: u32) -> Vec<Record> {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    (0..n)
        .map(|k| Record {
            // Whole seconds: many records share a time.
            t: f64::from(rng.random_range(0..50u32)),
            server: rng.random_range(0..servers),
            kind: (k % 3) as u8,
            session: (k % 2 == 0).then_some(k as u64 * 7919),
            service_s: (k % 5 == 0).then_some(0.25),
        })
        .collect()
}

fn sorted(input: &[Record], chunk: usize, servers: u32) -> (bool, Vec<Vec<Record>>) {
    let mut sorter = Sorter::new(chunk);
    for r in input {
        sorter.push(*r).expect("push");
    }
    let grouped = sorter.finish(servers as usize).expect("finish");
    let per_server = (0..servers as usize)
        .map(|i| {
            let got: Vec<Record> = grouped
                .records(i)
                .expect("open")
                .collect::<io::Result<_>>()
                .expect("read");
            assert_eq!(got.len() as u64, grouped.count(i));
            got
        })
        .collect();
    (grouped.spilled(), per_server)
}

/// What grouping must give: each server's records by time, ties in input order.
fn expected(input: &[Record], servers: u32) -> Vec<Vec<Record>> {
    (0..servers)
        .map(|s| {
            let mut mine: Vec<Record> = input.iter().filter(|r| r.server == s).copied().collect();
            mine.sort_by(|a, b| a.t.total_cmp(&b.t));
            mine
        })
        .collect()
}

#[test]
fn records_group_by_server_in_time_order_keeping_ties_in_input_order() {
    let input = records(2000, 13);
    let want = expected(&input, 13);
    let (spilled, in_memory) = sorted(&input, usize::MAX, 13);
    assert!(!spilled);
    assert_eq!(in_memory, want);
    // 37 runs merged at once, and 2,000 runs merged in two levels.
    for chunk in [55, 1] {
        let (spilled, on_disk) = sorted(&input, chunk, 13);
        assert!(spilled, "chunk {chunk}");
        assert!(on_disk == want, "chunk {chunk}: not grouped and sorted");
    }
}

#[test]
fn a_server_with_no_records_reads_none_and_the_files_go_with_the_records() {
    let input = records(300, 3);
    let mut sorter = Sorter::new(10);
    for r in &input {
        sorter.push(*r).expect("push");
    }
    let grouped = sorter.finish(5).expect("finish");
    assert_eq!(grouped.records(4).expect("open").count(), 0);
    assert_eq!(grouped.records(99).expect("open").count(), 0);
    let dir = match &grouped.storage {
        Storage::Disk { path, .. } => path.parent().expect("in a directory").to_owned(),
        Storage::Memory(_) => panic!("300 records in chunks of 10 must spill"),
    };
    // Only the merged file is left.
    assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 1);
    drop(grouped);
    assert!(!dir.exists(), "temporary files removed");
}

#[test]
fn a_record_survives_its_encoding() {
    for r in records(50, 4) {
        assert_eq!(Record::decode(&r.encode()), r);
    }
}

#[test]
fn exactly_one_chunk_stays_in_memory() {
    let input = records(64, 3);
    let (spilled, _) = sorted(&input, 64, 3);
    assert!(!spilled);
    let (spilled, _) = sorted(&input, 63, 3);
    assert!(spilled);
}

#[test]
fn a_file_that_ends_early_is_an_error_not_a_shorter_list() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("run");
    let bytes: Vec<u8> = records(3, 1).iter().flat_map(|r| r.encode()).collect();
    std::fs::write(&path, &bytes[..bytes.len() - 5]).expect("write");
    // Asked for three records: the third is cut short.
    let read: Vec<io::Result<Record>> = Reader::open(&path, 0, 3).expect("open").collect();
    assert_eq!(read.len(), 3);
    assert!(read[2].is_err());
    // Asked for four of a file holding two whole ones.
    std::fs::write(&path, &bytes[..2 * SIZE]).expect("write");
    let read: Vec<io::Result<Record>> = Reader::open(&path, 0, 4).expect("open").collect();
    assert!(read.last().is_some_and(Result::is_err), "{read:?}");
    // Read to its end, a file of whole records ends cleanly.
    let read: Vec<io::Result<Record>> = Reader::open(&path, 0, u64::MAX).expect("open").collect();
    assert!(read.len() == 2 && read.iter().all(Result::is_ok));
}
