//! Finding a name's group on the start path without touching memory other names' starts
//! write: a fixed table of write-once cells, probed with plain loads.

use std::sync::Arc;

use crate::sync::OnceLock;

/// Cells in the table; names beyond what fits are found through the registry's ordered map.
/// (Four in the loom models, so that names collide.)
const CELLS: usize = if cfg!(loom) { 4 } else { 256 };
/// Cells probed before giving up: keeps a miss short when the table is crowded.
const PROBES: usize = if cfg!(loom) { 2 } else { 16 };

/// One cell: empty, or a name and its group, set once.
type Cell<G> = OnceLock<(&'static str, Arc<G>)>;

/// Name -> group, for up to [`CELLS`] names. Entries are only added, and only under the
/// registry's map lock, so a name is in at most one cell.
#[derive(Debug)]
pub(crate) struct Directory<G> {
    cells: Box<[Cell<G>]>,
}

impl<G> Directory<G> {
    pub(crate) fn new() -> Self {
        Self {
            cells: (0..CELLS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The group of `name`, if the table has it. Loads only: no write to shared memory.
    #[inline]
    pub(crate) fn find(&self, name: &str) -> Option<&Arc<G>> {
        let start = hash(name);
        for probe in 0..PROBES {
            // An empty cell ends the probe: entries are never removed, and an insertion
            // takes the first empty cell of its sequence.
            let (stored, group) = self.cells[(start + probe) % CELLS].get()?;
            if *stored == name {
                return Some(group);
            }
        }
        None
    }

    /// Adds `name`; only under the registry's map lock, and only once per name. Returns
    /// `false` if its probe sequence is full (the name is then found through the map).
    pub(crate) fn insert(&self, name: &'static str, group: &Arc<G>) -> bool {
        let start = hash(name);
        (0..PROBES).any(|probe| {
            let cell = &self.cells[(start + probe) % CELLS];
            let (stored, _) = cell.get_or_init(|| (name, Arc::clone(group)));
            *stored == name
        })
    }
}

/// Whether two names' probe sequences start at the same cell (for the loom model).
#[cfg(all(test, loom))]
pub(crate) fn same_start(a: &str, b: &str) -> bool {
    hash(a) % CELLS == hash(b) % CELLS
}

/// FNV-1a of the name's bytes: a few cycles for a service name, and the same for equal
/// names at different addresses.
#[inline]
fn hash(name: &str) -> usize {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash ^ (hash >> 32)) as usize
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_and_nothing_else() {
        let directory = Directory::new();
        let names: Vec<&'static str> = (0..200)
            .map(|i| &*Box::leak(format!("service-{i}").into_boxed_str()))
            .collect();
        let mut inserted = Vec::new();
        for (i, &name) in names.iter().enumerate() {
            if directory.insert(name, &Arc::new(i)) {
                inserted.push((name, i));
            }
        }
        // Most fit; the rest are reported as not inserted, never misfiled.
        assert!(inserted.len() > 150, "only {} fit", inserted.len());
        for (name, i) in &inserted {
            // A copy at another address finds the same entry.
            let copy = String::from(*name);
            assert_eq!(directory.find(&copy).map(|g| **g), Some(*i));
        }
        assert!(directory.find("absent").is_none());
    }
}
