//! Synthetic data tools: `generate_synthetic_data` and `list_workload_profiles`, and the
//! `apex://profiles`, `apex://profiles/{name}` and `apex://pricing` resources. Thin: parse,
//! call [`apex_synth::generate`] on a blocking thread with a [`RunReporter`], render.

use rmcp::model::{
    CallToolResponse, CallToolResult, ReadResourceResult, Resource, ResourceTemplate,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Parameters, fail, ok};
use crate::progress::LongCall;
use crate::reply::{internal, json as json_body, not_found, text};
use crate::server::ApexServer;
use crate::state::AppState;
use apex_core::run::RunKind;
use apex_synth::{self as synth, Format, GenerateRequest, profile};

/// Arguments of `list_workload_profiles` (none).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListProfilesArgs {}

#[tool_router(router = synth_router, vis = "pub(crate)")]
impl ApexServer {
    /// Generate synthetic LLM workload logs from a profile.
    #[tool(
        description = "Generate realistic, deterministic LLM call logs (one record per model call; agent traces) from a workload profile into a dataset or a jsonl/csv/parquet/otlp-json file. Streams progress; returns a quality report.",
        meta = crate::tasks::task_support()
    )]
    async fn generate_synthetic_data(
        &self,
        Parameters(req): Parameters<GenerateRequest>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // Refuse bad input before a run is registered.
        if let Err(e) = Format::parse(req.format_name()).and_then(|_| synth::resolve_profile(&req))
        {
            return Ok(fail(e).into());
        }
        let call = LongCall::new("generate_synthetic_data", &ctx, false);
        let params = serde_json::to_value(&req).unwrap_or(Value::Null);
        let run = match self.begin_call_run(RunKind::Generation, params, &call) {
            Ok(r) => r,
            Err(refused) => return Ok(refused.into()),
        };
        let state = self.state.clone();
        self.answer_blocking(
            run,
            &call,
            move |sink, cancel| {
                synth::generate(&state.workspace, Some(&state.store), &req, sink, cancel)
            },
            |run_id, outcome| match outcome {
                Ok(out) => ok(render(&out, run_id), &generated(&out, run_id)),
                Err(e) => fail(e),
            },
        )
        .await
    }

    /// List the workload profiles and their main parameters.
    #[tool(
        description = "List the workload profiles for generate_synthetic_data with their main parameters (volume, span, arrival, model and workload mix). Full profiles: apex://profiles/{name}."
    )]
    async fn list_workload_profiles(
        &self,
        Parameters(_args): Parameters<ListProfilesArgs>,
    ) -> Result<CallToolResult, McpError> {
        let profiles = match synth::list_profiles() {
            Ok(p) => p,
            Err(e) => return Ok(fail(e)),
        };
        let rows: Vec<Value> = profiles.iter().map(profile_row).collect();
        let mut text = String::from("Workload profiles (override any field with `overrides`):\n");
        for p in &profiles {
            text.push_str(&format!(
                "- {}: {} records over {} days, {} arrivals (noise {}), peaks {:?}; {}\n",
                p.name,
                p.volume.records,
                p.volume.days,
                p.arrival.distribution,
                p.arrival.noise,
                p.arrival.peak_hours,
                p.description
            ));
        }
        Ok(ok(text, &json!({"profiles": rows})))
    }
}

fn profile_row(p: &profile::WorkloadProfile) -> Value {
    json!({
        "name": p.name,
        "description": p.description,
        "records": p.volume.records,
        "days": p.volume.days,
        "start": p.volume.start,
        "distribution": p.arrival.distribution,
        "noise": p.arrival.noise,
        "peak_hours": p.arrival.peak_hours,
        "weekend_factor": p.arrival.weekend_factor,
        "models": p.models,
        "workloads": p.workloads,
        "input_token_means": p.tokens.iter().map(|(k, t)| (k.clone(), json!(t.input.mean))).collect::<serde_json::Map<_, _>>(),
        "cache_hit_rate": p.cache.hit_rate,
        "duplicate_prompt_rate": p.duplicate_prompt_rate,
        "uri": format!("apex://profiles/{}", p.name),
    })
}

/// The structured answer of a finished generation.
fn generated(out: &synth::GenerateOutcome, run_id: &str) -> Value {
    json!({
        "run_id": run_id,
        "dataset": out.dataset,
        "records": out.records,
        "path": out.path,
        "seed": out.seed,
        "format": out.format,
        "profile": out.profile,
        "records_per_sec": out.records_per_sec.round(),
        "elapsed_ms": out.elapsed_ms,
        "bytes": out.bytes,
        "summary": out.summary,
        "quality": compact_quality(&out.quality),
    })
}

fn render(out: &synth::GenerateOutcome, run_id: &str) -> String {
    let whereto = match (&out.dataset, &out.path) {
        (Some(d), _) => format!("dataset `{d}`"),
        // Parquet past 16.8M rows is a directory of part files (synth::PARQUET_PART_ROWS).
        (_, Some(p)) => match out.summary["output"]["parts"].as_u64() {
            Some(n) => format!("{} directory {p} ({n} part files)", out.format_name()),
            None => format!("{} file {p}", out.format_name()),
        },
        _ => String::new(),
    };
    let s = &out.summary;
    let q = &out.quality;
    format!(
        "Generated {} records of profile {} (seed {}) into {} in {:.2} s ({:.0} records/s).\n\
         Spend ${:.2} from {} to {}; error rate {:.2}%.\n\
         Quality: {} (smallest p-value {:.3} across model mix, workload mix, hourly shape, error, cache and duplicate rates, token means). Run {run_id}.",
        out.records,
        out.profile,
        out.seed,
        whereto,
        out.elapsed_ms as f64 / 1000.0,
        out.records_per_sec,
        s["spend_usd"].as_f64().unwrap_or(0.0),
        s["time_range"]["start"].as_str().unwrap_or("?"),
        s["time_range"]["end"].as_str().unwrap_or("?"),
        s["error_rate"].as_f64().unwrap_or(0.0) * 100.0,
        if q["passed"] == true {
            "every test passes"
        } else {
            "some realized distributions differ from the profile"
        },
        q["min_p_value"].as_f64().unwrap_or(0.0),
    )
}

/// The quality report without the per-bin tables (those stay in the run's stored result).
fn compact_quality(q: &Value) -> Value {
    let test = |v: &Value| {
        json!({
            "test": v["test"],
            "statistic": v["statistic"],
            "df": v["df"],
            "p_value": v["p_value"],
            "expected_rate": v.get("expected_rate"),
            "realized_rate": v.get("realized_rate"),
        })
    };
    let tokens: serde_json::Map<String, Value> = q["token_means"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let part = |p: &str| {
                        v.get(p).map(|t| {
                            json!({
                                "expected_mean": t["expected_mean"],
                                "realized_mean": t["realized_mean"],
                                "p_value": t["p_value"],
                                "ks_statistic": t["ks_statistic"],
                                "ks_p_value": t["ks_p_value"],
                            })
                        })
                    };
                    (
                        k.clone(),
                        json!({"input": part("input"), "output": part("output")}),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "passed": q["passed"],
        "alpha": q["alpha"],
        "min_p_value": q["min_p_value"],
        "model_mix": test(&q["model_mix"]),
        "workload_mix": test(&q["workload_mix"]),
        "hourly_shape": test(&q["hourly_shape"]),
        "error_rate": test(&q["error_rate"]),
        "cache_hit_rate": test(&q["cache_hit_rate"]),
        "duplicate_prompt_rate": test(&q["duplicate_prompt_rate"]),
        "token_means": tokens,
    })
}

/// Fixed resources of this capability.
pub fn resources() -> Vec<Resource> {
    vec![
        Resource::new("apex://profiles", "profiles")
            .with_description("Workload profiles for generate_synthetic_data, with all their parameters")
            .with_mime_type("application/json"),
        Resource::new("apex://pricing", "pricing")
            .with_description("Model price catalog: USD per million tokens (input, output, cache read/write, batch), tier, substitute; each entry's source, date checked, whether verified, and origin (catalog or the user's --prices file)")
            .with_mime_type("application/json"),
    ]
}

/// URI templates of this capability.
pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("apex://profiles/{name}", "profile")
            .with_description("One workload profile as its TOML source")
            .with_mime_type("application/toml"),
    ]
}

/// Read `apex://profiles`, `apex://profiles/{name}` or `apex://pricing`; `None` when the URI
/// is not this capability's.
pub fn read(state: &AppState, uri: &str) -> Option<Result<ReadResourceResult, McpError>> {
    if uri == "apex://pricing" {
        return Some(json_body(
            uri,
            &json!({"unit": "USD per million tokens", "models": state.prices.models()}),
        ));
    }
    if uri == "apex://profiles" {
        return Some(
            synth::list_profiles()
                .map_err(internal)
                .and_then(|p| json_body(uri, &json!({"profiles": p}))),
        );
    }
    let name = uri.strip_prefix("apex://profiles/")?;
    Some(
        profile::source(name)
            .map(|t| text(uri, t.to_string(), "application/toml"))
            .ok_or_else(|| not_found(uri)),
    )
}
