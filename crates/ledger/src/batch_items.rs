//! Which queued items one batch takes: oldest first, within what one transaction can carry, and alone where a batch
//! holding them reverted as a whole.

/// What a batch's items may take of its transaction: nodes refuse a transaction past 128 KiB, and a batch that is
/// never accepted holds its items and the relayer's nonce (every later batch waits behind it).
const BATCH_CALLDATA_BYTES: usize = 120 * 1024;
/// Each item's share besides its signature: its authorization, terms and ABI words, more than any route's takes.
const ITEM_CALLDATA_BYTES: usize = 1024;

/// A pending item as the claim reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Queued {
    pub(crate) id: i64,
    /// Its signature's length in bytes.
    pub(crate) signature_len: i32,
    /// A batch holding it reverted as a whole: it goes in a batch of its own.
    pub(crate) alone: bool,
}

/// The ids of `rows` (id, must go alone; oldest first) that one batch takes: the oldest by itself if it must go
/// alone, else every one that need not (those that must wait until they are the oldest).
pub(crate) fn together(rows: &[(i64, bool)]) -> Vec<i64> {
    match rows.first() {
        None => Vec::new(),
        Some(&(id, true)) => vec![id],
        Some(_) => rows.iter().filter(|(_, alone)| !alone).map(|(id, _)| *id).collect(),
    }
}

/// The ids of `rows` (oldest first) that one batch takes: the oldest by itself if it must go alone; otherwise those
/// that need not, at least the first of them (no signature verify takes is too long for a batch of its own), then
/// as many as fit the calldata budget (those that must go alone wait until they are the oldest).
pub(crate) fn batch_items(rows: &[Queued]) -> Vec<i64> {
    match rows.first() {
        None => Vec::new(),
        Some(first) if first.alone => vec![first.id],
        Some(_) => {
            let mut used = 0usize;
            rows.iter()
                .filter(|row| !row.alone)
                .enumerate()
                .take_while(|(n, row)| {
                    used += ITEM_CALLDATA_BYTES + usize::try_from(row.signature_len).unwrap_or(usize::MAX / 2);
                    *n == 0 || used <= BATCH_CALLDATA_BYTES
                })
                .map(|(_, row)| row.id)
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(signature_len: i32, count: i64) -> Vec<Queued> {
        (0..count).map(|id| Queued { id, signature_len, alone: false }).collect()
    }

    #[test]
    fn a_batch_holds_what_fits_one_transaction_and_at_least_one_item() {
        assert_eq!(batch_items(&queued(65, 100)).len(), 100, "a full batch of plain signatures fits");
        let fitted = batch_items(&queued(8_192, 100));
        assert_eq!(fitted, (0..13).collect::<Vec<_>>(), "the oldest, in order, as many as fit");
        let huge = [Queued { id: 7, signature_len: 200_000, alone: false }];
        assert_eq!(batch_items(&huge), [7], "one item always goes, alone");
        assert!(batch_items(&[]).is_empty());
    }

    #[test]
    fn an_item_of_a_reverted_batch_goes_by_itself_and_the_others_go_without_it() {
        let mut rows = queued(65, 6);
        rows[0].alone = true;
        rows[3].alone = true;
        assert_eq!(batch_items(&rows), [0], "the oldest must go alone: a batch of one");
        assert_eq!(batch_items(&rows[1..]), [1, 2, 4, 5], "the others without the next that must go alone");
        assert_eq!(batch_items(&rows[3..]), [3]);
        let actions = [(10, false), (11, false), (12, true), (13, false)];
        assert_eq!(together(&actions), [10, 11, 13]);
        assert_eq!(together(&actions[2..]), [12]);
        assert!(together(&[]).is_empty());
    }
}
