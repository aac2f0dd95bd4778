//! The model price catalog: per-million-token prices of current OpenAI, Anthropic, Google and
//! open-weight models, shipped in `resources/pricing.toml` and parsed once.
//!
//! It owns prices and model lookup (exact name, alias, or the longest catalog name that
//! prefixes a dated or suffixed id), and a user's prices file laid over the shipped catalog
//! ([`PriceCatalog::load`], `--prices` / `APEX_PRICES`); it does not know about datasets or
//! reports. Every entry says where its figures come from ([`ModelPrice::source`],
//! [`ModelPrice::origin`]) and whether they were checked on the provider's page
//! ([`ModelPrice::verified`]).
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
use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use toml::Spanned;

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
    /// Other names of the model (dated snapshots, host-specific ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Where the figures come from: the shipped catalog or a user's prices file.
    #[serde(default)]
    pub origin: PriceOrigin,
}

/// Where a catalog entry's figures come from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PriceOrigin {
    /// The catalog shipped with the server (`resources/pricing.toml`).
    #[default]
    Catalog,
    /// A user's prices file (`--prices` / `APEX_PRICES`), at this line.
    File { path: String, line: usize },
}

impl std::fmt::Display for PriceOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PriceOrigin::Catalog => f.write_str("the shipped catalog"),
            PriceOrigin::File { path, line } => write!(f, "{path}:{line}"),
        }
    }
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

/// An error in a user's prices file: the file, the line and what is wrong with which field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PricesFileError {
    #[error("prices file {path}: cannot read it: {message}")]
    Read { path: String, message: String },
    #[error("prices file {path}, line {line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
}

/// A user's prices file: `[[model]]` entries like the catalog's, every field but `model`
/// optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PricesFile {
    #[serde(default)]
    model: Vec<PriceEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceEntry {
    model: Spanned<String>,
    provider: Option<Spanned<String>>,
    tier: Option<Spanned<String>>,
    input: Option<Spanned<f64>>,
    output: Option<Spanned<f64>>,
    cache_read: Option<Spanned<f64>>,
    cache_write: Option<Spanned<f64>>,
    batch_input: Option<Spanned<f64>>,
    batch_output: Option<Spanned<f64>>,
    substitute: Option<Spanned<String>>,
    aliases: Option<Spanned<Vec<String>>>,
    source: Option<Spanned<String>>,
    as_of: Option<Spanned<String>>,
    verified: Option<Spanned<bool>>,
    note: Option<Spanned<String>>,
}

impl PriceEntry {
    fn sets_price(&self) -> bool {
        [
            &self.input,
            &self.output,
            &self.cache_read,
            &self.cache_write,
            &self.batch_input,
            &self.batch_output,
        ]
        .iter()
        .any(|p| p.is_some())
    }

    /// Where `field` is written in the file.
    fn span_of(&self, field: &str) -> Option<std::ops::Range<usize>> {
        fn s<T>(v: &Option<Spanned<T>>) -> Option<std::ops::Range<usize>> {
            v.as_ref().map(Spanned::span)
        }
        match field {
            "model" => Some(self.model.span()),
            "provider" => s(&self.provider),
            "tier" => s(&self.tier),
            "input" => s(&self.input),
            "output" => s(&self.output),
            "cache_read" => s(&self.cache_read),
            "cache_write" => s(&self.cache_write),
            "batch_input" => s(&self.batch_input),
            "batch_output" => s(&self.batch_output),
            "substitute" => s(&self.substitute),
            "aliases" => s(&self.aliases),
            "source" => s(&self.source),
            "as_of" => s(&self.as_of),
            "verified" => s(&self.verified),
            "note" => s(&self.note),
            _ => None,
        }
    }

    /// Set the fields this entry gives on `p`.
    fn apply(&self, p: &mut ModelPrice) {
        fn set<T: Clone>(to: &mut T, from: &Option<Spanned<T>>) {
            if let Some(v) = from {
                *to = v.get_ref().clone();
            }
        }
        set(&mut p.provider, &self.provider);
        set(&mut p.tier, &self.tier);
        set(&mut p.input, &self.input);
        set(&mut p.output, &self.output);
        set(&mut p.cache_read, &self.cache_read);
        set(&mut p.cache_write, &self.cache_write);
        set(&mut p.batch_input, &self.batch_input);
        set(&mut p.batch_output, &self.batch_output);
        set(&mut p.source, &self.source);
        set(&mut p.as_of, &self.as_of);
        set(&mut p.verified, &self.verified);
        set(&mut p.aliases, &self.aliases);
        if let Some(s) = &self.substitute {
            p.substitute = Some(s.get_ref().clone()).filter(|s| !s.trim().is_empty());
        }
        if let Some(n) = &self.note {
            p.note = Some(n.get_ref().clone());
        }
    }
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

const BUILTIN: &str = include_str!("../../../../resources/pricing.toml");

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
        let mut models = Vec::with_capacity(file.model.len());
        for entry in file.model {
            let name = entry.model.clone();
            let invalid = |message: String| PricingError::Invalid {
                model: name.clone(),
                message,
            };
            if entry.as_of.is_empty() {
                return Err(invalid(
                    "as_of is empty; give the YYYY-MM-DD date of the check".into(),
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
            let price = ModelPrice {
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
                aliases: entry.aliases,
                origin: PriceOrigin::Catalog,
            };
            if let Err((field, message)) = price.check() {
                return Err(invalid(format!("{field}: {message}")));
            }
            models.push(price);
        }
        Self::index(models).map_err(|(i, message)| PricingError::Invalid { model: i, message })
    }

    /// Build the lookup tables of `models`; an error names the entry and what is wrong
    /// (a name listed twice, a substitute that is not in the catalog).
    fn index(models: Vec<ModelPrice>) -> Result<Self, (String, String)> {
        let mut catalog = Self::empty();
        for (idx, m) in models.iter().enumerate() {
            if catalog
                .names
                .insert(m.model.to_ascii_lowercase(), idx)
                .is_some()
            {
                return Err((m.model.clone(), "listed twice".to_string()));
            }
        }
        for (idx, m) in models.iter().enumerate() {
            for alias in &m.aliases {
                catalog
                    .names
                    .entry(alias.to_ascii_lowercase())
                    .or_insert(idx);
            }
        }
        for m in &models {
            if let Some(s) = &m.substitute
                && !catalog.names.contains_key(&s.to_ascii_lowercase())
            {
                return Err((
                    m.model.clone(),
                    format!("substitute `{s}` is not in the catalog"),
                ));
            }
        }
        catalog.models = models;
        catalog.prefixes = catalog.names.iter().map(|(n, i)| (n.clone(), *i)).collect();
        catalog
            .prefixes
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        Ok(catalog)
    }

    /// The shipped catalog, with the prices of the user's file at `path` laid over it when
    /// one is given (`--prices` / `APEX_PRICES`).
    pub fn load(path: Option<&Path>) -> Result<Self, PricesFileError> {
        let builtin = Self::builtin();
        match path {
            None => Ok(builtin.clone()),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| PricesFileError::Read {
                    path: p.display().to_string(),
                    message: e.to_string(),
                })?;
                builtin.with_overrides(&text, &p.display().to_string())
            }
        }
    }

    /// This catalog with the entries of a user's prices file laid over it. An entry whose
    /// `model` is a catalog name or alias changes the fields it sets and keeps the rest; any
    /// other entry is a new model and must set `provider`, `input` and `output`. Entries
    /// that set a price carry the file's `source`, `as_of` and `verified` (unverified unless
    /// the file says otherwise), never the catalog's. `path` names the file in errors.
    pub fn with_overrides(&self, text: &str, path: &str) -> Result<Self, PricesFileError> {
        let at = |span: Option<std::ops::Range<usize>>, message: String| {
            let offset = span.map(|s| s.start).unwrap_or(0).min(text.len());
            PricesFileError::Invalid {
                path: path.to_string(),
                line: text[..offset].matches('\n').count() + 1,
                message,
            }
        };
        let file: PricesFile = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            // A bad value's span is the value: name the key written before it.
            let key = e.span().and_then(|span| {
                let line_start = text[..span.start.min(text.len())]
                    .rfind('\n')
                    .map_or(0, |i| i + 1);
                let (key, _) = text[line_start..].split_once('=')?;
                let key = key.trim();
                (!key.is_empty() && !key.contains(['[', ' ']) && !message.contains(key))
                    .then(|| key.to_string())
            });
            match key {
                Some(k) => at(e.span(), format!("field `{k}`: {message}")),
                None => at(e.span(), message),
            }
        })?;
        let mut models = self.models.clone();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for entry in file.model {
            let line_of = |span: std::ops::Range<usize>| {
                text[..span.start.min(text.len())].matches('\n').count() + 1
            };
            let line = line_of(entry.model.span());
            let name = entry.model.get_ref().trim().to_string();
            let field_error = |field: &str, message: String| {
                let span = entry.span_of(field).unwrap_or(entry.model.span());
                at(
                    Some(span),
                    format!("field `{field}` of model `{name}`: {message}"),
                )
            };
            if name.is_empty() {
                return Err(field_error("model", "is empty; name the model".into()));
            }
            if let Some(first) = seen.insert(name.to_ascii_lowercase(), line) {
                return Err(field_error(
                    "model",
                    format!("listed twice (first on line {first})"),
                ));
            }
            let origin = PriceOrigin::File {
                path: path.to_string(),
                line,
            };
            let existing = self.names.get(&name.to_ascii_lowercase()).copied();
            let mut price = match existing {
                Some(i) => models[i].clone(),
                None => {
                    for (field, given) in [
                        ("provider", entry.provider.is_some()),
                        ("input", entry.input.is_some()),
                        ("output", entry.output.is_some()),
                    ] {
                        if !given {
                            return Err(field_error(
                                field,
                                format!(
                                    "missing; `{name}` is not in the catalog (see apex://pricing), so a new entry needs provider, input and output"
                                ),
                            ));
                        }
                    }
                    let input = entry.input.as_ref().map(|v| *v.get_ref()).unwrap_or(0.0);
                    let output = entry.output.as_ref().map(|v| *v.get_ref()).unwrap_or(0.0);
                    ModelPrice {
                        provider: String::new(),
                        model: name.clone(),
                        tier: "standard".into(),
                        input,
                        output,
                        cache_read: input,
                        cache_write: input,
                        batch_input: input,
                        batch_output: output,
                        substitute: None,
                        source: String::new(),
                        as_of: String::new(),
                        verified: false,
                        note: None,
                        aliases: Vec::new(),
                        origin: origin.clone(),
                    }
                }
            };
            let sets_price = entry.sets_price();
            if sets_price || existing.is_none() {
                price.source = format!("prices file {path}");
                price.as_of = String::new();
                price.verified = false;
                price.note = None;
                price.origin = origin.clone();
            }
            entry.apply(&mut price);
            if let Err((field, message)) = price.check() {
                return Err(field_error(field, message));
            }
            match existing {
                Some(i) => models[i] = price,
                None => models.push(price),
            }
        }
        Self::index(models).map_err(|(model, message)| {
            let line = seen.get(&model.to_ascii_lowercase()).copied().unwrap_or(1);
            PricesFileError::Invalid {
                path: path.to_string(),
                line,
                message: format!("model `{model}`: {message}"),
            }
        })
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
    /// Whether the entry is usable: (field, what is wrong) when not.
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.provider.trim().is_empty() {
            return Err((
                "provider",
                "is empty; name the provider, e.g. openai".into(),
            ));
        }
        if !TIERS.contains(&self.tier.as_str()) {
            return Err((
                "tier",
                format!("`{}` is not one of {}", self.tier, TIERS.join(", ")),
            ));
        }
        for (field, v) in [
            ("input", self.input),
            ("output", self.output),
            ("cache_read", self.cache_read),
            ("cache_write", self.cache_write),
            ("batch_input", self.batch_input),
            ("batch_output", self.batch_output),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err((
                    field,
                    format!("{v} is not a price; prices are USD per million tokens, 0 or more"),
                ));
            }
        }
        if !self.as_of.is_empty()
            && chrono::NaiveDate::parse_from_str(&self.as_of, "%Y-%m-%d").is_err()
        {
            return Err((
                "as_of",
                format!("`{}` is not a YYYY-MM-DD date", self.as_of),
            ));
        }
        Ok(())
    }

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
mod tests;
