//! Who writes the prose of a report: the [`Narrator`] trait, its deterministic
//! implementation, and the guard that keeps an LLM's text from inventing figures.
//!
//! The MCP face implements `Narrator` over the client's LLM (sampling); this module only
//! defines the prompts and checks the answers. No narrator ever computes a number: the
//! summary prompt carries the figures and an answer stating any other figure is refused.

use serde::Serialize;

/// The name a report gives when no LLM wrote its prose.
pub const DETERMINISTIC: &str = "deterministic";

/// A request for an executive summary: the prompt an LLM gets, and the text used without one.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SummaryPrompt {
    pub system: String,
    /// The facts (every figure the summary may use) and the instructions.
    pub user: String,
    /// The summary written without an LLM.
    pub deterministic: String,
    pub max_tokens: u32,
}

/// A request to classify a free-form request into one of `categories`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassifyPrompt {
    pub system: String,
    pub user: String,
    pub categories: Vec<String>,
    pub max_tokens: u32,
}

/// Text an LLM wrote, and which model wrote it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Narration {
    pub text: String,
    pub model: String,
}

/// Writes the prose parts of a run. Implementations must be callable from a blocking
/// thread; returning `None` means "use the deterministic text".
pub trait Narrator: Send + Sync {
    /// `deterministic`, or a description of the LLM (e.g. `client sampling`).
    fn name(&self) -> String;

    /// The category of a request the keyword rules could not place, if the narrator knows.
    fn classify(&self, _prompt: &ClassifyPrompt) -> Option<Narration> {
        None
    }

    /// An executive summary written from `prompt.user`'s facts.
    fn executive_summary(&self, _prompt: &SummaryPrompt) -> Option<Narration> {
        None
    }
}

/// The narrator of offline runs: it never answers, so the deterministic text is used.
#[derive(Debug, Default, Clone, Copy)]
pub struct DeterministicNarrator;

impl Narrator for DeterministicNarrator {
    fn name(&self) -> String {
        DETERMINISTIC.into()
    }
}

/// A narrator whose answers were obtained beforehand (the 2026-07-28 input-request round
/// trip: the client answered the sampling requests, the retried call carries the answers).
#[derive(Debug, Default, Clone)]
pub struct PreparedNarrator {
    pub classification: Option<Narration>,
    pub summary: Option<Narration>,
}

impl Narrator for PreparedNarrator {
    fn name(&self) -> String {
        self.summary
            .as_ref()
            .or(self.classification.as_ref())
            .map(|n| n.model.clone())
            .unwrap_or_else(|| DETERMINISTIC.into())
    }

    fn classify(&self, _prompt: &ClassifyPrompt) -> Option<Narration> {
        self.classification.clone()
    }

    fn executive_summary(&self, _prompt: &SummaryPrompt) -> Option<Narration> {
        self.summary.clone()
    }
}

/// A narrator that answers nothing but remembers what it was asked: a dry run with it
/// yields the prompts to send to a client that can only answer between two calls
/// (the 2026-07-28 input-request round trip).
#[derive(Debug, Default)]
pub struct CapturingNarrator {
    pub classify: std::sync::Mutex<Option<ClassifyPrompt>>,
    pub summary: std::sync::Mutex<Option<SummaryPrompt>>,
}

impl Narrator for CapturingNarrator {
    fn name(&self) -> String {
        DETERMINISTIC.into()
    }

    fn classify(&self, prompt: &ClassifyPrompt) -> Option<Narration> {
        if let Ok(mut c) = self.classify.lock() {
            *c = Some(prompt.clone());
        }
        None
    }

    fn executive_summary(&self, prompt: &SummaryPrompt) -> Option<Narration> {
        if let Ok(mut s) = self.summary.lock() {
            *s = Some(prompt.clone());
        }
        None
    }
}

/// The numbers written in `text`, normalized (thousands separators and `$` removed).
fn numbers_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next_is_digit = chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if c.is_ascii_digit() || (!cur.is_empty() && (c == '.' || c == ',') && next_is_digit) {
            if c != ',' {
                cur.push(c);
            }
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Check that every figure in an LLM's `text` appears in `facts` (small counts up to 10 are
/// always allowed). Returns the figures that do not, which make the text unusable.
pub fn invented_figures(text: &str, facts: &str) -> Vec<String> {
    let known = numbers_in(facts);
    let mut bad: Vec<String> = numbers_in(text)
        .into_iter()
        .filter(|n| n.parse::<f64>().map(|v| v > 10.0).unwrap_or(true) || n.contains('.'))
        .filter(|n| {
            let trimmed = n.trim_end_matches('0').trim_end_matches('.');
            !known.iter().any(|k| {
                k == n || k.trim_end_matches('0').trim_end_matches('.') == trimmed
                // a rounded form of a known figure (e.g. 12.3 for 12.34) is still that figure
                || (n.contains('.') && k.starts_with(n.as_str()))
                || (!n.contains('.') && k.split('.').next() == Some(n.as_str()))
            })
        })
        .collect();
    bad.dedup();
    bad
}

/// Make a one-word category out of an LLM's classification answer, if it names one.
pub fn parse_category(answer: &str, categories: &[String]) -> Option<String> {
    let lower = answer.to_ascii_lowercase();
    let normalized = lower.replace([' ', '-'], "_");
    categories
        .iter()
        .filter(|c| normalized.contains(c.as_str()))
        .max_by_key(|c| c.len())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_not_in_the_facts_are_caught() {
        let facts = "Total spend $1,234.56 over 12,000 calls; savings $400.10 (32.4%).";
        assert!(invented_figures("Spend was $1,234.56 across 12,000 calls.", facts).is_empty());
        assert!(invented_figures("We found 3 quick wins saving about $400.", facts).is_empty());
        assert_eq!(
            invented_figures("Savings could reach $9,999.", facts),
            vec!["9999".to_string()]
        );
        assert!(invented_figures("Spend is concentrated on one model.", facts).is_empty());
    }

    #[test]
    fn categories_are_read_from_free_text() {
        let cats: Vec<String> = ["cost_optimization", "performance", "general"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            parse_category("Category: Cost optimization.", &cats).as_deref(),
            Some("cost_optimization")
        );
        assert_eq!(parse_category("no idea", &cats), None);
    }
}
