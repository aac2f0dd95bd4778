//! The model price catalog: per-million-token prices of current OpenAI, Anthropic, Google and
//! open-weight models, shipped in `resources/pricing.toml` and parsed once.
//!
//! It owns prices and model lookup (exact name, alias, or the longest catalog name that
//! prefixes a dated or suffixed id); it does not know about datasets or reports.
//!
//! # Cost convention
//!
//! Prices are USD per million tokens. In [`PriceCatalog::cost`], `input_tokens` is the
//! **total** prompt size and *includes* the cached tokens (`cache_read_tokens` served from the
//! cache, `cache_write_tokens` written to it), as OpenAI's `prompt_tokens` and the
//! OpenTelemetry `gen_ai.usage.input_tokens` count them. Reasoning tokens are part of
//! `output_tokens`. So:
//!
//! ```text
//! cost = ((input - cache_read - cache_write) * input_price
//!         + cache_read  * cache_read_price
//!         + cache_write * cache_write_price
//!         + output      * output_price) / 1e6
//! ```
//!
//! Anthropic reports `input_tokens` *without* the cached parts: add
//! `cache_read_input_tokens + cache_creation_input_tokens` before calling.
//!
//! ```
//! use apex_core::pricing::PriceCatalog;
//! let catalog = PriceCatalog::builtin();
//! // gpt-4o-mini: 1M uncached input tokens at $0.15 plus 1M output tokens at $0.60.
//! let usd = catalog.cost("gpt-4o-mini", 1_000_000, 1_000_000, 0, 0).unwrap();
//! assert!((usd - 0.75).abs() < 1e-9);
//! ```

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// One model's prices, in USD per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    pub provider: String,
    pub model: String,
    /// `premium`, `standard` or `small`.
    pub tier: String,
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
    pub batch_input: f64,
    pub batch_output: f64,
    /// The cheaper model of the same provider a right-sizing recommendation would suggest.
    pub substitute: Option<String>,
    /// The vendor page the figures belong to.
    pub source: String,
    /// The date the entry was last checked against `source` (YYYY-MM-DD).
    pub as_of: String,
    /// Whether the figures were confirmed on a copy of the vendor's own page that day.
    pub verified: bool,
    /// What the check found (page, figures, derived rates, lifecycle).
    pub note: Option<String>,
}

/// The catalog of model prices. Use [`PriceCatalog::builtin`] for the shipped one.
#[derive(Debug, Clone)]
pub struct PriceCatalog {
    models: Vec<ModelPrice>,
    /// Lower-cased model names and aliases -> index into `models`.
    names: HashMap<String, usize>,
    /// Lower-cased model names and aliases, longest first, for prefix matching.
    prefixes: Vec<(String, usize)>,
}

/// An error in a price catalog file.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("price catalog is not valid TOML: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("price catalog entry `{model}`: {message}")]
    Invalid { model: String, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    model: Vec<EntryFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    provider: String,
    model: String,
    tier: String,
    input: f64,
    output: f64,
    cache_read: f64,
    cache_write: f64,
    batch_input: f64,
    batch_output: f64,
    #[serde(default)]
    substitute: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    source: String,
    as_of: String,
    verified: bool,
    #[serde(default)]
    note: Option<String>,
}

const BUILTIN: &str = include_str!("../../../resources/pricing.toml");

/// The tiers a catalog entry may have.
pub const TIERS: &[&str] = &["premium", "standard", "small"];

impl PriceCatalog {
    /// The catalog shipped in `resources/pricing.toml`, parsed on first use.
    pub fn builtin() -> &'static PriceCatalog {
        static CATALOG: OnceLock<PriceCatalog> = OnceLock::new();
        CATALOG.get_or_init(|| match Self::from_toml(BUILTIN) {
            Ok(c) => c,
            // The file is compiled in and checked by a unit test; an empty catalog keeps a
            // broken build from panicking at run time (every lookup then answers None).
            Err(e) => {
                tracing::error!("built-in price catalog is invalid: {e}");
                PriceCatalog::empty()
            }
        })
    }

    fn empty() -> Self {
        Self {
            models: Vec::new(),
            names: HashMap::new(),
            prefixes: Vec::new(),
        }
    }

    /// Parse a catalog in the format of `resources/pricing.toml`.
    pub fn from_toml(text: &str) -> Result<Self, PricingError> {
        let file: CatalogFile = toml::from_str(text)?;
        let mut catalog = Self::empty();
        let mut aliases = Vec::new();
        for entry in file.model {
            let invalid = |message: String| PricingError::Invalid {
                model: entry.model.clone(),
                message,
            };
            if !TIERS.contains(&entry.tier.as_str()) {
                return Err(invalid(format!(
                    "tier `{}` is not one of {}",
                    entry.tier,
                    TIERS.join(", ")
                )));
            }
            let prices = [
                entry.input,
                entry.output,
                entry.cache_read,
                entry.cache_write,
                entry.batch_input,
                entry.batch_output,
            ];
            if prices.iter().any(|p| !p.is_finite() || *p < 0.0) {
                return Err(invalid(
                    "prices must be finite and not negative".to_string(),
                ));
            }
            if !entry.source.contains("https://") {
                return Err(invalid(format!(
                    "source `{}` names no https:// page",
                    entry.source
                )));
            }
            if !entry.verified && entry.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
                return Err(invalid(
                    "an unverified price needs a `note` saying what the check found".to_string(),
                ));
            }
            if chrono::NaiveDate::parse_from_str(&entry.as_of, "%Y-%m-%d").is_err() {
                return Err(invalid(format!(
                    "as_of `{}` is not a YYYY-MM-DD date",
                    entry.as_of
                )));
            }
            let idx = catalog.models.len();
            if catalog
                .names
                .insert(entry.model.to_ascii_lowercase(), idx)
                .is_some()
            {
                return Err(invalid("listed twice".to_string()));
            }
            aliases.extend(entry.aliases.iter().map(|a| (a.to_ascii_lowercase(), idx)));
            catalog.models.push(ModelPrice {
                provider: entry.provider,
                model: entry.model,
                tier: entry.tier,
                input: entry.input,
                output: entry.output,
                cache_read: entry.cache_read,
                cache_write: entry.cache_write,
                batch_input: entry.batch_input,
                batch_output: entry.batch_output,
                substitute: entry.substitute,
                source: entry.source,
                as_of: entry.as_of,
                verified: entry.verified,
                note: entry.note,
            });
        }
        for (alias, idx) in aliases {
            catalog.names.entry(alias).or_insert(idx);
        }
        for m in &catalog.models {
            if let Some(s) = &m.substitute
                && !catalog.names.contains_key(&s.to_ascii_lowercase())
            {
                return Err(PricingError::Invalid {
                    model: m.model.clone(),
                    message: format!("substitute `{s}` is not in the catalog"),
                });
            }
        }
        catalog.prefixes = catalog.names.iter().map(|(n, i)| (n.clone(), *i)).collect();
        catalog
            .prefixes
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        Ok(catalog)
    }

    /// Every model in the catalog, in file order.
    pub fn models(&self) -> &[ModelPrice] {
        &self.models
    }

    /// The prices of `model`: an exact (case-insensitive) name or alias first, then the same
    /// without a `provider/` prefix, then the longest catalog name that prefixes it at a
    /// separator (so `gpt-4o-2024-08-06` is `gpt-4o` and `gpt-4o-mini-2024-07-18` is
    /// `gpt-4o-mini`).
    pub fn get(&self, model: &str) -> Option<&ModelPrice> {
        let wanted = model.trim().to_ascii_lowercase();
        if let Some(&i) = self.names.get(&wanted) {
            return self.models.get(i);
        }
        let bare = wanted.rsplit('/').next().unwrap_or(&wanted);
        if let Some(&i) = self.names.get(bare) {
            return self.models.get(i);
        }
        self.prefixes
            .iter()
            .find(|(name, _)| {
                bare.strip_prefix(name.as_str())
                    .and_then(|rest| rest.chars().next())
                    .is_some_and(|c| matches!(c, '-' | '@' | ':' | '_' | '.'))
            })
            .and_then(|(_, i)| self.models.get(*i))
    }

    /// The USD cost of one call. `input_tokens` includes the cached tokens (see the module
    /// doc); cached counts larger than the input are clamped so the result is never negative.
    pub fn cost(
        &self,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
        cache_read_tokens: u64,
        cache_write_tokens: u64,
    ) -> Option<f64> {
        let p = self.get(model)?;
        Some(p.cost(
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
        ))
    }
}

impl ModelPrice {
    /// The USD cost of one call at these prices (same convention as [`PriceCatalog::cost`]).
    pub fn cost(
        &self,
        input_tokens: u64,
        output_tokens: u64,
        cache_read_tokens: u64,
        cache_write_tokens: u64,
    ) -> f64 {
        let cache_read = cache_read_tokens.min(input_tokens);
        let cache_write = cache_write_tokens.min(input_tokens - cache_read);
        let uncached = input_tokens - cache_read - cache_write;
        (uncached as f64 * self.input
            + cache_read as f64 * self.cache_read
            + cache_write as f64 * self.cache_write
            + output_tokens as f64 * self.output)
            / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses_and_covers_the_providers() {
        let c = PriceCatalog::from_toml(BUILTIN).unwrap();
        assert!(c.models().len() >= 25);
        for provider in [
            "openai",
            "anthropic",
            "google",
            "meta",
            "mistral",
            "deepseek",
            "qwen",
        ] {
            assert!(
                c.models().iter().any(|m| m.provider == provider),
                "{provider} missing"
            );
        }
        for model in [
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4.1-nano",
            "o3",
            "o4-mini",
            "claude-opus-4-5",
            "claude-sonnet-4-5",
            "claude-haiku-4-5",
            "gemini-2.5-pro",
            "gemini-2.5-flash",
            "gemini-2.5-flash-lite",
            "llama-3.3-70b-instruct",
            "llama-3.1-8b-instruct",
        ] {
            assert_eq!(c.get(model).map(|m| m.model.as_str()), Some(model));
        }
        assert_eq!(PriceCatalog::builtin().models().len(), c.models().len());
    }

    #[test]
    fn substitutes_are_same_provider_and_not_dearer() {
        let c = PriceCatalog::builtin();
        for m in c.models() {
            if let Some(s) = &m.substitute {
                let sub = c.get(s).unwrap();
                assert_eq!(sub.provider, m.provider, "{} -> {s}", m.model);
                assert!(
                    sub.input <= m.input && sub.output <= m.output,
                    "{} -> {s} is dearer",
                    m.model
                );
            }
            assert!(m.cache_read <= m.input, "{}", m.model);
            assert!(m.batch_input <= m.input && m.batch_output <= m.output);
            assert!(!m.source.is_empty());
        }
    }

    #[test]
    fn lookup_by_alias_snapshot_and_host_prefix() {
        let c = PriceCatalog::builtin();
        let name = |q: &str| c.get(q).map(|m| m.model.clone());
        assert_eq!(name("gpt-4o-2024-08-06").as_deref(), Some("gpt-4o"));
        assert_eq!(
            name("gpt-4o-mini-2024-07-18").as_deref(),
            Some("gpt-4o-mini")
        );
        assert_eq!(
            name("claude-sonnet-4-20250514").as_deref(),
            Some("claude-sonnet-4-5")
        );
        assert_eq!(name("openai/GPT-4.1-mini").as_deref(), Some("gpt-4.1-mini"));
        assert_eq!(
            name("meta-llama/Llama-3.3-70B-Instruct-Turbo").as_deref(),
            Some("llama-3.3-70b-instruct")
        );
        assert_eq!(name("o3-2025-04-16").as_deref(), Some("o3"));
        assert_eq!(name("o3x"), None);
        assert_eq!(name("unknown-model"), None);
    }

    #[test]
    fn cost_counts_cached_tokens_inside_input() {
        let c = PriceCatalog::builtin();
        // claude-sonnet-4-5: input 3, cache_read 0.30, cache_write 3.75, output 15.
        let usd = c
            .cost("claude-sonnet-4-5", 10_000, 1_000, 6_000, 2_000)
            .unwrap();
        let expected = (2_000.0 * 3.0 + 6_000.0 * 0.30 + 2_000.0 * 3.75 + 1_000.0 * 15.0) / 1e6;
        assert!((usd - expected).abs() < 1e-12, "{usd} vs {expected}");
        // Cached counts above the input are clamped, never negative.
        let clamped = c.cost("gpt-4o", 100, 0, 500, 500).unwrap();
        assert!((clamped - 100.0 * 1.25 / 1e6).abs() < 1e-12);
        assert_eq!(c.cost("no-such-model", 1, 1, 0, 0), None);
    }

    #[test]
    fn every_entry_says_whether_its_price_was_verified() {
        let c = PriceCatalog::builtin();
        let verified = c.models().iter().filter(|m| m.verified).count();
        assert!(verified > 0 && verified < c.models().len());
        for m in c.models() {
            assert!(m.source.contains("https://"), "{}", m.model);
            if !m.verified {
                assert!(
                    m.note.as_deref().is_some_and(|n| !n.is_empty()),
                    "{}",
                    m.model
                );
            }
        }
        // Serialized with the flag (as apex://pricing shows it).
        let v = serde_json::to_value(c.get("gpt-4o").unwrap()).unwrap();
        assert_eq!(v["verified"], false);
        // An unverified entry without a note is rejected.
        let bad = BUILTIN.replacen(
            "\nnote = \"Not confirmed on a stored OpenAI page: the gpt-5-codex",
            "\n# note = \"",
            1,
        );
        let err = PriceCatalog::from_toml(&bad).unwrap_err().to_string();
        assert!(err.contains("gpt-5") && err.contains("note"), "{err}");
    }

    #[test]
    fn bad_catalogs_name_the_entry() {
        let bad = BUILTIN.replacen("tier = \"premium\"", "tier = \"huge\"", 1);
        let err = PriceCatalog::from_toml(&bad).unwrap_err().to_string();
        assert!(err.contains("gpt-5") && err.contains("huge"), "{err}");
        let bad = BUILTIN.replacen("substitute = \"gpt-5-mini\"", "substitute = \"nope\"", 1);
        let err = PriceCatalog::from_toml(&bad).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
    }
}
