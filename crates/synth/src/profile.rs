//! Workload profiles: the TOML files in `resources/profiles/`, their schema, one-call
//! `overrides` (a JSON merge patch) and validation with field-naming errors.
//!
//! It owns what a profile may say; turning a profile into records is the generator's job.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::SynthError;
use apex_core::pricing::PriceCatalog;

/// The kinds of request a workload mix may contain.
pub const WORKLOAD_KINDS: &[&str] = &[
    "simple_chat",
    "rag",
    "tool_use",
    "multi_turn_tool_use",
    "failed_request",
];

/// The error types a profile may give rates for.
pub const ERROR_TYPES: &[&str] = &[
    "rate_limit",
    "timeout",
    "server_error",
    "overloaded",
    "context_length_exceeded",
    "content_filter",
    "invalid_request",
    "authentication",
];

/// Arrival distributions: the shape of the daily curve around the peak hours.
pub const DISTRIBUTIONS: &[&str] = &["uniform", "normal", "exponential"];

/// The most records one call may generate.
pub const MAX_RECORDS: u64 = 10_000_000_000;
/// The longest time span, in days.
pub const MAX_DAYS: i64 = 3660;

const BUILTIN: &[(&str, &str)] = &[
    (
        "coding_assistant",
        include_str!("../../../resources/profiles/coding_assistant.toml"),
    ),
    (
        "customer_support",
        include_str!("../../../resources/profiles/customer_support.toml"),
    ),
    (
        "ecommerce",
        include_str!("../../../resources/profiles/ecommerce.toml"),
    ),
    (
        "financial",
        include_str!("../../../resources/profiles/financial.toml"),
    ),
    (
        "gaming",
        include_str!("../../../resources/profiles/gaming.toml"),
    ),
    (
        "healthcare",
        include_str!("../../../resources/profiles/healthcare.toml"),
    ),
    (
        "research",
        include_str!("../../../resources/profiles/research.toml"),
    ),
];

/// A workload profile: everything that shapes a synthetic dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadProfile {
    pub name: String,
    pub description: String,
    pub volume: Volume,
    pub arrival: Arrival,
    /// Model name (from the price catalog) -> weight, per request.
    pub models: BTreeMap<String, f64>,
    /// Workload kind -> weight, per request.
    pub workloads: BTreeMap<String, f64>,
    /// Workload kind -> log-normal token distributions of each model call.
    pub tokens: BTreeMap<String, TokenSpec>,
    pub cache: CacheSpec,
    /// Error type -> probability per model call.
    pub errors: BTreeMap<String, f64>,
    /// Probability that a call repeats a popular prompt (same prompt_hash and input size).
    pub duplicate_prompt_rate: f64,
    /// Tenant name -> weight, per request.
    pub tenants: BTreeMap<String, f64>,
    /// Product feature -> weight, per request.
    pub features: BTreeMap<String, f64>,
    pub agent: AgentSpec,
}

/// How many records over what time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Records (model calls and spans) to generate.
    pub records: u64,
    /// Length of the time span in days.
    pub days: i64,
    /// Start of the time span, RFC 3339.
    pub start: String,
}

/// When requests arrive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arrival {
    /// `uniform` (flat day), `normal` (broad bells around the peak hours) or `exponential`
    /// (sharp peaks decaying exponentially).
    pub distribution: String,
    /// Day-to-day volume noise: each day's volume is multiplied by max(0.05, 1 + noise * z).
    pub noise: f64,
    /// Hours of the day (UTC, 0-23) with the most traffic.
    pub peak_hours: Vec<u32>,
    /// Intensity at a peak hour relative to the quietest hours.
    pub peak_factor: f64,
    /// 24 explicit hourly weights; when given, replaces the curve from distribution/peaks.
    #[serde(default)]
    pub daily_curve: Option<Vec<f64>>,
    /// Saturday/Sunday volume relative to weekdays (2.0 = doubled).
    pub weekend_factor: f64,
    pub bursts: Bursts,
    pub incidents: Incidents,
}

/// Short traffic spikes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bursts {
    pub per_week: f64,
    /// Intensity multiplier during a burst.
    pub multiplier: f64,
    pub minutes: u32,
}

/// Provider incidents: windows of elevated errors and latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incidents {
    pub per_month: f64,
    pub minutes: u32,
    /// Probability that a call fails during an incident.
    pub error_rate: f64,
    pub error_type: String,
    /// Latency multiplier during an incident.
    pub latency_factor: f64,
}

/// Input and output token distributions of one workload kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    pub input: LogNormal,
    pub output: LogNormal,
}

/// A log-normal distribution given by its arithmetic mean and the sd of its logarithm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogNormal {
    pub mean: f64,
    pub sigma: f64,
}

impl LogNormal {
    /// The mu of the underlying normal: ln(mean) - sigma^2 / 2.
    pub fn mu(&self) -> f64 {
        super::detmath::ln(self.mean) - self.sigma * self.sigma / 2.0
    }
}

/// Prompt caching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// Probability that a call's prompt prefix is served from the provider cache.
    pub hit_rate: f64,
    /// Share of the input tokens that the cached prefix covers.
    pub cached_fraction: f64,
    /// Probability that a miss writes the prefix to the cache (billed by Anthropic).
    pub write_rate: f64,
}

/// Agentic traces (tool_use, multi_turn_tool_use).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Tool-calling turns of a multi-turn trace (tool_use always has one).
    pub min_turns: u32,
    pub max_turns: u32,
    /// Most tools called in one turn (at least one).
    pub max_tools_per_turn: u32,
    pub tool_latency_ms: LogNormal,
    pub tool_error_rate: f64,
    pub tools: Vec<String>,
}

/// The names of the built-in profiles, sorted.
pub fn names() -> Vec<String> {
    BUILTIN.iter().map(|(n, _)| n.to_string()).collect()
}

/// The TOML text of a built-in profile.
pub fn source(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Load a built-in profile by name.
pub fn load(name: &str) -> Result<WorkloadProfile, SynthError> {
    let text = source(name).ok_or_else(|| SynthError::UnknownProfile {
        name: name.to_string(),
        available: names(),
    })?;
    toml::from_str(text).map_err(|e| SynthError::Invalid {
        field: format!("profile {name}"),
        message: format!("resources/profiles/{name}.toml does not parse: {e}"),
    })
}

/// Every built-in profile, parsed.
pub fn all() -> Result<Vec<WorkloadProfile>, SynthError> {
    BUILTIN.iter().map(|(n, _)| load(n)).collect()
}

/// Fields whose keys are names (models, tenants...) rather than schema fields.
const MAP_FIELDS: &[&str] = &[
    "models",
    "workloads",
    "tokens",
    "errors",
    "tenants",
    "features",
];

impl WorkloadProfile {
    /// Apply `overrides`, a JSON merge patch (RFC 7386: objects merge, `null` removes a
    /// name from a mix), and validate the result. An unknown field is an error naming it.
    pub fn with_overrides(&self, overrides: &Value) -> Result<WorkloadProfile, SynthError> {
        let invalid = |field: &str, message: String| SynthError::Invalid {
            field: field.to_string(),
            message,
        };
        if overrides.is_null() {
            return Ok(self.clone());
        }
        if !overrides.is_object() {
            return Err(invalid(
                "overrides",
                "must be a JSON object of profile fields, e.g. {\"volume\": {\"days\": 7}}"
                    .to_string(),
            ));
        }
        let mut base = serde_json::to_value(self)
            .map_err(|e| invalid("overrides", format!("profile does not serialize: {e}")))?;
        check_fields("", &base, overrides)?;
        merge_patch(&mut base, overrides);
        let merged: WorkloadProfile = serde_json::from_value(base).map_err(|e| {
            invalid(
                "overrides",
                format!(
                    "a value has the wrong type: {e} (see list_workload_profiles for the schema)"
                ),
            )
        })?;
        Ok(merged)
    }

    /// Check every field against what the generator accepts.
    pub fn validate(&self, catalog: &PriceCatalog) -> Result<(), SynthError> {
        let bad = |field: &str, message: String| -> Result<(), SynthError> {
            Err(SynthError::Invalid {
                field: field.to_string(),
                message,
            })
        };
        let v = &self.volume;
        if v.records == 0 || v.records > MAX_RECORDS {
            return bad(
                "count",
                format!(
                    "{} is out of range; accepted: 1 to 10000000000 records",
                    v.records
                ),
            );
        }
        if v.days < 1 || v.days > MAX_DAYS {
            return bad(
                "days",
                format!("{} is out of range; accepted: 1 to {MAX_DAYS} days", v.days),
            );
        }
        if chrono::DateTime::parse_from_rfc3339(&v.start).is_err() {
            return bad(
                "start",
                format!(
                    "`{}` is not an RFC 3339 time; e.g. 2026-01-01T00:00:00Z",
                    v.start
                ),
            );
        }
        let a = &self.arrival;
        if !DISTRIBUTIONS.contains(&a.distribution.as_str()) {
            return bad(
                "arrival.distribution",
                format!(
                    "`{}` is not accepted; accepted: {}",
                    a.distribution,
                    DISTRIBUTIONS.join(", ")
                ),
            );
        }
        rate("arrival.noise", a.noise)?;
        if let Some(h) = a.peak_hours.iter().find(|h| **h > 23) {
            return bad(
                "arrival.peak_hours",
                format!("{h} is not an hour; accepted: 0 to 23"),
            );
        }
        if !(1.0..=100.0).contains(&a.peak_factor) {
            return bad(
                "arrival.peak_factor",
                format!("{} is out of range; accepted: 1 to 100", a.peak_factor),
            );
        }
        if let Some(curve) = &a.daily_curve
            && (curve.len() != 24
                || curve.iter().any(|w| !w.is_finite() || *w < 0.0)
                || curve.iter().sum::<f64>() <= 0.0)
        {
            return bad(
                "arrival.daily_curve",
                "must be 24 non-negative weights, not all zero".to_string(),
            );
        }
        if !(0.0..=100.0).contains(&a.weekend_factor) {
            return bad(
                "arrival.weekend_factor",
                format!("{} is out of range; accepted: 0 to 100", a.weekend_factor),
            );
        }
        if a.weekend_factor == 0.0 && v.days < 3 {
            return bad(
                "arrival.weekend_factor",
                "0 leaves no traffic on short spans; use days >= 3".to_string(),
            );
        }
        if !(0.0..=1000.0).contains(&a.bursts.per_week)
            || !(1.0..=100.0).contains(&a.bursts.multiplier)
            || a.bursts.minutes == 0
        {
            return bad(
                "arrival.bursts",
                "accepted: per_week 0 to 1000, multiplier 1 to 100, minutes >= 1".to_string(),
            );
        }
        let inc = &a.incidents;
        if !(0.0..=1000.0).contains(&inc.per_month)
            || inc.minutes == 0
            || !(1.0..=100.0).contains(&inc.latency_factor)
        {
            return bad(
                "arrival.incidents",
                "accepted: per_month 0 to 1000, minutes >= 1, latency_factor 1 to 100".to_string(),
            );
        }
        rate("arrival.incidents.error_rate", inc.error_rate)?;
        if !ERROR_TYPES.contains(&inc.error_type.as_str()) {
            return bad(
                "arrival.incidents.error_type",
                format!(
                    "`{}` is not accepted; accepted: {}",
                    inc.error_type,
                    ERROR_TYPES.join(", ")
                ),
            );
        }
        weights("models", &self.models)?;
        for m in self.models.keys() {
            if catalog.get(m).is_none() {
                let known: Vec<&str> = catalog.models().iter().map(|p| p.model.as_str()).collect();
                return bad(
                    &format!("models.{m}"),
                    format!("not in the price catalog; accepted: {}", known.join(", ")),
                );
            }
        }
        weights("workloads", &self.workloads)?;
        for (w, weight) in &self.workloads {
            if !WORKLOAD_KINDS.contains(&w.as_str()) {
                return bad(
                    &format!("workloads.{w}"),
                    format!("unknown workload; accepted: {}", WORKLOAD_KINDS.join(", ")),
                );
            }
            if *weight > 0.0 && !self.tokens.contains_key(w) {
                return bad(
                    &format!("tokens.{w}"),
                    format!("missing: workload {w} has weight {weight} but no token distribution"),
                );
            }
        }
        for (w, spec) in &self.tokens {
            if !WORKLOAD_KINDS.contains(&w.as_str()) {
                return bad(
                    &format!("tokens.{w}"),
                    format!("unknown workload; accepted: {}", WORKLOAD_KINDS.join(", ")),
                );
            }
            for (part, d) in [("input", spec.input), ("output", spec.output)] {
                lognormal(&format!("tokens.{w}.{part}"), d)?;
            }
        }
        rate("cache.hit_rate", self.cache.hit_rate)?;
        rate("cache.cached_fraction", self.cache.cached_fraction)?;
        rate("cache.write_rate", self.cache.write_rate)?;
        for (e, r) in &self.errors {
            if !ERROR_TYPES.contains(&e.as_str()) {
                return bad(
                    &format!("errors.{e}"),
                    format!("unknown error type; accepted: {}", ERROR_TYPES.join(", ")),
                );
            }
            rate(&format!("errors.{e}"), *r)?;
        }
        if self.errors.values().sum::<f64>() > 1.0 {
            return bad("errors", "the rates add up to more than 1".to_string());
        }
        rate("duplicate_prompt_rate", self.duplicate_prompt_rate)?;
        for (field, map) in [("tenants", &self.tenants), ("features", &self.features)] {
            weights(field, map)?;
            for name in map.keys() {
                if apex_store::datasets::validate_name(name).is_err() {
                    return bad(
                        &format!("{field}.{name}"),
                        "names use 1 to 64 letters, digits, '.', '_' or '-'".to_string(),
                    );
                }
            }
        }
        let ag = &self.agent;
        if ag.min_turns < 1 || ag.min_turns > ag.max_turns || ag.max_turns > 50 {
            return bad(
                "agent.min_turns",
                "accepted: 1 <= min_turns <= max_turns <= 50".to_string(),
            );
        }
        if ag.max_tools_per_turn < 1 || ag.max_tools_per_turn > 10 {
            return bad("agent.max_tools_per_turn", "accepted: 1 to 10".to_string());
        }
        lognormal("agent.tool_latency_ms", ag.tool_latency_ms)?;
        rate("agent.tool_error_rate", ag.tool_error_rate)?;
        if ag.tools.is_empty() {
            return bad("agent.tools", "name at least one tool".to_string());
        }
        Ok(())
    }
}

fn rate(field: &str, r: f64) -> Result<(), SynthError> {
    if (0.0..=1.0).contains(&r) {
        Ok(())
    } else {
        Err(SynthError::Invalid {
            field: field.to_string(),
            message: format!("{r} is out of range; accepted: 0 to 1"),
        })
    }
}

fn lognormal(field: &str, d: LogNormal) -> Result<(), SynthError> {
    if d.mean >= 1.0 && d.mean <= 1_000_000.0 && (0.0..=3.0).contains(&d.sigma) {
        Ok(())
    } else {
        Err(SynthError::Invalid {
            field: field.to_string(),
            message: format!(
                "mean {} sigma {} out of range; accepted: mean 1 to 1000000, sigma 0 to 3",
                d.mean, d.sigma
            ),
        })
    }
}

fn weights(field: &str, map: &BTreeMap<String, f64>) -> Result<(), SynthError> {
    let bad = |message: String| {
        Err(SynthError::Invalid {
            field: field.to_string(),
            message,
        })
    };
    if let Some((k, w)) = map.iter().find(|(_, w)| !w.is_finite() || **w < 0.0) {
        return bad(format!("weight of `{k}` is {w}; accepted: weights >= 0"));
    }
    if map.values().sum::<f64>() <= 0.0 {
        return bad("needs at least one positive weight".to_string());
    }
    if map.len() > 1000 {
        return bad("at most 1000 names".to_string());
    }
    Ok(())
}

/// Every key of `patch` must be a field of `base`, except inside the name maps.
fn check_fields(path: &str, base: &Value, patch: &Value) -> Result<(), SynthError> {
    let (Some(patch), Some(base_obj)) = (patch.as_object(), base.as_object()) else {
        return Ok(());
    };
    let is_map = MAP_FIELDS.contains(&path);
    for (key, value) in patch {
        let field = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match base_obj.get(key) {
            Some(b) => {
                if value.is_object() && b.is_object() {
                    let child = if is_map && path == "tokens" {
                        "tokens.*"
                    } else {
                        &field
                    };
                    check_fields(child, b, value)?;
                }
            }
            None if is_map => {
                // A new name in a mix. Token specs of a new workload are checked by type.
                if path == "tokens"
                    && let Some(template) = base_obj.values().next()
                {
                    check_fields("tokens.*", template, value)?;
                }
            }
            None => {
                let accepted: Vec<&str> = base_obj.keys().map(String::as_str).collect();
                return Err(SynthError::Invalid {
                    field: format!("overrides.{field}"),
                    message: format!(
                        "unknown field `{field}`; accepted {}: {}",
                        if path.is_empty() {
                            "fields".to_string()
                        } else {
                            format!("fields of {path}")
                        },
                        accepted.join(", ")
                    ),
                });
            }
        }
    }
    Ok(())
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_builtin_profile_parses_and_validates() {
        let catalog = PriceCatalog::builtin();
        let all = all().unwrap();
        assert_eq!(all.len(), 7);
        for p in &all {
            p.validate(catalog)
                .unwrap_or_else(|e| panic!("{}: {e}", p.name));
            assert!(source(&p.name).is_some());
        }
    }

    #[test]
    fn presets_match_the_original_system() {
        let p = |n: &str| load(n).unwrap();
        let e = p("ecommerce");
        assert_eq!((e.volume.records, e.volume.days), (10_000, 30));
        assert_eq!(
            (e.arrival.distribution.as_str(), e.arrival.noise),
            ("exponential", 0.15)
        );
        assert_eq!(e.arrival.peak_hours, vec![10, 14, 19, 20]);
        let f = p("financial");
        assert_eq!(
            (
                f.volume.records,
                f.volume.days,
                f.arrival.distribution.as_str(),
                f.arrival.noise
            ),
            (50_000, 90, "normal", 0.05)
        );
        let h = p("healthcare");
        assert_eq!(
            (
                h.volume.records,
                h.volume.days,
                h.arrival.distribution.as_str(),
                h.arrival.noise
            ),
            (25_000, 60, "uniform", 0.08)
        );
        let g = p("gaming");
        assert_eq!(
            (
                g.volume.records,
                g.volume.days,
                g.arrival.distribution.as_str(),
                g.arrival.noise
            ),
            (100_000, 7, "exponential", 0.25)
        );
        assert_eq!(g.arrival.peak_hours, vec![19, 20, 21, 22, 23]);
        assert_eq!(g.arrival.weekend_factor, 2.0);
        let r = p("research");
        assert_eq!(
            (
                r.volume.records,
                r.volume.days,
                r.arrival.distribution.as_str(),
                r.arrival.noise
            ),
            (5_000, 180, "normal", 0.02)
        );
        for (name, tokens) in [
            ("ecommerce", 500.0),
            ("financial", 1500.0),
            ("healthcare", 2000.0),
            ("research", 5000.0),
        ] {
            assert_eq!(p(name).tokens["simple_chat"].input.mean, tokens, "{name}");
        }
    }

    #[test]
    fn overrides_change_one_field_and_unknown_fields_are_named() {
        let base = load("ecommerce").unwrap();
        let p = base
            .with_overrides(&json!({"volume": {"days": 7}, "models": {"gpt-4o": null, "o3": 0.5}}))
            .unwrap();
        assert_eq!(p.volume.days, 7);
        assert_eq!(p.volume.records, base.volume.records);
        assert!(!p.models.contains_key("gpt-4o") && p.models["o3"] == 0.5);
        let err = base
            .with_overrides(&json!({"volume": {"dayz": 7}}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("volume.dayz") && err.contains("days"), "{err}");
        let err = base
            .with_overrides(&json!({"colour": 1}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");
        let err = base
            .with_overrides(&json!({"tokens": {"rag": {"input": {"avg": 3}}}}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("avg"), "{err}");
        let err = base
            .with_overrides(&json!({"volume": {"days": "x"}}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("overrides"), "{err}");
        let bad = base
            .with_overrides(&json!({"models": {"gpt-9": 1}}))
            .unwrap();
        let err = bad
            .validate(PriceCatalog::builtin())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("models.gpt-9") && err.contains("gpt-4o"),
            "{err}"
        );
    }

    #[test]
    fn unknown_profile_lists_the_profiles() {
        let err = load("retail").unwrap_err().to_string();
        for n in names() {
            assert!(err.contains(&n), "{err}");
        }
    }
}
