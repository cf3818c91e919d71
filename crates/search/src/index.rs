//! [`SearchIndex`]: documents by key, each with its lexemes' positions, a tie-breaking order and a payload, and a
//! sorted posting list per lexeme.

use std::{
    cmp::Ordering,
    collections::{HashMap, hash_map::Entry},
    hash::Hash,
    sync::OnceLock,
};

use crate::rank::{Position, rank_cd};

/// Documents searchable by a conjunction of lexemes, best match first: by `ts_rank_cd`, then by a larger `order`
/// (the catalog's listing time), then by a larger key, as the catalog's SQL orders them.
#[derive(Debug)]
pub struct SearchIndex<K, T> {
    docs: Vec<Option<Doc<K, T>>>,
    free: Vec<u32>,
    slots: HashMap<K, u32>,
    lexemes: HashMap<Box<str>, u32>,
    postings: Vec<Posting>,
}

#[derive(Debug)]
struct Doc<K, T> {
    key: K,
    order: i64,
    /// Lexeme ids, ascending; the positions of `terms[i]` are `positions[starts[i]..starts[i + 1]]`.
    terms: Box<[u32]>,
    starts: Box<[u32]>,
    positions: Box<[Position]>,
    payload: T,
}

#[derive(Debug, Default)]
struct Posting {
    lexeme: Box<str>,
    /// The slots of the documents holding the lexeme, ascending.
    slots: Vec<u32>,
    /// The same slots best first, computed when a one-lexeme search first needs them after a change.
    ranked: OnceLock<Box<[u32]>>,
}

/// One page of a search.
#[derive(Debug)]
pub struct Page<'a, T> {
    /// Documents matching, over every page.
    pub total: u64,
    /// This page's payloads, best first.
    pub entries: Vec<&'a T>,
}

impl<K, T> Default for SearchIndex<K, T> {
    fn default() -> Self {
        Self {
            docs: Vec::new(),
            free: Vec::new(),
            slots: HashMap::new(),
            lexemes: HashMap::new(),
            postings: Vec::new(),
        }
    }
}

impl<K: Copy + Eq + Hash + Ord, T> SearchIndex<K, T> {
    /// How many documents the index holds.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Adds the document `key`, or replaces it: its lexemes with their positions (a `tsvector`'s, as
    /// [`crate::parse_tsvector`] reads it), its `order` and its payload.
    pub fn upsert(&mut self, key: K, lexemes: Vec<(String, Vec<Position>)>, order: i64, payload: T) {
        self.remove(&key);
        let mut terms: Vec<(u32, Vec<Position>)> =
            lexemes.into_iter().map(|(lexeme, positions)| (self.lexeme_id(lexeme), positions)).collect();
        terms.sort_unstable_by_key(|term| term.0);
        terms.dedup_by_key(|term| term.0);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.docs.push(None);
                u32::try_from(self.docs.len() - 1).expect("fewer than 2^32 documents")
            }
        };
        let mut starts = Vec::with_capacity(terms.len() + 1);
        let mut positions = Vec::new();
        for (lexeme, mut at) in terms.iter().map(|(lexeme, at)| (*lexeme, at.clone())) {
            starts.push(u32::try_from(positions.len()).expect("fewer than 2^32 positions"));
            at.sort_unstable();
            positions.extend(at);
            let posting = &mut self.postings[lexeme as usize];
            // Slots mostly grow, so this is mostly a push.
            let at = posting.slots.partition_point(|s| *s < slot);
            posting.slots.insert(at, slot);
            posting.ranked = OnceLock::new();
        }
        starts.push(u32::try_from(positions.len()).expect("fewer than 2^32 positions"));
        let terms = terms.into_iter().map(|term| term.0).collect();
        self.docs[slot as usize] =
            Some(Doc { key, order, terms, starts: starts.into(), positions: positions.into(), payload });
        self.slots.insert(key, slot);
    }

    /// Removes the document `key`, if held.
    pub fn remove(&mut self, key: &K) {
        let Some(slot) = self.slots.remove(key) else { return };
        let doc = self.docs[slot as usize].take().expect("a held key's slot holds its document");
        for lexeme in doc.terms.iter() {
            let posting = &mut self.postings[*lexeme as usize];
            if let Ok(at) = posting.slots.binary_search(&slot) {
                posting.slots.remove(at);
            }
            posting.ranked = OnceLock::new();
        }
        self.free.push(slot);
    }

    /// The page of documents holding every one of `lexemes` (each counted once), `offset` skipped, at most `limit`,
    /// best first; no lexemes match nothing.
    pub fn search<S: AsRef<str>>(&self, lexemes: &[S], limit: usize, offset: usize) -> Page<'_, T> {
        let mut ids = Vec::with_capacity(lexemes.len());
        for lexeme in lexemes {
            match self.lexemes.get(lexeme.as_ref()) {
                Some(id) if !ids.contains(id) => ids.push(*id),
                Some(_) => {}
                None => return Page { total: 0, entries: Vec::new() },
            }
        }
        // In PostgreSQL's order of lexemes (their bytes), which breaks ties of position and weight in a ranking.
        ids.sort_unstable_by(|a, b| self.postings[*a as usize].lexeme.cmp(&self.postings[*b as usize].lexeme));
        match ids[..] {
            [] => Page { total: 0, entries: Vec::new() },
            [id] => {
                let posting = &self.postings[id as usize];
                let ranked = posting.ranked.get_or_init(|| {
                    let mut hits: Vec<Hit<K>> = posting.slots.iter().map(|slot| self.hit(*slot, &ids)).collect();
                    hits.sort_unstable_by(Hit::best_first);
                    hits.into_iter().map(|hit| hit.slot).collect()
                });
                let entries = ranked.iter().skip(offset).take(limit).map(|slot| self.payload(*slot)).collect();
                Page { total: ranked.len() as u64, entries }
            }
            _ => {
                let mut hits: Vec<Hit<K>> = self.matching(&ids).into_iter().map(|slot| self.hit(slot, &ids)).collect();
                let total = hits.len() as u64;
                let wanted = offset.saturating_add(limit);
                if wanted == 0 {
                    return Page { total, entries: Vec::new() };
                }
                if hits.len() > wanted {
                    hits.select_nth_unstable_by(wanted - 1, Hit::best_first);
                    hits.truncate(wanted);
                }
                hits.sort_unstable_by(Hit::best_first);
                let entries = hits.iter().skip(offset).map(|hit| self.payload(hit.slot)).collect();
                Page { total, entries }
            }
        }
    }

    /// The slots holding every lexeme of `ids`, from the shortest posting list, each further one searched from where
    /// the last match was found.
    fn matching(&self, ids: &[u32]) -> Vec<u32> {
        let mut lists: Vec<&[u32]> = ids.iter().map(|id| &self.postings[*id as usize].slots[..]).collect();
        lists.sort_unstable_by_key(|list| list.len());
        let (shortest, others) = lists.split_first_mut().expect("two lexemes or more");
        let mut found = Vec::new();
        'slots: for slot in shortest.iter() {
            for list in others.iter_mut() {
                let at = list.partition_point(|s| s < slot);
                *list = &list[at..];
                if list.first() != Some(slot) {
                    continue 'slots;
                }
            }
            found.push(*slot);
        }
        found
    }

    /// The document in `slot` ranked for the lexemes `ids`, given in PostgreSQL's order.
    fn hit(&self, slot: u32, ids: &[u32]) -> Hit<K> {
        let doc = self.docs[slot as usize].as_ref().expect("a posting's slot holds a document");
        let positions: Vec<&[Position]> = ids
            .iter()
            .map(|id| match doc.terms.binary_search(id) {
                Ok(at) => &doc.positions[doc.starts[at] as usize..doc.starts[at + 1] as usize],
                Err(_) => &[],
            })
            .collect();
        Hit { rank: rank_cd(&positions), order: doc.order, key: doc.key, slot }
    }

    fn payload(&self, slot: u32) -> &T {
        &self.docs[slot as usize].as_ref().expect("a posting's slot holds a document").payload
    }

    fn lexeme_id(&mut self, lexeme: String) -> u32 {
        let next = u32::try_from(self.postings.len()).expect("fewer than 2^32 lexemes");
        match self.lexemes.entry(lexeme.into_boxed_str()) {
            Entry::Occupied(held) => *held.get(),
            Entry::Vacant(new) => {
                self.postings.push(Posting { lexeme: new.key().clone(), ..Posting::default() });
                new.insert(next);
                next
            }
        }
    }
}

/// A matching document and what orders it.
#[derive(Debug, Clone, Copy)]
struct Hit<K> {
    rank: f32,
    order: i64,
    key: K,
    slot: u32,
}

impl<K: Ord> Hit<K> {
    fn best_first(a: &Self, b: &Self) -> Ordering {
        b.rank.total_cmp(&a.rank).then(b.order.cmp(&a.order)).then(b.key.cmp(&a.key))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn doc(words: &[(&str, &[(u16, u8)])]) -> Vec<(String, Vec<Position>)> {
        words
            .iter()
            .map(|(word, at)| (word.to_string(), at.iter().map(|(p, w)| Position::new(*p, *w)).collect()))
            .collect()
    }

    #[test]
    fn conjunctions_ranked_then_newest_then_key() {
        let mut index = SearchIndex::default();
        index.upsert(1, doc(&[("seo", &[(1, 3)]), ("audit", &[(2, 3)])]), 10, "close");
        index.upsert(2, doc(&[("seo", &[(1, 3)]), ("audit", &[(9, 1)])]), 30, "far");
        index.upsert(3, doc(&[("seo", &[(1, 3)]), ("audit", &[(9, 1)])]), 20, "far, older");
        index.upsert(4, doc(&[("seo", &[(1, 3)])]), 40, "seo only");
        let page = index.search(&["seo", "audit"], 10, 0);
        assert_eq!((page.total, page.entries), (3, vec![&"close", &"far", &"far, older"]));
        let page = index.search(&["audit", "seo", "seo"], 1, 1);
        assert_eq!((page.total, page.entries), (3, vec![&"far"]));
        assert_eq!(index.search(&["seo", "nothing"], 10, 0).total, 0);
        assert_eq!(index.search::<&str>(&[], 10, 0).total, 0);
        let page = index.search(&["seo"], 2, 0);
        assert_eq!((page.total, page.entries), (4, vec![&"seo only", &"far"]));
        // A replaced document is found by its new words only, and a removed one not at all.
        index.upsert(4, doc(&[("audit", &[(1, 3)])]), 40, "audit only");
        assert_eq!(index.search(&["seo"], 10, 0).total, 3);
        assert_eq!(index.search(&["audit"], 1, 0).entries, [&"audit only"]);
        index.remove(&1);
        index.remove(&1);
        let page = index.search(&["seo", "audit"], 10, 0);
        assert_eq!((page.total, page.entries), (2, vec![&"far", &"far, older"]));
        assert_eq!(index.len(), 3);
        // A freed slot is taken again and its postings stay sorted.
        index.upsert(5, doc(&[("seo", &[(2, 3)]), ("audit", &[(1, 3)])]), 0, "reused");
        assert_eq!(index.search(&["audit", "seo"], 1, 0).entries, [&"reused"]);
    }

    proptest! {
        /// Against a search that ranks every document: the same matches, the same order, the same total.
        #[test]
        fn as_a_full_scan(
            docs in prop::collection::vec(prop::collection::vec((0usize..6, 1u16..40, 0u8..4), 0..12), 1..40),
            query in prop::collection::vec(0usize..6, 1..4),
            limit in 1usize..8,
            offset in 0usize..8,
        ) {
            let words = ["api", "audit", "data", "seo", "web", "zap"];
            let mut index = SearchIndex::default();
            let mut held = Vec::new();
            for (key, entries) in docs.iter().enumerate() {
                let mut lexemes: Vec<(String, Vec<Position>)> = Vec::new();
                for (word, position, weight) in entries {
                    let at = Position::new(*position, *weight);
                    match lexemes.iter_mut().find(|(w, _)| w == words[*word]) {
                        Some((_, positions)) if !positions.iter().any(|p| p.position() == *position) => {
                            positions.push(at)
                        }
                        Some(_) => {}
                        None => lexemes.push((words[*word].to_owned(), vec![at])),
                    }
                }
                // Distinct positions across lexemes too, as a tsvector of one text has them.
                let mut used = Vec::new();
                for (_, positions) in lexemes.iter_mut() {
                    positions.retain(|p| !used.contains(&p.position()));
                    used.extend(positions.iter().map(|p| p.position()));
                }
                lexemes.retain(|(_, positions)| !positions.is_empty());
                index.upsert(key, lexemes.clone(), (key % 3) as i64, key);
                held.push(lexemes);
            }
            let mut wanted: Vec<&str> = query.iter().map(|w| words[*w]).collect();
            wanted.dedup();
            let mut distinct = wanted.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let mut expected: Vec<(f32, i64, usize)> = held
                .iter()
                .enumerate()
                .filter_map(|(key, lexemes)| {
                    let positions: Option<Vec<&[Position]>> = distinct
                        .iter()
                        .map(|w| lexemes.iter().find(|(l, _)| l == w).map(|(_, p)| &p[..]))
                        .collect();
                    positions.map(|p| (rank_cd(&p), (key % 3) as i64, key))
                })
                .collect();
            expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
            let page = index.search(&wanted, limit, offset);
            prop_assert_eq!(page.total, expected.len() as u64);
            let keys: Vec<usize> = page.entries.into_iter().copied().collect();
            let expected: Vec<usize> = expected.iter().skip(offset).take(limit).map(|e| e.2).collect();
            prop_assert_eq!(keys, expected);
        }
    }
}
