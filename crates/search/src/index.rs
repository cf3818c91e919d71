//! [`SearchIndex`]: documents by key, each with its lexemes' positions, its facets (a category, a tier, a price), a
//! tie-breaking order and a payload; a sorted posting list per lexeme, the documents in each browsing order, and
//! their prices per category and tier for counting.

use std::{
    cmp::{Ordering, Reverse},
    collections::{BTreeSet, HashMap, hash_map::Entry},
    hash::Hash,
    sync::OnceLock,
};

use crate::rank::{Position, rank_cd};

/// Documents found by a conjunction of lexemes or browsed, filtered by facets, in the catalog's orders: by
/// `ts_rank_cd`, then a larger `order` (the listing time), then a larger key; by a larger `order`, then a larger key;
/// by price, then key, either way.
#[derive(Debug)]
pub struct SearchIndex<K, T> {
    docs: Vec<Option<Doc<K, T>>>,
    free: Vec<u32>,
    slots: HashMap<K, u32>,
    lexemes: HashMap<Box<str>, u32>,
    postings: Vec<Posting>,
    /// Ids of lexemes no document holds any more, for the next new lexeme.
    free_lexemes: Vec<u32>,
    categories: HashMap<Box<str>, u32>,
    /// Newest first: `order` descending, then key descending.
    newest: BTreeSet<(Reverse<i64>, Reverse<K>, u32)>,
    /// Cheapest first, then key ascending; read backwards, dearest first, then key descending.
    by_price: BTreeSet<(u64, K, u32)>,
    /// The prices of the documents of each category and tier, ascending.
    prices: HashMap<(u32, u8), Vec<u64>>,
}

/// What the index keeps of a document besides its key and payload.
#[derive(Debug, Clone, Default)]
pub struct Document {
    /// Its lexemes with their positions (a `tsvector`'s, as [`crate::parse_tsvector`] reads it).
    pub lexemes: Vec<(String, Vec<Position>)>,
    /// Larger first among equals (the catalog's listing time).
    pub order: i64,
    /// Its price.
    pub price: u64,
    /// Its category, matched exactly.
    pub category: String,
    /// Its tier.
    pub tier: u8,
}

/// Which documents a query keeps: `None` keeps any.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    /// Exactly this category.
    pub category: Option<&'a str>,
    /// Only this tier.
    pub tier: Option<u8>,
    /// At this price or less.
    pub max_price: Option<u64>,
}

impl Filter<'_> {
    /// Whether it keeps every document.
    pub fn keeps_all(&self) -> bool {
        self.category.is_none() && self.tier.is_none() && self.max_price.is_none()
    }
}

/// A query's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Best match first (newest first without lexemes).
    Relevance,
    /// Larger `order` first.
    Newest,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
}

#[derive(Debug)]
struct Doc<K, T> {
    key: K,
    order: i64,
    price: u64,
    category: u32,
    tier: u8,
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

/// One page of a query.
#[derive(Debug)]
pub struct Page<'a, T> {
    /// Documents matching, over every page.
    pub total: u64,
    /// This page's payloads, in the query's order.
    pub entries: Vec<&'a T>,
}

impl<T> Page<'_, T> {
    fn empty() -> Self {
        Self { total: 0, entries: Vec::new() }
    }
}

/// A filter with its category resolved.
#[derive(Debug, Clone, Copy)]
struct Facets {
    category: Option<u32>,
    tier: Option<u8>,
    max_price: Option<u64>,
}

impl Facets {
    fn any(&self) -> bool {
        self.category.is_some() || self.tier.is_some() || self.max_price.is_some()
    }

    fn group(&self, category: u32, tier: u8) -> bool {
        self.category.is_none_or(|c| c == category) && self.tier.is_none_or(|t| t == tier)
    }

    fn admits<K, T>(&self, doc: &Doc<K, T>) -> bool {
        self.group(doc.category, doc.tier) && self.max_price.is_none_or(|max| doc.price <= max)
    }
}

impl<K, T> Default for SearchIndex<K, T> {
    fn default() -> Self {
        Self {
            docs: Vec::new(),
            free: Vec::new(),
            slots: HashMap::new(),
            lexemes: HashMap::new(),
            postings: Vec::new(),
            free_lexemes: Vec::new(),
            categories: HashMap::new(),
            newest: BTreeSet::new(),
            by_price: BTreeSet::new(),
            prices: HashMap::new(),
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

    /// The payload of document `key`, if held.
    pub fn get(&self, key: &K) -> Option<&T> {
        self.slots.get(key).map(|slot| self.payload(*slot))
    }

    /// Adds the document `key`, or replaces it.
    pub fn upsert(&mut self, key: K, document: Document, payload: T) {
        self.remove(&key);
        let Document { lexemes, order, price, category, tier } = document;
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
        let next = u32::try_from(self.categories.len()).expect("fewer than 2^32 categories");
        let category = *self.categories.entry(category.into_boxed_str()).or_insert(next);
        self.newest.insert((Reverse(order), Reverse(key), slot));
        self.by_price.insert((price, key, slot));
        let prices = self.prices.entry((category, tier)).or_default();
        prices.insert(prices.partition_point(|p| *p < price), price);
        let terms = terms.into_iter().map(|term| term.0).collect();
        let (starts, positions) = (starts.into(), positions.into());
        self.docs[slot as usize] = Some(Doc { key, order, price, category, tier, terms, starts, positions, payload });
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
            // A lexeme no document holds is forgotten, so words edited away do not pile up.
            if posting.slots.is_empty() {
                let held = std::mem::take(posting);
                self.lexemes.remove(&held.lexeme);
                self.free_lexemes.push(*lexeme);
            }
        }
        self.newest.remove(&(Reverse(doc.order), Reverse(doc.key), slot));
        self.by_price.remove(&(doc.price, doc.key, slot));
        if let Entry::Occupied(mut group) = self.prices.entry((doc.category, doc.tier)) {
            let prices = group.get_mut();
            if let Ok(at) = prices.binary_search(&doc.price) {
                prices.remove(at);
            }
            if prices.is_empty() {
                group.remove();
            }
        }
        self.free.push(slot);
    }

    /// The page of documents holding every one of `lexemes` (each counted once; no lexemes match nothing), or of
    /// every document when `lexemes` is `None`, kept by `filter`, in `order`, `offset` skipped, at most `limit`.
    pub fn query<S: AsRef<str>>(
        &self,
        lexemes: Option<&[S]>,
        filter: &Filter<'_>,
        order: Order,
        limit: usize,
        offset: usize,
    ) -> Page<'_, T> {
        let category = match filter.category {
            Some(name) => match self.categories.get(name) {
                Some(id) => Some(*id),
                None => return Page::empty(),
            },
            None => None,
        };
        let facets = Facets { category, tier: filter.tier, max_price: filter.max_price };
        let Some(lexemes) = lexemes else { return self.browse(&facets, order, limit, offset) };
        let mut ids = Vec::with_capacity(lexemes.len());
        for lexeme in lexemes {
            match self.lexemes.get(lexeme.as_ref()) {
                Some(id) if !ids.contains(id) => ids.push(*id),
                Some(_) => {}
                None => return Page::empty(),
            }
        }
        // In PostgreSQL's order of lexemes (their bytes), which breaks ties of position and weight in a ranking.
        ids.sort_unstable_by(|a, b| self.postings[*a as usize].lexeme.cmp(&self.postings[*b as usize].lexeme));
        let matching = match ids[..] {
            [] => return Page::empty(),
            [id] if !facets.any() && order == Order::Relevance => {
                let posting = &self.postings[id as usize];
                let ranked = posting.ranked.get_or_init(|| {
                    let mut hits: Vec<Hit<K>> = posting.slots.iter().map(|slot| self.hit(*slot, &ids, true)).collect();
                    hits.sort_unstable_by(|a, b| a.cmp(b, Order::Relevance));
                    hits.into_iter().map(|hit| hit.slot).collect()
                });
                let entries = ranked.iter().skip(offset).take(limit).map(|slot| self.payload(*slot)).collect();
                return Page { total: ranked.len() as u64, entries };
            }
            [id] => self.postings[id as usize].slots.clone(),
            _ => self.matching(&ids),
        };
        let ranked = order == Order::Relevance;
        let mut hits: Vec<Hit<K>> = matching
            .into_iter()
            .filter(|slot| facets.admits(self.doc(*slot)))
            .map(|slot| self.hit(slot, &ids, ranked))
            .collect();
        let total = hits.len() as u64;
        let wanted = offset.saturating_add(limit);
        if wanted == 0 {
            return Page { total, entries: Vec::new() };
        }
        if hits.len() > wanted {
            hits.select_nth_unstable_by(wanted - 1, |a, b| a.cmp(b, order));
            hits.truncate(wanted);
        }
        hits.sort_unstable_by(|a, b| a.cmp(b, order));
        let entries = hits.iter().skip(offset).map(|hit| self.payload(hit.slot)).collect();
        Page { total, entries }
    }

    /// Every document kept by `facets`, in `order`: counted from the prices per category and tier, the page read
    /// from the order's set, skipping the documents `facets` does not keep.
    fn browse(&self, facets: &Facets, order: Order, limit: usize, offset: usize) -> Page<'_, T> {
        let total: usize = self
            .prices
            .iter()
            .filter(|((category, tier), _)| facets.group(*category, *tier))
            .map(|(_, prices)| facets.max_price.map_or(prices.len(), |max| prices.partition_point(|p| *p <= max)))
            .sum();
        if offset >= total || limit == 0 {
            return Page { total: total as u64, entries: Vec::new() };
        }
        let slots: Box<dyn Iterator<Item = u32> + '_> = match order {
            Order::Relevance | Order::Newest => Box::new(self.newest.iter().map(|entry| entry.2)),
            Order::PriceAsc => Box::new(
                self.by_price
                    .iter()
                    .take_while(|entry| facets.max_price.is_none_or(|max| entry.0 <= max))
                    .map(|entry| entry.2),
            ),
            Order::PriceDesc => Box::new(self.by_price.iter().rev().map(|entry| entry.2)),
        };
        let entries = slots
            .filter(|slot| !facets.any() || facets.admits(self.doc(*slot)))
            .skip(offset)
            .take(limit)
            .map(|slot| self.payload(slot))
            .collect();
        Page { total: total as u64, entries }
    }

    /// The slots holding every lexeme of `ids` (two or more), from the shortest posting list, each further one
    /// searched from where the last match was found.
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

    /// The document in `slot`, ranked for the lexemes `ids` (given in PostgreSQL's order) when `ranked`.
    fn hit(&self, slot: u32, ids: &[u32], ranked: bool) -> Hit<K> {
        let doc = self.doc(slot);
        let rank = if ranked {
            let positions: Vec<&[Position]> = ids
                .iter()
                .map(|id| match doc.terms.binary_search(id) {
                    Ok(at) => &doc.positions[doc.starts[at] as usize..doc.starts[at + 1] as usize],
                    Err(_) => &[],
                })
                .collect();
            rank_cd(&positions)
        } else {
            0.0
        };
        Hit { rank, order: doc.order, price: doc.price, key: doc.key, slot }
    }

    fn doc(&self, slot: u32) -> &Doc<K, T> {
        self.docs[slot as usize].as_ref().expect("an indexed slot holds a document")
    }

    fn payload(&self, slot: u32) -> &T {
        &self.doc(slot).payload
    }

    fn lexeme_id(&mut self, lexeme: String) -> u32 {
        match self.lexemes.entry(lexeme.into_boxed_str()) {
            Entry::Occupied(held) => *held.get(),
            Entry::Vacant(new) => {
                let posting = Posting { lexeme: new.key().clone(), ..Posting::default() };
                let id = match self.free_lexemes.pop() {
                    Some(id) => {
                        self.postings[id as usize] = posting;
                        id
                    }
                    None => {
                        self.postings.push(posting);
                        u32::try_from(self.postings.len() - 1).expect("fewer than 2^32 lexemes")
                    }
                };
                new.insert(id);
                id
            }
        }
    }

    /// How many distinct lexemes the documents hold.
    pub fn lexemes(&self) -> usize {
        self.lexemes.len()
    }
}

/// A matching document and what orders it.
#[derive(Debug, Clone, Copy)]
struct Hit<K> {
    rank: f32,
    order: i64,
    price: u64,
    key: K,
    slot: u32,
}

impl<K: Ord> Hit<K> {
    /// `Less` when `self` comes first in `order`.
    fn cmp(&self, other: &Self, order: Order) -> Ordering {
        let (a, b) = (self, other);
        match order {
            Order::Relevance => b.rank.total_cmp(&a.rank).then(b.order.cmp(&a.order)).then(b.key.cmp(&a.key)),
            Order::Newest => b.order.cmp(&a.order).then(b.key.cmp(&a.key)),
            Order::PriceAsc => a.price.cmp(&b.price).then(a.key.cmp(&b.key)),
            Order::PriceDesc => b.price.cmp(&a.price).then(b.key.cmp(&a.key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn doc(words: &[(&str, &[(u16, u8)])], order: i64) -> Document {
        let lexemes = words
            .iter()
            .map(|(word, at)| (word.to_string(), at.iter().map(|(p, w)| Position::new(*p, *w)).collect()))
            .collect();
        Document { lexemes, order, price: 1, category: "seo".into(), tier: 0 }
    }

    fn search<'a>(
        index: &'a SearchIndex<i32, &'static str>,
        words: &[&str],
        limit: usize,
        offset: usize,
    ) -> Page<'a, &'static str> {
        index.query(Some(words), &Filter::default(), Order::Relevance, limit, offset)
    }

    #[test]
    fn conjunctions_ranked_then_newest_then_key() {
        let mut index = SearchIndex::default();
        index.upsert(1, doc(&[("seo", &[(1, 3)]), ("audit", &[(2, 3)])], 10), "close");
        index.upsert(2, doc(&[("seo", &[(1, 3)]), ("audit", &[(9, 1)])], 30), "far");
        index.upsert(3, doc(&[("seo", &[(1, 3)]), ("audit", &[(9, 1)])], 20), "far, older");
        index.upsert(4, doc(&[("seo", &[(1, 3)])], 40), "seo only");
        let page = search(&index, &["seo", "audit"], 10, 0);
        assert_eq!((page.total, page.entries), (3, vec![&"close", &"far", &"far, older"]));
        let page = search(&index, &["audit", "seo", "seo"], 1, 1);
        assert_eq!((page.total, page.entries), (3, vec![&"far"]));
        assert_eq!(search(&index, &["seo", "nothing"], 10, 0).total, 0);
        assert_eq!(search(&index, &[], 10, 0).total, 0);
        let page = search(&index, &["seo"], 2, 0);
        assert_eq!((page.total, page.entries), (4, vec![&"seo only", &"far"]));
        // A replaced document is found by its new words only, and a removed one not at all.
        index.upsert(4, doc(&[("audit", &[(1, 3)])], 40), "audit only");
        assert_eq!(search(&index, &["seo"], 10, 0).total, 3);
        assert_eq!(search(&index, &["audit"], 1, 0).entries, [&"audit only"]);
        index.remove(&1);
        index.remove(&1);
        let page = search(&index, &["seo", "audit"], 10, 0);
        assert_eq!((page.total, page.entries), (2, vec![&"far", &"far, older"]));
        assert_eq!(index.len(), 3);
        // A freed slot is taken again and its postings stay sorted.
        index.upsert(5, doc(&[("seo", &[(2, 3)]), ("audit", &[(1, 3)])], 0), "reused");
        assert_eq!(search(&index, &["audit", "seo"], 1, 0).entries, [&"reused"]);
        // Words no document holds any more are forgotten, and their ids taken again.
        assert_eq!(index.lexemes(), 2);
        index.upsert(6, doc(&[("gone", &[(1, 3)])], 0), "gone");
        index.remove(&6);
        assert_eq!(index.lexemes(), 2);
        assert_eq!(search(&index, &["gone"], 10, 0).total, 0);
        index.upsert(6, doc(&[("back", &[(1, 3)])], -1), "back");
        assert_eq!(search(&index, &["back"], 10, 0).entries, [&"back"]);
        index.remove(&6);
        assert_eq!(index.get(&5), Some(&"reused"));
        // Browsing: newest first, every document once.
        let page = index.query::<&str>(None, &Filter::default(), Order::Relevance, 10, 0);
        assert_eq!((page.total, page.entries), (4, vec![&"audit only", &"far", &"far, older", &"reused"]));
        assert_eq!(
            index
                .query::<&str>(None, &Filter { category: Some("nope"), ..Filter::default() }, Order::Newest, 9, 0)
                .total,
            0
        );
    }

    const WORDS: [&str; 6] = ["api", "audit", "data", "seo", "web", "zap"];
    const CATEGORIES: [&str; 3] = ["seo", "data", "design"];

    /// A document's lexemes with their positions.
    type Lexemes = Vec<(String, Vec<Position>)>;

    /// A document: its words with positions and weights, its order, price, category and tier.
    type Drawn = (Vec<(usize, u16, u8)>, i64, u64, usize, u8);

    fn documents() -> impl Strategy<Value = Vec<Drawn>> {
        prop::collection::vec(
            (prop::collection::vec((0usize..6, 1u16..40, 0u8..4), 0..12), 0i64..4, 1u64..6, 0usize..3, 0u8..3),
            1..40,
        )
    }

    /// The document's lexemes as a tsvector has them: each word once, positions distinct across words.
    fn lexemes(entries: &[(usize, u16, u8)]) -> Vec<(String, Vec<Position>)> {
        let mut lexemes: Vec<(String, Vec<Position>)> = Vec::new();
        let mut used = Vec::new();
        for (word, position, weight) in entries {
            if used.contains(position) {
                continue;
            }
            used.push(*position);
            let at = Position::new(*position, *weight);
            match lexemes.iter_mut().find(|(w, _)| w == WORDS[*word]) {
                Some((_, positions)) => positions.push(at),
                None => lexemes.push((WORDS[*word].to_owned(), vec![at])),
            }
        }
        lexemes
    }

    fn filter_strategy() -> impl Strategy<Value = (Option<usize>, Option<u8>, Option<u64>)> {
        (prop::option::of(0usize..4), prop::option::of(0u8..3), prop::option::of(0u64..7))
    }

    fn order_strategy() -> impl Strategy<Value = Order> {
        prop_oneof![Just(Order::Relevance), Just(Order::Newest), Just(Order::PriceAsc), Just(Order::PriceDesc)]
    }

    proptest! {
        /// Against ranking and sorting every document: the same matches, the same order, the same total, with and
        /// without words, after documents are replaced and removed.
        #[test]
        fn as_a_full_scan(
            docs in documents(),
            query in prop::option::of(prop::collection::vec(0usize..6, 1..4)),
            (category, tier, max_price) in filter_strategy(),
            order in order_strategy(),
            removed in prop::collection::vec(0usize..40, 0..6),
            limit in 1usize..8,
            offset in 0usize..8,
        ) {
            let mut index = SearchIndex::default();
            let mut held: Vec<Option<(Lexemes, Drawn)>> = Vec::new();
            for (key, drawn) in docs.iter().enumerate() {
                // Each document is first put in with other facets, then replaced.
                let half = lexemes(&drawn.0[..drawn.0.len() / 2]);
                let stale = Document { lexemes: half, order: 9, price: 9, category: "x".into(), tier: 2 };
                index.upsert(key, stale, key);
                let lexemes = lexemes(&drawn.0);
                let (_, order, price, category, tier) = drawn.clone();
                let document = Document { lexemes: lexemes.clone(), order, price, category: CATEGORIES[category].into(), tier };
                index.upsert(key, document, key);
                held.push(Some((lexemes, drawn.clone())));
            }
            for key in removed {
                index.remove(&key);
                if let Some(slot) = held.get_mut(key) {
                    *slot = None;
                }
            }
            let wanted: Option<Vec<&str>> = query.as_ref().map(|q| q.iter().map(|w| WORDS[*w]).collect());
            let mut distinct = wanted.clone().unwrap_or_default();
            distinct.sort_unstable();
            distinct.dedup();
            let category_name = category.map(|c| ["seo", "data", "design", "none"][c]);
            let mut expected: Vec<(f32, i64, u64, usize)> = held
                .iter()
                .enumerate()
                .filter_map(|(key, doc)| {
                    let (lexemes, (_, order, price, c, t)) = doc.as_ref()?;
                    let kept = category_name.is_none_or(|name| name == CATEGORIES[*c])
                        && tier.is_none_or(|x| x == *t)
                        && max_price.is_none_or(|max| *price <= max);
                    if !kept {
                        return None;
                    }
                    if wanted.is_none() {
                        return Some((0.0, *order, *price, key));
                    }
                    let positions: Option<Vec<&[Position]>> = distinct
                        .iter()
                        .map(|w| lexemes.iter().find(|(l, _)| l == w).map(|(_, p)| &p[..]))
                        .collect();
                    positions.map(|p| (rank_cd(&p), *order, *price, key))
                })
                .collect();
            expected.sort_by(|a, b| match order {
                Order::Relevance => b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(b.3.cmp(&a.3)),
                Order::Newest => b.1.cmp(&a.1).then(b.3.cmp(&a.3)),
                Order::PriceAsc => a.2.cmp(&b.2).then(a.3.cmp(&b.3)),
                Order::PriceDesc => b.2.cmp(&a.2).then(b.3.cmp(&a.3)),
            });
            let filter = Filter { category: category_name, tier, max_price };
            let page = index.query(wanted.as_deref(), &filter, order, limit, offset);
            prop_assert_eq!(page.total, expected.len() as u64);
            let keys: Vec<usize> = page.entries.into_iter().copied().collect();
            let expected: Vec<usize> = expected.iter().skip(offset).take(limit).map(|e| e.3).collect();
            prop_assert_eq!(keys, expected);
        }
    }
}
