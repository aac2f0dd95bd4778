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

#[test]
fn a_prices_file_overrides_and_adds_entries() {
    let base = PriceCatalog::builtin();
    let file = r#"
# our negotiated prices
[[model]]
model = "gpt-4o"
input = 2
output = 8.5
source = "contract 2026-10"

[[model]]
model = "acme-large"
provider = "acme"
tier = "premium"
input = 4.0
output = 12.0
substitute = "gpt-4o-mini"
aliases = ["acme-l"]

[[model]]
model = "claude-haiku-4-5"
tier = "small"
"#;
    let c = base.with_overrides(file, "prices.toml").unwrap();
    assert_eq!(c.models().len(), base.models().len() + 1);
    let o = c.get("gpt-4o-2024-08-06").unwrap();
    assert_eq!((o.input, o.output), (2.0, 8.5));
    // Unset fields keep the catalog's; the provenance is the file's.
    assert_eq!(o.cache_read, base.get("gpt-4o").unwrap().cache_read);
    assert_eq!(o.source, "contract 2026-10");
    assert!(!o.verified && o.as_of.is_empty());
    assert_eq!(
        o.origin,
        PriceOrigin::File {
            path: "prices.toml".into(),
            line: 4
        }
    );
    // A new model: defaults derived from its input and output; found by alias.
    let n = c.get("acme-l").unwrap();
    assert_eq!(n.model, "acme-large");
    assert_eq!((n.cache_read, n.batch_output), (4.0, 12.0));
    assert_eq!(n.source, "prices file prices.toml");
    // Changing no price keeps the catalog's provenance.
    let h = c.get("claude-haiku-4-5").unwrap();
    let hb = base.get("claude-haiku-4-5").unwrap();
    assert_eq!(h.tier, "small");
    assert_eq!(
        (h.verified, &h.source, &h.origin),
        (hb.verified, &hb.source, &hb.origin)
    );
    // The built-in catalog itself is untouched.
    assert_eq!(base.get("gpt-4o").unwrap().input, 2.5);
}

#[test]
fn a_bad_prices_file_names_the_file_line_and_field() {
    let base = PriceCatalog::builtin();
    let err = |text: &str| base.with_overrides(text, "p.toml").unwrap_err().to_string();
    let e = err("[[model]]\nmodel = \"gpt-4o\"\ninput = -1\n");
    assert!(
        e.starts_with("prices file p.toml, line 3: field `input` of model `gpt-4o`")
            && e.contains("USD per million tokens"),
        "{e}"
    );
    let e = err("[[model]]\nmodel = \"gpt-4o\"\n\ninptu = 1\n");
    assert!(
        e.starts_with("prices file p.toml, line 4:") && e.contains("inptu"),
        "{e}"
    );
    let e = err("[[model]]\nmodel = \"gpt-4o\"\noutput = \"cheap\"\n");
    assert_eq!(
        e,
        "prices file p.toml, line 3: field `output`: invalid type: string \"cheap\", expected f64"
    );
    let e = err("[[model]]\nmodel = \"new-one\"\nprovider = \"x\"\ninput = 1\n");
    assert!(
        e.starts_with("prices file p.toml, line 2: field `output` of model `new-one`: missing"),
        "{e}"
    );
    let e = err("[[model]]\nmodel = \"gpt-4o\"\ntier = \"huge\"\n");
    assert!(
        e.contains("line 3: field `tier`") && e.contains("premium, standard, small"),
        "{e}"
    );
    let e = err("[[model]]\nmodel = \"gpt-4o\"\nsubstitute = \"nope\"\n");
    assert!(
        e.contains("line 2: model `gpt-4o`: substitute `nope`"),
        "{e}"
    );
    let e = err("[[model]]\nmodel = \"gpt-4o\"\n[[model]]\nmodel = \"GPT-4o\"\n");
    assert!(e.contains("line 4") && e.contains("first on line 2"), "{e}");
    let e = err("[[model]]\nmodel = \"gpt-4o\"\nas_of = \"yesterday\"\n");
    assert!(e.contains("line 3: field `as_of`"), "{e}");
    let e = err("model = 3 = 4");
    assert!(e.starts_with("prices file p.toml, line 1:"), "{e}");
    let missing = PriceCatalog::load(Some(Path::new("/nonexistent/prices.toml")))
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("prices file /nonexistent/prices.toml: cannot read it"),
        "{missing}"
    );
}
