//! Makes fjall's journal recovery visible. fjall 3.1 replays its journals when it opens and
//! truncates a journal at the first entry it cannot read — a corrupt length, a block that
//! does not decompress — without returning an error: every write after that point is gone
//! (found by corrupting one byte of a stopped node's journal: 2,000 acknowledged, fsynced
//! records vanished and the node started as if nothing had happened). A checksum mismatch
//! in a complete entry, on the other hand, fails the open.
//!
//! So before the open the guard reads the used part of every journal (up to its last
//! non-zero byte; fjall preallocates journals with zeros), and after the open compares:
//! a journal left shorter than its used bytes lost data. The original bytes are then
//! saved under `<data dir>/journal-recovery/` for forensics, and the loss is reported —
//! logged as an error with the numbers, counted in `eddy_journal_bytes_discarded_total` —
//! so an operator knows to restore the node's data from its replicas (see
//! `docs/runtime-semantics.md`, "A journal that cannot be read"). A journal fjall deleted
//! during recovery (fully flushed to tables) lost nothing.
//!
//! The copies are held in memory between the two steps: at most the journals' used bytes
//! (fjall keeps at most `max_journaling_size`, 512 MiB by default), once, at start.

use std::path::{Path, PathBuf};

/// Where the guard saves journals fjall cut short, under the node's data dir.
pub const RECOVERY_DIR: &str = "journal-recovery";

/// The used bytes of each journal before fjall opened them.
pub struct JournalSnapshot {
    journals: Vec<(PathBuf, Vec<u8>)>,
}

/// A journal fjall cut short when it opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLoss {
    /// The journal file.
    pub journal: PathBuf,
    /// Its used bytes before the open.
    pub used_bytes: u64,
    /// What fjall kept.
    pub kept_bytes: u64,
    /// Where the original bytes were saved (none if saving failed too).
    pub saved_to: Option<PathBuf>,
}

/// Reads the used part of every `*.jnl` file in `fjall_dir` (none for a new database).
pub fn before_open(fjall_dir: &Path) -> std::io::Result<JournalSnapshot> {
    let mut journals = Vec::new();
    let entries = match std::fs::read_dir(fjall_dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(JournalSnapshot { journals })
        }
        Err(err) => return Err(err),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "jnl") {
            let mut bytes = std::fs::read(&path)?;
            let used = bytes
                .iter()
                .rposition(|b| *b != 0)
                .map_or(0, |last| last + 1);
            bytes.truncate(used);
            journals.push((path, bytes));
        }
    }
    Ok(JournalSnapshot { journals })
}

/// Compares the journals after fjall opened them with the snapshot; saves and reports
/// every one that lost bytes.
pub fn after_open(snapshot: JournalSnapshot, data_dir: &Path) -> Vec<JournalLoss> {
    let mut losses = Vec::new();
    for (journal, original) in snapshot.journals {
        let kept = match std::fs::metadata(&journal) {
            Ok(meta) => meta.len(),
            // Deleted by recovery: its memtables were already flushed to tables.
            Err(_) => continue,
        };
        let used = original.len() as u64;
        if kept >= used {
            continue;
        }
        let saved_to = save(&journal, &original, data_dir);
        let loss = JournalLoss {
            journal,
            used_bytes: used,
            kept_bytes: kept,
            saved_to,
        };
        tracing::error!(
            journal = %loss.journal.display(),
            used_bytes = loss.used_bytes,
            kept_bytes = loss.kept_bytes,
            saved_to = %loss.saved_to.as_deref().map_or("(could not save)".into(), |p| p.display().to_string()),
            "storage journal unreadable from byte {kept}: fjall discarded {} bytes of writes at start; \
             records written after that point are lost on this node. The original journal is saved \
             for forensics; see docs/runtime-semantics.md, \"A journal that cannot be read\", for \
             restoring this node's data from its replicas",
            used - kept
        );
        metrics::counter!("eddy_journal_bytes_discarded_total").increment(used - kept);
        losses.push(loss);
    }
    losses
}

fn save(journal: &Path, original: &[u8], data_dir: &Path) -> Option<PathBuf> {
    let dir = data_dir.join(RECOVERY_DIR);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let name = journal.file_name()?.to_string_lossy().to_string();
    let path = dir.join(format!("{stamp}-{name}"));
    let written = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, original));
    match written {
        Ok(()) => Some(path),
        Err(err) => {
            tracing::error!(path = %path.display(), error = %err, "cannot save the original journal");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_cut_short_is_saved_and_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fjall = dir.path().join("fjall");
        std::fs::create_dir_all(&fjall).expect("mkdir");
        let mut bytes = vec![7u8; 100];
        bytes.extend(vec![0u8; 50]);
        std::fs::write(fjall.join("0.jnl"), &bytes).expect("write");
        std::fs::write(fjall.join("1.jnl"), [1u8; 10]).expect("write");
        std::fs::write(fjall.join("version"), [3u8; 4]).expect("write");
        let snapshot = before_open(&fjall).expect("snapshot");
        // "Recovery": 0.jnl keeps 40 bytes, 1.jnl is deleted (flushed).
        std::fs::write(fjall.join("0.jnl"), &bytes[..40]).expect("truncate");
        std::fs::remove_file(fjall.join("1.jnl")).expect("rm");
        let losses = after_open(snapshot, dir.path());
        assert_eq!(losses.len(), 1, "{losses:?}");
        assert_eq!((losses[0].used_bytes, losses[0].kept_bytes), (100, 40));
        let saved = std::fs::read(losses[0].saved_to.as_ref().expect("saved")).expect("read");
        assert_eq!(saved, vec![7u8; 100]);
    }

    #[test]
    fn an_intact_journal_and_a_new_database_lose_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fjall = dir.path().join("fjall");
        assert!(after_open(before_open(&fjall).expect("none"), dir.path()).is_empty());
        std::fs::create_dir_all(&fjall).expect("mkdir");
        std::fs::write(fjall.join("0.jnl"), [5u8; 30]).expect("write");
        let snapshot = before_open(&fjall).expect("snapshot");
        // Recovery may preallocate again: longer is fine.
        std::fs::write(fjall.join("0.jnl"), [5u8; 64]).expect("write");
        assert!(after_open(snapshot, dir.path()).is_empty());
    }
}
