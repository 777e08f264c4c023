//! A few recently used documents kept in memory, so typing into an entry does not reload
//! it on every keystroke. Anything that might have diverged from the store is evicted.

use automerge::AutoCommit;

/// Documents kept loaded. An app edits one entry at a time; a handful covers switching.
const CAPACITY: usize = 16;

pub(crate) struct CachedDoc {
    pub doc: AutoCommit,
    /// Chunks stored since the snapshot, and their bytes: when they outgrow the snapshot
    /// the document is compacted.
    pub chunks: u32,
    pub chunk_bytes: usize,
    pub snapshot_bytes: usize,
}

#[derive(Default)]
pub(crate) struct DocCache {
    /// Least recently used first.
    docs: Vec<(i64, CachedDoc)>,
}

impl DocCache {
    pub(crate) fn contains(&self, rowid: i64) -> bool {
        self.docs.iter().any(|(r, _)| *r == rowid)
    }

    /// The document, marked most recently used.
    pub(crate) fn get_mut(&mut self, rowid: i64) -> Option<&mut CachedDoc> {
        let i = self.docs.iter().position(|(r, _)| *r == rowid)?;
        let item = self.docs.remove(i);
        self.docs.push(item);
        self.docs.last_mut().map(|(_, d)| d)
    }

    pub(crate) fn insert(&mut self, rowid: i64, doc: CachedDoc) -> &mut CachedDoc {
        self.evict(rowid);
        if self.docs.len() >= CAPACITY {
            self.docs.remove(0);
        }
        self.docs.push((rowid, doc));
        let last = self.docs.len() - 1;
        &mut self.docs[last].1
    }

    pub(crate) fn evict(&mut self, rowid: i64) {
        self.docs.retain(|(r, _)| *r != rowid);
    }

    pub(crate) fn clear(&mut self) {
        self.docs.clear();
    }
}
