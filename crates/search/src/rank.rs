//! `ts_rank_cd`, PostgreSQL's cover density ranking (`src/backend/utils/adt/tsrank.c`, `calc_rank_cd`), for a
//! conjunction of distinct lexemes with the default weights and no normalisation, computed in the same order of
//! floating-point operations so that it returns the same `real`, bit for bit.

/// A lexeme's position in a document with its weight, as a `tsvector` keeps it: positions 1 to 16,383, weight 0 (D,
/// the default) to 3 (A).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    position: u16,
    weight: u8,
}

impl Position {
    /// Position `position` with weight `weight` (0 = D … 3 = A; higher values are taken as A).
    pub fn new(position: u16, weight: u8) -> Self {
        Self { position, weight: weight.min(3) }
    }

    /// Where the lexeme is.
    pub fn position(self) -> u16 {
        self.position
    }

    /// Its weight, 0 (D) to 3 (A).
    pub fn weight(self) -> u8 {
        self.weight
    }
}

/// PostgreSQL's default weights for D, C, B and A, as the `float4` it keeps them in.
const WEIGHTS: [f32; 4] = [0.1, 0.2, 0.4, 1.0];

/// `ts_rank_cd(document, 'l1' & 'l2' & ...)` where `lexemes[i]` holds the positions of the i-th lexeme of the query in
/// the document, the lexemes given in PostgreSQL's order of lexemes (their bytes; PostgreSQL breaks a tie of position
/// and weight by the lexeme's place in the vector). Each lexeme must be distinct. 0 when a lexeme has no position.
pub fn rank_cd(lexemes: &[&[Position]]) -> f32 {
    let inverse = WEIGHTS.map(|weight| 1.0 / f64::from(weight));
    // The document as PostgreSQL represents it for ranking: every position of a query lexeme, sorted by position,
    // then weight, then lexeme.
    let mut doc: Vec<(Position, usize)> = lexemes
        .iter()
        .enumerate()
        .flat_map(|(lexeme, positions)| positions.iter().map(move |p| (*p, lexeme)))
        .collect();
    if lexemes.is_empty() || doc.is_empty() {
        return 0.0;
    }
    doc.sort_unstable();
    let wanted = lexemes.len();
    let mut seen = vec![false; wanted];
    let mut density = 0.0_f64;
    let mut from = 0;
    // Each cover: from `from`, the first entry by which every lexeme has been seen ends it; from there back, the first
    // by which every lexeme has been seen again begins it. The next cover is looked for after its beginning.
    while let Some(end) = all_seen(doc[from..].iter().map(|entry| entry.1), &mut seen).map(|at| from + at) {
        let back = all_seen(doc[from..=end].iter().rev().map(|entry| entry.1), &mut seen)
            .expect("the entries up to the cover's end hold every lexeme");
        let begin = end - back;
        let mut inverse_sum = 0.0_f64;
        for entry in &doc[begin..=end] {
            inverse_sum += inverse[usize::from(entry.0.weight)];
        }
        let length = (end - begin) as i32;
        let cover = f64::from(length + 1) / inverse_sum;
        let mut noise = i32::from(doc[end].0.position) - i32::from(doc[begin].0.position) - length;
        if noise < 0 {
            noise = length / 2;
        }
        density += cover / f64::from(1 + noise);
        from = begin + 1;
    }
    density as f32
}

/// How many entries of `lexemes` are read until each of `seen.len()` lexemes has been seen, less one (the index of
/// the entry completing them); `None` if they never all are. `seen` is cleared first.
fn all_seen(lexemes: impl Iterator<Item = usize>, seen: &mut [bool]) -> Option<usize> {
    seen.fill(false);
    let mut missing = seen.len();
    for (at, lexeme) in lexemes.enumerate() {
        if !std::mem::replace(&mut seen[lexeme], true) {
            missing -= 1;
            if missing == 0 {
                return Some(at);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(position: u16, weight: u8) -> Position {
        Position::new(position, weight)
    }

    // Expected values are PostgreSQL 15's, from `SELECT ts_rank_cd(vector::tsvector, query::tsquery)`.
    #[test]
    fn as_postgresql_ranks() {
        // '''seo'':1A', 'seo': the weight of A.
        assert_eq!(rank_cd(&[&[at(1, 3)]]), 1.0);
        // '''seo'':1A,5C', 'seo': one cover per position.
        assert_eq!(rank_cd(&[&[at(1, 3), at(5, 1)]]), 1.2);
        // '''audit'':2A ''seo'':1A', 'seo' & 'audit': one cover, no noise.
        assert_eq!(rank_cd(&[&[at(1, 3)], &[at(2, 3)]]), 1.0);
        // '''audit'':9C ''seo'':1A', 'seo' & 'audit': seven words between.
        assert_eq!(rank_cd(&[&[at(1, 3)], &[at(9, 1)]]), 0.041666668);
        // '''audit'':3B,9C ''seo'':1A,12C', 'seo' & 'audit'.
        assert_eq!(rank_cd(&[&[at(1, 3), at(12, 1)], &[at(3, 2), at(9, 1)]]), 0.35238096);
        // '''audit'' ''seo'':1A', 'seo & audit': a lexeme without positions is never in a cover.
        assert_eq!(rank_cd(&[&[at(1, 3)], &[]]), 0.0);
        assert_eq!(rank_cd(&[]), 0.0);
    }
}
