//! Property tests of the generator's parameters: arbitrary count, days, start and overrides
//! either give an error naming a field or a valid generation; never a panic.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn any_json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and infinities become null
        (-2.0f64..2.0).prop_map(Value::from),
        (0u64..5000).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(json!("2026-02-30T00:00:00Z")),
        Just(json!("2025-06-01T00:00:00Z")),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    any_json_leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_.]{0,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Patches over the profile's real fields (so that they reach validation), or anything.
fn overrides() -> impl Strategy<Value = Value> {
    let path = prop::sample::select(vec![
        "volume.days",
        "volume.records",
        "volume.start",
        "arrival.noise",
        "arrival.peak_factor",
        "arrival.weekend_factor",
        "arrival.distribution",
        "arrival.peak_hours",
        "arrival.daily_curve",
        "arrival.bursts",
        "arrival.incidents",
        "models.gpt-4o",
        "models.no-such-model",
        "workloads.simple_chat",
        "errors.rate_limit",
        "duplicate_prompt_rate",
        "tenants.acme",
        "features.search",
        "cache",
        "agent",
        "tokens",
        "name",
        "nonsense",
    ]);
    prop_oneof![
        4 => prop::collection::vec((path, any_json()), 1..4).prop_map(|fields| {
            let mut patch = json!({});
            for (path, value) in fields {
                let mut at = &mut patch;
                let parts: Vec<&str> = path.split('.').collect();
                for p in &parts[..parts.len() - 1] {
                    if !at.get(*p).is_some_and(Value::is_object) {
                        at[*p] = json!({});
                    }
                    at = &mut at[*p];
                }
                at[parts[parts.len() - 1]] = value;
            }
            patch
        }),
        1 => any_json(),
    ]
}

fn request() -> impl Strategy<Value = GenerateRequest> {
    (
        prop::sample::select(vec![
            "ecommerce",
            "gaming",
            "coding_assistant",
            "customer_support",
            "no_such_profile",
        ]),
        prop::option::of(prop_oneof![0u64..3000, any::<u64>()]),
        prop::option::of(prop_oneof![-5i64..40, any::<i64>()]),
        prop::option::of(prop_oneof![
            Just("2026-01-01T00:00:00Z".to_string()),
            ".{0,24}".prop_map(String::from)
        ]),
        prop::option::of(overrides()),
        any::<u64>(),
    )
        .prop_map(
            |(profile, count, days, start, overrides, seed)| GenerateRequest {
                profile: profile.to_string(),
                overrides,
                count,
                seed: Some(seed),
                days,
                start,
                format: Some("jsonl".into()),
                output: Some("out.jsonl".into()),
                dataset: None,
                threads: Some(1),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_parameters_give_a_named_error_or_a_valid_generation(req in request()) {
        match resolve_profile(&req) {
            Err(SynthError::Invalid { field, message }) => {
                prop_assert!(!field.is_empty() && !message.is_empty(), "{field}: {message}");
            }
            Err(SynthError::UnknownProfile { name, available }) => {
                prop_assert_eq!(name, "no_such_profile");
                prop_assert!(!available.is_empty());
            }
            Err(other) => prop_assert!(false, "unexpected error kind: {other}"),
            Ok(profile) => {
                // Valid: small runs are generated for real and hold exactly their records.
                if profile.volume.records <= 3000 {
                    let dir = tempfile::tempdir().unwrap();
                    let ws = Workspace::open(dir.path(), None).unwrap();
                    let out = generate(
                        &ws,
                        None,
                        &req,
                        &apex_core::events::NullSink,
                        &CancellationToken::new(),
                    );
                    let out = match out {
                        Ok(o) => o,
                        Err(e) => return Err(TestCaseError::fail(format!("valid profile failed: {e}"))),
                    };
                    prop_assert_eq!(out.records, profile.volume.records);
                    let body = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
                    prop_assert_eq!(body.lines().count() as u64, profile.volume.records);
                }
            }
        }
    }
}
