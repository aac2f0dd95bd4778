//! Token budgets and paging, shared by every query that returns code.
//!
//! A result is cut at whole hits once the estimated tokens would pass `max_tokens`, says how
//! many more exist, and gives a cursor to continue. Tokens are estimated as characters / 4,
//! the usual rule of thumb for code with a BPE tokenizer; the estimate errs on the high side
//! for plain identifiers. This module knows nothing of what a hit contains.

use super::SearchError;

/// `max_tokens` when a caller gives none.
pub const DEFAULT_MAX_TOKENS: usize = 4000;
/// The most `max_tokens` may be, well under the 25,000-token limit clients put on a result.
pub const MAX_TOKENS_CAP: usize = 20_000;
/// `limit` when a caller gives none.
pub const DEFAULT_LIMIT: usize = 20;
/// The most `limit` may be.
pub const MAX_LIMIT: usize = 500;

/// Estimated tokens of `text`.
pub fn tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

/// Check `max_tokens` against its bounds.
pub fn max_tokens(given: Option<usize>) -> Result<usize, SearchError> {
    match given {
        None => Ok(DEFAULT_MAX_TOKENS),
        Some(n) if (1..=MAX_TOKENS_CAP).contains(&n) => Ok(n),
        Some(n) => Err(SearchError::BadArgument {
            field: "max_tokens",
            message: format!(
                "{n} is out of range; give 1 to {MAX_TOKENS_CAP} (default {DEFAULT_MAX_TOKENS})"
            ),
        }),
    }
}

/// Check `limit` against its bounds.
pub fn limit(given: Option<usize>) -> Result<usize, SearchError> {
    match given {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(SearchError::BadArgument {
            field: "limit",
            message: format!(
                "{n} is out of range; give 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"
            ),
        }),
    }
}

/// A cursor says where the next page starts and which query it belongs to, so that a cursor
/// given with another query is refused rather than silently misapplied.
pub fn encode_cursor(offset: usize, fingerprint: &str) -> String {
    format!("{offset}.{:08x}", fingerprint_hash(fingerprint))
}

/// The offset a cursor points at; `None` gives 0.
pub fn decode_cursor(cursor: Option<&str>, fingerprint: &str) -> Result<usize, SearchError> {
    let Some(c) = cursor.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(0);
    };
    let bad = |why: &str| SearchError::BadArgument {
        field: "cursor",
        message: format!(
            "`{c}` {why}; pass the next_cursor of the previous page with the same query and filters, or omit it"
        ),
    };
    let (offset, hash) = c.split_once('.').ok_or_else(|| bad("is not a cursor"))?;
    let offset: usize = offset.parse().map_err(|_| bad("is not a cursor"))?;
    if hash != format!("{:08x}", fingerprint_hash(fingerprint)) {
        return Err(bad("belongs to a different query"));
    }
    Ok(offset)
}

fn fingerprint_hash(fp: &str) -> u32 {
    xxhash_rust::xxh3::xxh3_64(fp.as_bytes()) as u32
}

/// Keeps the running total of a page.
#[derive(Debug)]
pub struct Budget {
    max: usize,
    used: usize,
}

impl Budget {
    pub fn new(max: usize) -> Self {
        Self { max, used: 0 }
    }

    /// Take `cost` tokens if they fit. The first item always fits, so that a page is never
    /// empty because one hit is large (callers trim that hit to `remaining()` first).
    pub fn take(&mut self, cost: usize) -> bool {
        if self.used > 0 && self.used + cost > self.max {
            return false;
        }
        self.used += cost;
        true
    }

    pub fn remaining(&self) -> usize {
        self.max.saturating_sub(self.used)
    }

    pub fn used(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked_with_helpful_messages() {
        assert_eq!(max_tokens(None).unwrap(), 4000);
        assert_eq!(max_tokens(Some(20_000)).unwrap(), 20_000);
        let e = max_tokens(Some(20_001)).unwrap_err().to_string();
        assert!(
            e.starts_with("max_tokens:") && e.contains("1 to 20000"),
            "{e}"
        );
        assert!(limit(Some(0)).is_err());
        assert_eq!(limit(None).unwrap(), 20);
    }

    #[test]
    fn cursors_round_trip_and_refuse_other_queries() {
        let c = encode_cursor(40, "q=foo");
        assert_eq!(decode_cursor(Some(&c), "q=foo").unwrap(), 40);
        assert_eq!(decode_cursor(None, "q=foo").unwrap(), 0);
        let e = decode_cursor(Some(&c), "q=bar").unwrap_err().to_string();
        assert!(e.contains("different query"), "{e}");
        assert!(decode_cursor(Some("zz"), "q").is_err());
    }

    #[test]
    fn budget_cuts_at_whole_items_but_never_returns_nothing() {
        let mut b = Budget::new(10);
        assert!(b.take(25), "first item always fits");
        assert!(!b.take(1));
        let mut b = Budget::new(10);
        assert!(b.take(6));
        assert!(!b.take(6));
        assert!(b.take(4));
        assert_eq!(b.remaining(), 0);
    }
}
