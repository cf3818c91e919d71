//! The text forms PostgreSQL prints a `tsvector` and a `tsquery` in (`tsvectorout`, `tsqueryout`), read back.

use crate::rank::Position;

/// A `tsvector` or `tsquery` text this crate cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a tsvector PostgreSQL prints: {0}")]
pub struct TextError(&'static str);

/// The lexemes of a `tsvector` printed by PostgreSQL (`'audit':3B 'seo':1A,4C`), each with its positions, in the
/// order printed (PostgreSQL's, sorted).
pub fn parse_tsvector(text: &str) -> Result<Vec<(String, Vec<Position>)>, TextError> {
    let mut rest = text.trim_start();
    let mut lexemes = Vec::new();
    while !rest.is_empty() {
        let (lexeme, after) = quoted(rest).ok_or(TextError("a lexeme is not quoted"))?;
        rest = after;
        let mut positions = Vec::new();
        if let Some(after) = rest.strip_prefix(':') {
            rest = after;
            loop {
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                let position: u16 = rest[..digits].parse().map_err(|_| TextError("a position is not a number"))?;
                rest = &rest[digits..];
                // D, the default weight, is not printed.
                let weight = match rest.as_bytes().first() {
                    Some(b'A') => Some(3),
                    Some(b'B') => Some(2),
                    Some(b'C') => Some(1),
                    Some(b'D') => Some(0),
                    _ => None,
                };
                if weight.is_some() {
                    rest = &rest[1..];
                }
                positions.push(Position::new(position, weight.unwrap_or(0)));
                match rest.strip_prefix(',') {
                    Some(after) => rest = after,
                    None => break,
                }
            }
        }
        lexemes.push((lexeme, positions));
        rest = match rest.strip_prefix(' ') {
            Some(after) => after,
            None if rest.is_empty() => rest,
            None => return Err(TextError("lexemes are not separated by a space")),
        };
    }
    Ok(lexemes)
}

/// The lexemes of a `tsquery` printed by PostgreSQL when it is a plain conjunction (`'seo' & 'audit'`), in the order
/// given; an empty query (only stop words) is no lexemes. `None` for anything else: a phrase, `|`, `!`, a prefix
/// (`:*`) or a weight (`:A`).
pub fn conjunction(text: &str) -> Option<Vec<String>> {
    let mut rest = text.trim();
    let mut lexemes = Vec::new();
    while !rest.is_empty() {
        let (lexeme, after) = quoted(rest)?;
        lexemes.push(lexeme);
        rest = match after.strip_prefix(" & ") {
            Some(after) => after,
            None if after.is_empty() => after,
            None => return None,
        };
    }
    Some(lexemes)
}

/// A quoted lexeme at the start of `text` (`'it''s'`: a quote is doubled, and a backslash escapes the next
/// character) and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('\'')?.char_indices();
    let mut lexeme = String::new();
    let body = &text[1..];
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => lexeme.push(chars.next()?.1),
            '\'' => {
                if body[at + 1..].starts_with('\'') {
                    chars.next();
                    lexeme.push('\'');
                } else {
                    return Some((lexeme, &body[at + 1..]));
                }
            }
            c => lexeme.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_as_printed() {
        let parsed = parse_tsvector("'audit':3B 'it''s':7 'seo':1A,4C 'bare' 'back\\\\slash':2D").unwrap();
        let names: Vec<_> = parsed.iter().map(|(lexeme, _)| lexeme.as_str()).collect();
        assert_eq!(names, ["audit", "it's", "seo", "bare", "back\\slash"]);
        assert_eq!(parsed[0].1, [Position::new(3, 2)]);
        assert_eq!(parsed[1].1, [Position::new(7, 0)]);
        assert_eq!(parsed[2].1, [Position::new(1, 3), Position::new(4, 1)]);
        assert!(parsed[3].1.is_empty());
        assert_eq!(parsed[4].1, [Position::new(2, 0)]);
        assert_eq!(parse_tsvector("").unwrap(), []);
        assert!(parse_tsvector("seo:1").is_err());
        assert!(parse_tsvector("'seo':x").is_err());
        assert!(parse_tsvector("'seo'").is_ok());
        assert!(parse_tsvector("'seo':1'audit':2").is_err());
    }

    #[test]
    fn only_plain_conjunctions() {
        assert_eq!(conjunction("'seo' & 'audit'").unwrap(), ["seo", "audit"]);
        assert_eq!(conjunction("'seo'").unwrap(), ["seo"]);
        assert_eq!(conjunction("").unwrap(), Vec::<String>::new());
        assert_eq!(conjunction("'o''neil' & 'x'").unwrap(), ["o'neil", "x"]);
        for other in ["'seo' | 'audit'", "!'seo'", "'seo' <-> 'audit'", "'seo':*", "'seo':A & 'x'", "( 'a' & 'b' )"] {
            assert_eq!(conjunction(other), None, "{other}");
        }
    }
}
