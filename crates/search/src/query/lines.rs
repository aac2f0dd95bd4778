//! The line scorer and the snippets: which lines of a file answer a query and how well, and
//! how lines are numbered in what the tools return.

use std::collections::{HashMap, HashSet};

use regex::{Regex, RegexBuilder};

use crate::budget::{self, Budget};
use crate::tokenizer::{CodeTokenizer, QueryWord};

/// Lines of context above and below a hit line.
pub(crate) const CONTEXT: u32 = 2;
/// Snippet lines longer than this are cut.
pub(crate) const MAX_LINE_CHARS: usize = 240;

/// Lines `from..=to` (1-based, clipped), numbered; the `mark` line gets `:`, others `-`.
pub(crate) fn snippet(lines: &[&str], from: u32, to: u32, mark: u32) -> String {
    let last = (lines.len() as u32).min(to);
    let mut out = String::new();
    for n in from.max(1)..=last {
        let text = lines[n as usize - 1].trim_end_matches('\r');
        let sep = if n == mark { ':' } else { '-' };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!(
            "{n}{sep} {}",
            apex_core::events::truncate_chars(text, MAX_LINE_CHARS)
        ));
    }
    out
}

/// Lines `from..=to` numbered as `N  text`, cut at whole lines to `max_tokens`. Returns the
/// text and the last line included.
pub(crate) fn numbered(lines: &[&str], from: u32, to: u32, max_tokens: usize) -> (String, u32) {
    let last = (lines.len() as u32).min(to);
    let width = last.to_string().len();
    let mut out = String::new();
    let mut budget = Budget::new(max_tokens);
    let mut shown = from.saturating_sub(1);
    for n in from.max(1)..=last {
        let text = lines[n as usize - 1].trim_end_matches('\r');
        let line = format!("{n:>width$}  {text}\n");
        if !budget.take(budget::tokens(&line)) {
            break;
        }
        out.push_str(&line);
        shown = n;
    }
    if shown < last {
        out.push_str(&format!(
            "… {} more lines (continue with start_line {})\n",
            last - shown,
            shown + 1
        ));
    }
    (out, shown)
}

/// Finds and ranks the lines of a file that match the query words.
pub(crate) struct LineMatcher {
    words: Vec<QueryWord>,
    prefilter: Option<Regex>,
}

impl LineMatcher {
    pub(crate) fn new(words: &[QueryWord]) -> Self {
        // A line scores only with a word whole or all of its parts, so the word and its
        // longest part find every such line; common short parts (`info`, `get`) would find
        // many more that cannot score.
        let mut alts: Vec<String> = words
            .iter()
            .flat_map(|w| {
                let longest = w.parts.iter().max_by_key(|p| p.len());
                std::iter::once(&w.whole).chain(longest)
            })
            .map(|t| regex::escape(t))
            .collect();
        alts.sort();
        alts.dedup();
        Self {
            words: words.to_vec(),
            prefilter: cached_prefilter(&alts.join("|")),
        }
    }

    /// `(line, score)` of every line that matches at least one word.
    #[cfg(test)]
    fn score_lines(&self, text: &str) -> Vec<(u32, f32)> {
        let mut out = Vec::new();
        self.scan(text, |n, score| {
            out.push((n, score));
            true
        });
        out
    }

    /// The lines a hit needs: scored like [`LineMatcher::score_lines`], definition lines
    /// (`def_lines`) half a point up, and the scan stops once no later line can beat the
    /// best `usable` one: a definition line with every word whole and as typed, or such a
    /// line (not a definition) with eight more lines found to list besides it. Generated files
    /// match a query's part on hundreds of lines, and tokenizing them all cost a query 20 ms.
    pub(crate) fn best_lines(
        &self,
        text: &str,
        def_lines: &HashSet<u32>,
        usable: impl Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        let top = 4.0 * self.words.len() as f32;
        let mut out = Vec::new();
        let mut have_top = false;
        self.scan(text, |n, score| {
            let score = if def_lines.contains(&n) {
                score + 0.5
            } else {
                score
            };
            out.push((n, score));
            if score >= top && usable(n) {
                if score > top {
                    return false;
                }
                have_top = true;
            }
            !(have_top && out.len() > 8)
        });
        out
    }

    /// Score the lines that match at least one word, in order, until `on_line` says stop.
    fn scan(&self, text: &str, mut on_line: impl FnMut(u32, f32) -> bool) {
        let Some(pre) = &self.prefilter else {
            return;
        };
        let mut tok = CodeTokenizer;
        // Per word: whether the whole identifier was seen, and which parts were.
        let mut whole_seen = vec![false; self.words.len()];
        let mut parts_seen: Vec<Vec<bool>> = self
            .words
            .iter()
            .map(|w| vec![false; w.parts.len()])
            .collect();
        let mut lowered = String::new();
        let mut line_no = 1u32;
        let mut line_start = 0usize;
        let mut scored = 0usize;
        for m in pre.find_iter(text) {
            let s = m.start();
            if s < line_start {
                continue; // another match on a line already taken
            }
            line_no += memchr_count(&text.as_bytes()[line_start..s]);
            line_start = text[..s].rfind('\n').map_or(0, |i| i + 1);
            let end = text[s..].find('\n').map_or(text.len(), |i| s + i);
            let line = &text[line_start..end];
            lowered.clear();
            crate::tokenizer::push_lower(&mut lowered, line);
            // Tokenizing is the cost: only lines that hold a word whole or all its parts.
            let may_score = self.words.iter().any(|w| {
                lowered.contains(w.whole.as_str())
                    || (!w.parts.is_empty() && w.parts.iter().all(|p| lowered.contains(p.as_str())))
            });
            let score = if may_score {
                self.score_line(&mut tok, &mut whole_seen, &mut parts_seen, line)
            } else {
                0.0
            };
            if score > 0.0 && !on_line(line_no, score) {
                return;
            }
            scored += 1;
            // Count from the end of this line: the next match is on a later one.
            line_no += 1;
            line_start = (end + 1).min(text.len());
            if end == text.len() || scored >= 5000 {
                return;
            }
        }
    }

    /// One line's score: 3 per word seen as a whole identifier (+1 when written as typed),
    /// 1 per word whose parts are all on the line.
    fn score_line(
        &self,
        tok: &mut CodeTokenizer,
        whole_seen: &mut [bool],
        parts_seen: &mut [Vec<bool>],
        line: &str,
    ) -> f32 {
        use tantivy::tokenizer::{TokenStream, Tokenizer};
        whole_seen.iter_mut().for_each(|b| *b = false);
        parts_seen.iter_mut().flatten().for_each(|b| *b = false);
        let mut stream = tok.token_stream(line);
        while stream.advance() {
            let t = stream.token().text.as_str();
            for (i, w) in self.words.iter().enumerate() {
                if w.whole == t {
                    whole_seen[i] = true;
                }
                for (j, p) in w.parts.iter().enumerate() {
                    if p == t {
                        parts_seen[i][j] = true;
                    }
                }
            }
        }
        let mut score = 0.0f32;
        for (i, w) in self.words.iter().enumerate() {
            if whole_seen[i] {
                score += 3.0;
                if line.contains(&w.original) {
                    score += 1.0;
                }
            } else if !w.parts.is_empty() && parts_seen[i].iter().all(|&b| b) {
                score += 1.0;
            }
        }
        score
    }
}

/// The case-insensitive alternation of a query's words, compiled once per distinct query:
/// compiling it (a DFA and a literal prefilter) cost as much as scoring the lines of a page.
fn cached_prefilter(pattern: &str) -> Option<Regex> {
    const CAPACITY: usize = 512;
    static CACHE: std::sync::LazyLock<std::sync::Mutex<HashMap<String, Option<Regex>>>> =
        std::sync::LazyLock::new(Default::default);
    if let Ok(cache) = CACHE.lock()
        && let Some(re) = cache.get(pattern)
    {
        return re.clone();
    }
    let re = RegexBuilder::new(pattern)
        .case_insensitive(true)
        .build()
        .ok();
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() >= CAPACITY {
            cache.clear();
        }
        cache.insert(pattern.to_string(), re.clone());
    }
    re
}

fn memchr_count(bytes: &[u8]) -> u32 {
    memchr::memchr_iter(b'\n', bytes).count() as u32
}

/// The lines of `text`, as `text.lines().collect()` gives them (`\n` or `\r\n` ends a line,
/// a last line without one counts, a bare `\r` is kept), found with `memchr`: `str::lines`
/// looks for each line's end on its own, which made splitting the largest part of reading a
/// file for the symbol fallback.
pub(crate) fn split_lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(memchr::memchr_iter(b'\n', bytes).count() + 1);
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', bytes) {
        let end = if nl > start && bytes[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        // `\n` and `\r` are ASCII: both ends are character boundaries.
        out.push(&text[start..end]);
        start = nl + 1;
    }
    if start < bytes.len() {
        out.push(&text[start..]);
    }
    out
}

/// 1-based numbers of the lines where `re` matches (a multi-line match counts its first line).
pub(crate) fn regex_lines(re: &Regex, text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let mut line_no = 1u32;
    let mut pos = 0usize;
    for m in re.find_iter(text) {
        if m.start() == m.end() && m.start() == text.len() && !text.is_empty() {
            break;
        }
        line_no += memchr_count(&text.as_bytes()[pos..m.start()]);
        pos = m.start();
        if out.last() != Some(&line_no) {
            out.push(line_no);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::query_words;

    #[test]
    fn snippets_mark_the_hit_line() {
        let lines = ["a", "b", "c", "d"];
        assert_eq!(snippet(&lines, 1, 3, 2), "1- a\n2: b\n3- c");
        assert_eq!(snippet(&lines, 3, 9, 4), "3- c\n4: d");
    }

    #[test]
    fn numbered_lines_stop_at_the_budget() {
        let lines: Vec<String> = (1..=100).map(|i| format!("line number {i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (text, last) = numbered(&refs, 1, 100, 50);
        assert!(last < 100 && last > 5, "{last}");
        assert!(text.starts_with("  1  line number 1\n"), "{text}");
        assert!(text.contains(&format!("continue with start_line {}", last + 1)));
    }

    #[test]
    fn every_matching_line_is_scored_once_with_its_number() {
        let m = LineMatcher::new(&query_words("emit"));
        // Several matches on one line, blank lines, CRLF, and a match on the last line
        // without a newline.
        let text = "emit(emit(emit))\n\nnone here\r\nx.emit();\r\n\n\nlast emit";
        let lines: Vec<u32> = m.score_lines(text).iter().map(|&(l, _)| l).collect();
        assert_eq!(lines, vec![1, 4, 7]);
        assert_eq!(m.score_lines("no match at all"), vec![]);
        // The compiled prefilter is shared by equal queries.
        let again = LineMatcher::new(&query_words("emit"));
        assert_eq!(again.score_lines(text).len(), 3);
    }

    #[test]
    fn lines_rank_whole_identifiers_over_parts() {
        let m = LineMatcher::new(&query_words("parseConfig"));
        let text = "let parse = 1;\nfn parseConfig() {}\nconfig.parse()\n";
        let scored = m.score_lines(text);
        let best = scored.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        assert_eq!(best.0, 2);
        assert!(
            scored.iter().any(|&(l, _)| l == 3),
            "parts on one line count"
        );
        assert!(
            !scored.iter().any(|&(l, _)| l == 1),
            "one part alone does not"
        );
    }

    #[test]
    fn lines_split_as_str_lines_splits_them() {
        let cases = [
            "",
            "\n",
            "\n\n",
            "a",
            "a\n",
            "a\nb",
            "a\r\nb\r\n",
            "a\rb",
            "a\r",
            "\r\n",
            "\r",
            "\r\r\n",
            "é\r\nü\n\n€",
            "x\n\r",
            "\n\r\n\r",
        ];
        for text in cases {
            assert_eq!(
                split_lines(text),
                text.lines().collect::<Vec<_>>(),
                "{text:?}"
            );
        }
        // Random texts over the characters that matter.
        let alphabet = ["a", "\n", "\r", "é", " ", "\r\n"];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..2000 {
            let mut text = String::new();
            for _ in 0..(state % 24) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            state = state.wrapping_add(0x9E37_79B9);
            assert_eq!(
                split_lines(&text),
                text.lines().collect::<Vec<_>>(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn regex_lines_are_one_based_and_unique() {
        let re = Regex::new("o").unwrap();
        assert_eq!(regex_lines(&re, "foo\nbar\nzoo\n"), [1, 3]);
    }
}
