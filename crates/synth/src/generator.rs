//! The generator: a validated profile compiled into a [`Plan`], and the records of one
//! fixed-size chunk produced from the seed and the chunk's index alone.
//!
//! Chunks are independent, so any number of threads produce the same bytes. Arrival times
//! come from the profile's intensity over 5-minute bins (daily curve, weekend factor,
//! day noise, bursts); record `i` of `count` sits at the i-th uniform order statistic of the
//! intensity, so files come out in time order without sorting. It knows nothing of sinks.

use super::detmath::{Rng, derive, exp};
use super::profile::{LogNormal, WORKLOAD_KINDS, WorkloadProfile};
use super::quality::{ChunkStats, Expected};
use apex_core::pricing::{ModelPrice, PriceCatalog};

/// Records per chunk. Part of the determinism contract: changing it changes every dataset.
pub const CHUNK_RECORDS: u64 = 2048;
const BIN_MS: i64 = 300_000;
const DUP_POOL: u64 = 400;

pub const OP_CHAT: u8 = 0;
pub const OP_TOOL: u8 = 1;
pub const OP_AGENT: u8 = 2;
pub const OPERATIONS: &[&str] = &["chat", "execute_tool", "invoke_agent"];
pub const FINISH: &[&str] = &["", "stop", "length", "tool_calls"];
const FIN_STOP: u8 = 1;
const FIN_LENGTH: u8 = 2;
const FIN_TOOLS: u8 = 3;

const W_TOOL: usize = 2;
const W_MULTI: usize = 3;
const W_FAILED: usize = 4;

/// One record in compact form; sinks render it.
#[derive(Debug, Clone, Default)]
pub struct Rec {
    pub event_id: u128,
    pub trace_id: u128,
    pub span_id: u64,
    /// 0 = none (a root span).
    pub parent_span_id: u64,
    pub ts_ms: i64,
    pub tenant: u16,
    pub feature: u16,
    pub workload: u8,
    pub op: u8,
    pub model: u16,
    pub input: u32,
    pub output: u32,
    pub cache_read: u32,
    pub cache_write: u32,
    pub reasoning: u32,
    /// Latency in tenths of a millisecond.
    pub latency_dms: u32,
    /// Time to first token in tenths of a millisecond; `u32::MAX` = none.
    pub ttft_dms: u32,
    /// 0 = ok, otherwise 1 + index into `Plan::error_names`.
    pub error: u8,
    /// Index into [`FINISH`]; 0 = none.
    pub finish: u8,
    /// 0 = none.
    pub prompt_hash: u64,
    /// Cost in units of 1e-10 USD.
    pub cost_e10: u64,
}

pub struct ModelSlot {
    pub name: String,
    pub provider: String,
    pub price: ModelPrice,
    reasoning: bool,
    ttft_ms: f64,
    tokens_per_s: f64,
    bills_cache_writes: bool,
}

struct Workload {
    input: (f64, f64),
    output: (f64, f64),
}

/// A profile compiled for generation.
pub struct Plan {
    pub seed: u64,
    pub total: u64,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Cumulative normalised intensity per 5-minute bin: `cum[b]..cum[b+1]` is bin b.
    cum: Vec<f64>,
    /// Share of the intensity in each hour of the day (UTC).
    pub hourly_mass: [f64; 24],
    incidents: Vec<(i64, i64)>,
    incident_error_rate: f64,
    incident_error: u8,
    incident_latency: f64,
    pub models: Vec<ModelSlot>,
    model_cum: Vec<f64>,
    pub model_weights: Vec<f64>,
    workloads: Vec<Workload>,
    workload_cum: Vec<f64>,
    pub workload_weights: Vec<f64>,
    pub workload_means: Vec<(f64, f64)>,
    pub tenants: Vec<String>,
    tenant_cum: Vec<f64>,
    pub features: Vec<String>,
    feature_cum: Vec<f64>,
    pub error_names: Vec<String>,
    error_cum: Vec<f64>,
    error_rate: f64,
    tool_error: u8,
    failed_cum: Vec<f64>,
    hit_rate: f64,
    cached_fraction: f64,
    write_rate: f64,
    dup_rate: f64,
    min_turns: u64,
    max_turns: u64,
    max_tools: u64,
    tool_latency: (f64, f64),
    tool_error_rate: f64,
    pub tools: Vec<String>,
}

fn cumulative(weights: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    weights
        .iter()
        .map(|w| {
            acc += w;
            acc
        })
        .collect()
}

fn lognormal_params(d: LogNormal) -> (f64, f64) {
    (d.mu(), d.sigma)
}

impl Plan {
    /// Compile a validated profile. `start_ms` is the Unix time of the first instant.
    pub fn new(
        profile: &WorkloadProfile,
        catalog: &PriceCatalog,
        seed: u64,
        start_ms: i64,
    ) -> Self {
        let days = profile.volume.days;
        let end_ms = start_ms + days * 86_400_000;
        let bins = (days * 288) as usize;
        let a = &profile.arrival;
        let mut trng = Rng::new(derive(seed, u64::MAX));

        // Hourly weights: explicit curve, or peaks shaped by the distribution.
        let hour_w: Vec<f64> = match &a.daily_curve {
            Some(c) => c.clone(),
            None => (0..24)
                .map(|h| {
                    let shape = a
                        .peak_hours
                        .iter()
                        .map(|&p| {
                            let d = (h as i64 - p as i64).abs();
                            let d = d.min(24 - d) as f64;
                            match a.distribution.as_str() {
                                "normal" => exp(-d * d / (2.0 * 2.0 * 2.0)),
                                "exponential" => exp(-d / 1.2),
                                _ => 0.0,
                            }
                        })
                        .fold(0.0, f64::max);
                    1.0 + (a.peak_factor - 1.0) * shape
                })
                .collect(),
        };
        let day_noise: Vec<f64> = (0..days)
            .map(|_| (1.0 + a.noise * trng.normal()).max(0.05))
            .collect();
        let mut w = Vec::with_capacity(bins);
        for b in 0..bins {
            let t = start_ms + b as i64 * BIN_MS;
            let day_abs = t.div_euclid(86_400_000);
            let hour = (t.rem_euclid(86_400_000) / 3_600_000) as usize;
            let weekday = (day_abs + 4).rem_euclid(7); // 0 = Sunday
            let weekend = if weekday == 0 || weekday == 6 {
                a.weekend_factor
            } else {
                1.0
            };
            let day = ((t - start_ms) / 86_400_000) as usize;
            w.push(hour_w[hour] * weekend * day_noise[day.min(day_noise.len() - 1)]);
        }
        let n_bursts = (a.bursts.per_week * days as f64 / 7.0).round() as u64;
        let burst_bins = (a.bursts.minutes as usize).div_ceil(5).max(1);
        for _ in 0..n_bursts {
            let b0 = trng.range(0, bins as u64 - 1) as usize;
            for x in w.iter_mut().skip(b0).take(burst_bins) {
                *x *= a.bursts.multiplier;
            }
        }
        let total_w: f64 = w.iter().sum();
        let mut cum = Vec::with_capacity(bins + 1);
        cum.push(0.0);
        let mut acc = 0.0;
        let mut hourly_mass = [0.0; 24];
        for (b, x) in w.iter().enumerate() {
            acc += x;
            cum.push(acc / total_w);
            let hour = ((start_ms + b as i64 * BIN_MS).rem_euclid(86_400_000) / 3_600_000) as usize;
            hourly_mass[hour] += x / total_w;
        }
        if let Some(last) = cum.last_mut() {
            *last = 1.0;
        }
        let inc = &a.incidents;
        let n_inc = (inc.per_month * days as f64 / 30.0).round() as u64;
        let mut incidents: Vec<(i64, i64)> = (0..n_inc)
            .map(|_| {
                let s = start_ms + trng.range(0, (end_ms - start_ms) as u64 - 1) as i64;
                (s, s + inc.minutes as i64 * 60_000)
            })
            .collect();
        incidents.sort();

        let mut error_names: Vec<String> = profile.errors.keys().cloned().collect();
        let error_rates: Vec<f64> = profile.errors.values().copied().collect();
        let idx_of = |names: &mut Vec<String>, n: &str| -> u8 {
            match names.iter().position(|x| x == n) {
                Some(i) => i as u8 + 1,
                None => {
                    names.push(n.to_string());
                    names.len() as u8
                }
            }
        };
        let incident_error = idx_of(&mut error_names, &inc.error_type);
        let tool_error = idx_of(&mut error_names, "tool_error");
        let error_rate: f64 = error_rates.iter().sum();
        let failed_cum = if error_rate > 0.0 {
            cumulative(&error_rates)
        } else {
            Vec::new()
        };

        let models: Vec<ModelSlot> = profile
            .models
            .keys()
            .filter_map(|m| catalog.get(m))
            .map(|p| {
                let n = p.model.as_str();
                let reasoning = n.starts_with("o1")
                    || n.starts_with("o3")
                    || n.starts_with("o4")
                    || n.starts_with("gpt-5")
                    || n.contains("reasoner");
                let (ttft_ms, tokens_per_s) = match p.tier.as_str() {
                    "premium" => (700.0, 55.0),
                    "standard" => (450.0, 85.0),
                    _ => (280.0, 140.0),
                };
                ModelSlot {
                    name: p.model.clone(),
                    provider: p.provider.clone(),
                    price: p.clone(),
                    reasoning,
                    ttft_ms: if reasoning { ttft_ms * 3.0 } else { ttft_ms },
                    tokens_per_s,
                    bills_cache_writes: p.cache_write > p.input,
                }
            })
            .collect();
        let model_weights: Vec<f64> = profile.models.values().copied().collect();
        let workloads: Vec<Workload> = WORKLOAD_KINDS
            .iter()
            .map(|k| match profile.tokens.get(*k) {
                Some(t) => Workload {
                    input: lognormal_params(t.input),
                    output: lognormal_params(t.output),
                },
                None => Workload {
                    input: (0.0, 0.0),
                    output: (0.0, 0.0),
                },
            })
            .collect();
        let workload_weights: Vec<f64> = WORKLOAD_KINDS
            .iter()
            .map(|k| profile.workloads.get(*k).copied().unwrap_or(0.0))
            .collect();
        let workload_means = WORKLOAD_KINDS
            .iter()
            .map(|k| {
                profile
                    .tokens
                    .get(*k)
                    .map(|t| (t.input.mean, t.output.mean))
                    .unwrap_or((0.0, 0.0))
            })
            .collect();
        let ag = &profile.agent;
        Plan {
            seed,
            total: profile.volume.records,
            start_ms,
            end_ms,
            cum,
            hourly_mass,
            incidents,
            incident_error_rate: inc.error_rate,
            incident_error,
            incident_latency: inc.latency_factor,
            model_cum: cumulative(&model_weights),
            model_weights,
            models,
            workloads,
            workload_cum: cumulative(&workload_weights),
            workload_weights,
            workload_means,
            tenants: profile.tenants.keys().cloned().collect(),
            tenant_cum: cumulative(&profile.tenants.values().copied().collect::<Vec<_>>()),
            features: profile.features.keys().cloned().collect(),
            feature_cum: cumulative(&profile.features.values().copied().collect::<Vec<_>>()),
            error_names,
            error_cum: cumulative(&error_rates),
            error_rate,
            tool_error,
            failed_cum,
            hit_rate: profile.cache.hit_rate,
            cached_fraction: profile.cache.cached_fraction,
            write_rate: profile.cache.write_rate,
            dup_rate: profile.duplicate_prompt_rate,
            min_turns: ag.min_turns as u64,
            max_turns: ag.max_turns as u64,
            max_tools: ag.max_tools_per_turn as u64,
            tool_latency: lognormal_params(ag.tool_latency_ms),
            tool_error_rate: ag.tool_error_rate,
            tools: ag.tools.clone(),
        }
    }

    /// The log-space sigma of a workload's input (or output) token distribution.
    /// What this plan makes the generation expect, for the quality report.
    pub fn expected(&self) -> Expected<'_> {
        Expected {
            models: self
                .models
                .iter()
                .map(|m| (m.name.as_str(), m.provider.as_str()))
                .collect(),
            model_weights: &self.model_weights,
            workload_weights: &self.workload_weights,
            hourly_mass: &self.hourly_mass,
            workload_means: &self.workload_means,
            workload_sigmas: self
                .workloads
                .iter()
                .map(|w| (w.input.1, w.output.1))
                .collect(),
        }
    }

    pub fn chunks(&self) -> u64 {
        self.total.div_ceil(CHUNK_RECORDS)
    }

    /// The time of quantile `q` of the arrival intensity.
    fn time_at(&self, q: f64) -> i64 {
        let b = self
            .cum
            .partition_point(|&c| c <= q)
            .clamp(1, self.cum.len() - 1)
            - 1;
        let (lo, hi) = (self.cum[b], self.cum[b + 1]);
        let frac = if hi > lo {
            ((q - lo) / (hi - lo)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        (self.start_ms + b as i64 * BIN_MS + (frac * BIN_MS as f64) as i64).min(self.end_ms - 1)
    }

    fn in_incident(&self, t: i64) -> bool {
        let i = self.incidents.partition_point(|&(s, _)| s <= t);
        self.incidents[..i]
            .iter()
            .rev()
            .take(4)
            .any(|&(s, e)| s <= t && t < e)
    }

    /// Generate chunk `index` into `out` (cleared first), accumulating its statistics.
    pub fn chunk(&self, index: u64, out: &mut Vec<Rec>, stats: &mut ChunkStats) {
        out.clear();
        let first = index * CHUNK_RECORDS;
        let len = CHUNK_RECORDS.min(self.total - first) as usize;
        let mut rng = Rng::new(derive(self.seed, index));
        // Uniform order statistics of `len` draws inside this chunk's share of [0, 1).
        let (lo, hi) = (
            first as f64 / self.total as f64,
            (first + len as u64) as f64 / self.total as f64,
        );
        let mut spacings = Vec::with_capacity(len + 1);
        let mut s = 0.0;
        for _ in 0..=len {
            s += rng.exp1();
            spacings.push(s);
        }
        let scale = (hi - lo) / s;
        let mut trace = Vec::with_capacity(64);
        while out.len() < len {
            let q = lo + spacings[out.len()] * scale;
            let ts = self.time_at(q);
            self.request(&mut rng, ts, len - out.len(), out, &mut trace, stats);
        }
    }

    fn request(
        &self,
        rng: &mut Rng,
        ts: i64,
        slots: usize,
        out: &mut Vec<Rec>,
        trace: &mut Vec<Rec>,
        stats: &mut ChunkStats,
    ) {
        let workload = rng.pick(&self.workload_cum);
        let model = rng.pick(&self.model_cum);
        let tenant = rng.pick(&self.tenant_cum) as u16;
        let feature = rng.pick(&self.feature_cum) as u16;
        let trace_id = rng.next_u128();
        let mut root = Rec {
            event_id: rng.next_u128(),
            trace_id,
            span_id: rng.next_u64() | 1,
            ts_ms: ts,
            tenant,
            feature,
            workload: workload as u8,
            model: model as u16,
            ttft_dms: u32::MAX,
            ..Rec::default()
        };
        stats.root(workload, model, ts, self.start_ms);
        // An agentic trace needs two slots at least (the root and its final call). With one
        // slot left in the chunk, the request is answered by a single call (no tools), so no
        // trace is ever cut at a chunk boundary.
        if !matches!(workload, W_TOOL | W_MULTI) || slots < 2 {
            root.op = OP_CHAT;
            self.chat(
                rng,
                &mut root,
                workload,
                false,
                workload == W_FAILED,
                false,
                stats,
            );
            out.push(root);
            stats.request_len(1);
            return;
        }
        // Agentic trace: invoke_agent root, then turns of chat -> tools, then a final chat.
        root.op = OP_AGENT;
        let turns = if workload == W_TOOL {
            1
        } else {
            rng.range(self.min_turns, self.max_turns)
        };
        trace.clear();
        // The trace is shaped to fit the slots left in this chunk (chunks never depend on
        // each other): fewer turns or tools, but always complete, ending with a final call.
        let budget = slots - 1;
        let mut t = ts + rng.range(2, 40) as i64;
        let mut failed = 0u8;
        for turn in 0..=turns {
            // A turn with tools takes its call, one tool at least, and leaves a slot for the
            // final call: with fewer than 3 slots left, this call is the final one.
            let left = budget - trace.len();
            let last = turn == turns || left < 3;
            let mut call = Rec {
                event_id: rng.next_u128(),
                trace_id,
                span_id: rng.next_u64() | 1,
                parent_span_id: root.span_id,
                ts_ms: t,
                tenant,
                feature,
                workload: workload as u8,
                op: OP_CHAT,
                model: model as u16,
                ttft_dms: u32::MAX,
                ..Rec::default()
            };
            self.chat(rng, &mut call, workload, turn > 0, false, !last, stats);
            t += (call.latency_dms / 10) as i64 + rng.range(1, 20) as i64;
            let err = call.error;
            trace.push(call);
            if err != 0 {
                failed = err;
                break;
            }
            if last {
                break;
            }
            // Keep a slot for the final call.
            let left = (budget - trace.len()) as u64;
            let tools = rng.range(1, self.max_tools).min(left - 1);
            for _ in 0..tools {
                let (mu, sigma) = self.tool_latency;
                let lat = exp(mu + sigma * rng.normal()).min(600_000.0);
                let tool_err = rng.chance(self.tool_error_rate);
                trace.push(Rec {
                    event_id: rng.next_u128(),
                    trace_id,
                    span_id: rng.next_u64() | 1,
                    parent_span_id: root.span_id,
                    ts_ms: t,
                    tenant,
                    feature,
                    workload: workload as u8,
                    op: OP_TOOL,
                    model: model as u16,
                    latency_dms: (lat * 10.0).round() as u32,
                    ttft_dms: u32::MAX,
                    error: if tool_err { self.tool_error } else { 0 },
                    ..Rec::default()
                });
                t += lat as i64 + rng.range(1, 10) as i64;
            }
        }
        root.latency_dms = ((t - ts).max(1) as u32).saturating_mul(10);
        root.error = failed;
        stats.request_len(trace.len() + 1);
        out.push(root);
        out.append(trace);
    }

    #[allow(clippy::too_many_arguments)]
    fn chat(
        &self,
        rng: &mut Rng,
        rec: &mut Rec,
        workload: usize,
        follow_up: bool,
        always_fail: bool,
        wants_tools: bool,
        stats: &mut ChunkStats,
    ) {
        let wl = &self.workloads[workload];
        let m = &self.models[rec.model as usize];
        // Input tokens: a popular repeated prompt, or a fresh one.
        let duplicate = !always_fail && rng.chance(self.dup_rate);
        let (hash, input) = if duplicate {
            let u = rng.f64();
            let idx = (DUP_POOL as f64 * u * u * u) as u64;
            let h = derive(self.seed ^ 0xD0B1_E5ED, (workload as u64) << 32 | idx) | 1;
            let mut prng = Rng::new(h);
            (h, draw_tokens(&mut prng, wl.input))
        } else {
            (rng.next_u64() | 1, draw_tokens(rng, wl.input))
        };
        rec.prompt_hash = hash;
        rec.input = input;
        stats.duplicate(!always_fail, duplicate, self.dup_rate);
        // Errors.
        let incident = self.in_incident(rec.ts_ms);
        let (p_err, err) = if always_fail {
            (
                1.0,
                1 + rng.pick(&self.failed_cum).min(self.error_names.len() - 1) as u8,
            )
        } else {
            let ie = if incident {
                self.incident_error_rate
            } else {
                0.0
            };
            let p = ie + (1.0 - ie) * self.error_rate;
            let e = if incident && rng.chance(ie) {
                self.incident_error
            } else if rng.chance(self.error_rate) {
                1 + rng.pick(&self.error_cum) as u8
            } else {
                0
            };
            (p, e)
        };
        let always_fail_no_types = always_fail && self.failed_cum.is_empty();
        rec.error = if always_fail_no_types {
            self.error_names
                .iter()
                .position(|n| n == "server_error")
                .map(|i| i as u8 + 1)
                .unwrap_or(self.incident_error)
        } else {
            err
        };
        stats.error(workload, p_err, rec.error != 0);
        let slow = if incident { self.incident_latency } else { 1.0 };
        if rec.error != 0 {
            let name = self.error_names[rec.error as usize - 1].as_str();
            let lat = match name {
                "timeout" => 30_000.0 + 30_000.0 * rng.f64(),
                "rate_limit" | "authentication" | "invalid_request" => 20.0 + 180.0 * rng.f64(),
                _ => (200.0 + 1800.0 * rng.f64()) * slow,
            };
            rec.latency_dms = (lat * 10.0).round() as u32;
            stats.tokens(workload, !duplicate, input, None);
            return;
        }
        let output = draw_tokens(rng, wl.output);
        rec.output = output;
        if m.reasoning {
            rec.reasoning = (output as f64 * (0.3 + 0.5 * rng.f64())).round() as u32;
        }
        // Prompt caching: follow-up turns of an agent re-send the conversation prefix.
        let p_hit = if follow_up {
            (1.0 + self.hit_rate) / 2.0
        } else {
            self.hit_rate
        };
        let hit = rng.chance(p_hit);
        stats.cache(p_hit, hit);
        let cached = (input as f64 * self.cached_fraction).round() as u32;
        if hit {
            rec.cache_read = cached;
        } else if m.bills_cache_writes && rng.chance(self.write_rate) {
            rec.cache_write = cached;
        }
        rec.finish = if wants_tools {
            FIN_TOOLS
        } else if rng.chance(0.02) {
            FIN_LENGTH
        } else {
            FIN_STOP
        };
        let ttft = (m.ttft_ms * exp(0.3 * rng.normal()) + input as f64 * 0.02) * slow;
        let generation = output as f64 / m.tokens_per_s * 1000.0 * exp(0.2 * rng.normal()) * slow;
        rec.ttft_dms = (ttft * 10.0).round() as u32;
        rec.latency_dms = ((ttft + generation) * 10.0)
            .round()
            .min(u32::MAX as f64 - 1.0) as u32;
        let cost = m.price.cost(
            input as u64,
            output as u64,
            rec.cache_read as u64,
            rec.cache_write as u64,
        );
        rec.cost_e10 = (cost * 1e10).round() as u64;
        stats.tokens(workload, !duplicate, input, Some(output));
        stats.spend(rec.model as usize, rec.cost_e10);
    }
}

fn draw_tokens(rng: &mut Rng, (mu, sigma): (f64, f64)) -> u32 {
    let x = exp(mu + sigma * rng.normal());
    x.round().clamp(1.0, 2_000_000.0) as u32
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (24 bytes) into `buf`.
pub fn write_timestamp(buf: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    let y = y.clamp(0, 9999) as u32;
    let digits = [
        b'0' + (y / 1000) as u8,
        b'0' + (y / 100 % 10) as u8,
        b'0' + (y / 10 % 10) as u8,
        b'0' + (y % 10) as u8,
        b'-',
        b'0' + (mo / 10) as u8,
        b'0' + (mo % 10) as u8,
        b'-',
        b'0' + (d / 10) as u8,
        b'0' + (d % 10) as u8,
        b'T',
        b'0' + (h / 10) as u8,
        b'0' + (h % 10) as u8,
        b':',
        b'0' + (mi / 10) as u8,
        b'0' + (mi % 10) as u8,
        b':',
        b'0' + (s / 10) as u8,
        b'0' + (s % 10) as u8,
        b'.',
        b'0' + (milli / 100) as u8,
        b'0' + (milli / 10 % 10) as u8,
        b'0' + (milli % 10) as u8,
        b'Z',
    ];
    buf.extend_from_slice(&digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_chrono() {
        for ms in [0i64, 1_767_225_600_123, 951_782_400_000, 4_102_444_799_999] {
            let mut b = Vec::new();
            write_timestamp(&mut b, ms);
            let expected = chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            assert_eq!(String::from_utf8(b).unwrap(), expected);
        }
    }
}
