//! A storage journal that cannot be read at start is never silently cut short (issue #11:
//! "a journal that fails its checksum at start gets a documented way back").
//!
//! fjall 3.1 handles a damaged journal in one of two ways, depending on where the damage
//! is: a complete batch whose checksum fails stops the open with an error; an entry that
//! cannot even be decoded (a length, an LZ4 block) makes fjall truncate the journal there
//! and open without an error — the writes after it are gone. A node stops (SIGTERM) with
//! 2,000 acknowledged records in its journal; then, on a copy of the original journal each
//! time, one byte is flipped at different places until both outcomes have been seen:
//! - the open fails: the node exits non-zero with a message naming the journal and the
//!   way back, and following that way back (the command the message prints) the node
//!   starts again;
//! - fjall truncates: the node starts, logs an error naming the journal and the bytes
//!   discarded, and saves the original journal under `journal-recovery/`, byte for byte.
//!
//! An intact journal across a restart reports nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{run_kcat, EddyNode};

/// Flip positions tried, as fractions of the journal's used bytes.
const FLIP_AT_PERMILLE: [usize; 10] = [500, 333, 667, 250, 750, 125, 875, 400, 600, 950];
const START_WITHIN: Duration = Duration::from_secs(60);

fn used(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1)
}

enum Probe {
    /// Exited on its own, with its output.
    Exited(bool, String),
    /// Came up (logged "listening"); killed again; its output.
    Started(String),
}

/// Starts `eddy` on `data` on ephemeral ports and reports whether it came up.
fn probe_start(data: &Path, scratch: &Path) -> Probe {
    let log_path = scratch.join(format!("probe-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).expect("probe log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["start", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().expect("clone")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn eddy");
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Probe::Exited(status.success(), text);
        }
        if text.contains("listening") {
            let _ = child.kill();
            let _ = child.wait();
            return Probe::Started(std::fs::read_to_string(&log_path).unwrap_or_default());
        }
        if started.elapsed() > START_WITHIN {
            let _ = child.kill();
            panic!("eddy neither started nor exited within {START_WITHIN:?}:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn journal_of(data: &Path) -> PathBuf {
    std::fs::read_dir(data.join("fjall"))
        .expect("fjall dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jnl"))
        .max_by_key(|p| used(&std::fs::read(p).expect("read")))
        .expect("a journal")
}

#[test]
fn a_damaged_journal_is_refused_or_reported_never_silently_cut() {
    let mut node = EddyNode::start();
    let lines: String = (0..2_000).map(|i| format!("{i}\n")).collect();
    run_kcat(
        &[
            "-P",
            "-b",
            &node.bootstrap(),
            "-t",
            "journal-test",
            "-X",
            "acks=all",
        ],
        Some(lines.into_bytes()),
        Duration::from_secs(120),
    );
    node.stop();
    let data = node.data_dir();
    let scratch = node.scratch_dir().to_path_buf();
    match probe_start(&data, &scratch) {
        Probe::Started(log) => assert!(!log.contains("fjall discarded"), "intact: {log}"),
        Probe::Exited(_, log) => panic!("an intact data dir does not start:\n{log}"),
    }
    let journal = journal_of(&data);
    let original = std::fs::read(&journal).expect("read journal");
    let used_bytes = used(&original);
    assert!(
        used_bytes > 4_000,
        "the journal holds the records: {used_bytes} bytes"
    );

    let (mut refused, mut reported) = (false, false);
    for permille in FLIP_AT_PERMILLE {
        if refused && reported {
            break;
        }
        let _ = std::fs::remove_dir_all(data.join("journal-recovery"));
        let mut damaged = original.clone();
        let at = used_bytes * permille / 1000;
        damaged[at] ^= 0xff;
        std::fs::write(&journal, &damaged).expect("damage the journal");
        match probe_start(&data, &scratch) {
            Probe::Exited(success, log) => {
                assert!(!success, "a refused open exits non-zero:\n{log}");
                let line = log
                    .lines()
                    .find(|l| l.contains("fails its check at start"))
                    .unwrap_or_else(|| panic!("the exit names the journal problem:\n{log}"));
                println!("flip at byte {at}: refused: {line}");
                assert!(
                    line.contains("runtime-semantics.md"),
                    "points to the way back"
                );
                // The way back the message prints: move the journals aside, then start.
                let recovery = data.join("journal-recovery");
                std::fs::create_dir_all(&recovery).expect("mkdir");
                std::fs::rename(&journal, recovery.join("0.jnl")).expect("move the journal");
                assert!(
                    matches!(probe_start(&data, &scratch), Probe::Started(_)),
                    "the node starts after the way back"
                );
                refused = true;
            }
            Probe::Started(log) => {
                let line = log
                    .lines()
                    .find(|l| l.contains("fjall discarded"))
                    .unwrap_or_else(|| {
                        panic!("flip at byte {at}: started without a report:\n{log}")
                    });
                println!("flip at byte {at}: reported: {line}");
                assert!(
                    line.contains(&journal.display().to_string()),
                    "names the journal"
                );
                let saved: Vec<PathBuf> = std::fs::read_dir(data.join("journal-recovery"))
                    .expect("journal-recovery dir")
                    .map(|e| e.expect("entry").path())
                    .collect();
                assert_eq!(saved.len(), 1, "{saved:?}");
                assert_eq!(
                    std::fs::read(&saved[0]).expect("saved journal"),
                    damaged[..used_bytes],
                    "the saved journal is the one fjall cut, byte for byte"
                );
                reported = true;
            }
        }
        // Back to the original journal for the next flip (the refused path moved it, the
        // reported path let fjall truncate it).
        std::fs::write(&journal, &original).expect("restore the journal");
    }
    assert!(refused, "no flip made fjall refuse the journal");
    assert!(reported, "no flip made fjall truncate the journal");
}
