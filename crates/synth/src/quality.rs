//! The quality report: realized distributions of a generated dataset against its profile,
//! each with a real test statistic and p-value (chi-square goodness of fit, a chi-square
//! test of Bernoulli totals, z-tests of token means, Kolmogorov-Smirnov against the
//! log-normal). Statistics are accumulated per chunk in constant memory and merged in chunk
//! order, so the report is as deterministic as the data.
//!
//! It owns the statistics; it does not read datasets back from files or the store.

use serde_json::{Value, json};

use super::profile::WORKLOAD_KINDS;

/// KS samples kept per workload and direction, and taken from each chunk.
const KS_CAP: usize = 20_000;
const KS_PER_CHUNK: usize = 24;
/// A test "passes" when its p-value is at least this.
pub const ALPHA: f64 = 0.001;

/// Realized (observed) errors against their expected probabilities.
#[derive(Debug, Clone, Default)]
struct Bernoulli {
    n: u64,
    hits: u64,
    sum_p: f64,
    sum_pq: f64,
}

impl Bernoulli {
    fn add(&mut self, p: f64, hit: bool) {
        self.n += 1;
        self.hits += hit as u64;
        self.sum_p += p;
        self.sum_pq += p * (1.0 - p);
    }
    fn merge(&mut self, o: &Bernoulli) {
        self.n += o.n;
        self.hits += o.hits;
        self.sum_p += o.sum_p;
        self.sum_pq += o.sum_pq;
    }
    fn report(&self) -> Value {
        let stat = if self.sum_pq > 0.0 {
            (self.hits as f64 - self.sum_p).powi(2) / self.sum_pq
        } else {
            0.0
        };
        let n = self.n.max(1) as f64;
        json!({
            "test": "chi_square",
            "n": self.n,
            "expected_rate": self.sum_p / n,
            "realized_rate": self.hits as f64 / n,
            "statistic": stat,
            "df": 1,
            "p_value": if self.sum_pq > 0.0 { chi2_sf(stat, 1.0) } else { 1.0 },
        })
    }
}

#[derive(Debug, Clone, Default)]
struct Moments {
    n: u64,
    sum: f64,
    sum_sq: f64,
    sample: Vec<u32>,
}

impl Moments {
    fn add(&mut self, x: u32, keep: bool) {
        let v = x as f64;
        self.n += 1;
        self.sum += v;
        self.sum_sq += v * v;
        if keep && self.sample.len() < KS_PER_CHUNK {
            self.sample.push(x);
        }
    }
    fn merge(&mut self, o: &Moments) {
        self.n += o.n;
        self.sum += o.sum;
        self.sum_sq += o.sum_sq;
        let room = KS_CAP.saturating_sub(self.sample.len());
        self.sample.extend(o.sample.iter().take(room));
    }
}

/// What a profile makes a generation expect, for the quality report to compare the records
/// with (the generator's plan gives it: [`super::generator::Plan::expected`]).
pub struct Expected<'a> {
    /// (model, provider), in the plan's order.
    pub models: Vec<(&'a str, &'a str)>,
    pub model_weights: &'a [f64],
    pub workload_weights: &'a [f64],
    pub hourly_mass: &'a [f64; 24],
    /// Mean (input, output) tokens per workload kind.
    pub workload_means: &'a [(f64, f64)],
    /// Log-normal sigma (input, output) per workload kind.
    pub workload_sigmas: Vec<(f64, f64)>,
}

/// Statistics of one chunk, or of everything merged so far.
#[derive(Debug, Clone, Default)]
pub struct ChunkStats {
    pub records: u64,
    pub roots: u64,
    workloads: [u64; 5],
    models: Vec<u64>,
    model_cost_e10: Vec<u64>,
    model_records: Vec<u64>,
    /// Records per hour of day (UTC).
    hours: [u64; 24],
    len_sum: u64,
    len_sq_sum: u64,
    errors: Bernoulli,
    cache: Bernoulli,
    duplicates: Bernoulli,
    input: [Moments; 5],
    output: [Moments; 5],
    pub cost_e10: u64,
    pub min_ts: Option<i64>,
    pub max_ts: Option<i64>,
}

impl ChunkStats {
    pub fn new(models: usize) -> Self {
        Self {
            models: vec![0; models],
            model_cost_e10: vec![0; models],
            model_records: vec![0; models],
            ..Default::default()
        }
    }

    pub(crate) fn root(&mut self, workload: usize, model: usize, ts: i64, start_ms: i64) {
        self.roots += 1;
        self.workloads[workload] += 1;
        self.models[model] += 1;
        let _ = (ts, start_ms);
    }

    /// A finished request of `len` records (1 for a single call, more for a trace).
    pub(crate) fn request_len(&mut self, len: usize) {
        self.len_sum += len as u64;
        self.len_sq_sum += (len * len) as u64;
    }

    pub(crate) fn error(&mut self, _workload: usize, p: f64, failed: bool) {
        self.errors.add(p, failed);
    }

    pub(crate) fn cache(&mut self, p: f64, hit: bool) {
        self.cache.add(p, hit);
    }

    pub(crate) fn duplicate(&mut self, eligible: bool, dup: bool, p: f64) {
        if eligible {
            self.duplicates.add(p, dup);
        }
    }

    /// Token counts of a chat call; only fresh (non-repeated) prompts enter the tests.
    pub(crate) fn tokens(&mut self, workload: usize, fresh: bool, input: u32, output: Option<u32>) {
        if !fresh {
            return;
        }
        self.input[workload].add(input, true);
        if let Some(o) = output {
            self.output[workload].add(o, true);
        }
    }

    pub(crate) fn spend(&mut self, model: usize, cost_e10: u64) {
        self.model_cost_e10[model] += cost_e10;
        self.cost_e10 += cost_e10;
    }

    /// Count the records of a finished chunk (all spans, by model and time range).
    pub fn observe(&mut self, model: usize, ts: i64) {
        self.records += 1;
        self.model_records[model] += 1;
        self.hours[(ts.rem_euclid(86_400_000) / 3_600_000) as usize] += 1;
        self.min_ts = Some(self.min_ts.map_or(ts, |m| m.min(ts)));
        self.max_ts = Some(self.max_ts.map_or(ts, |m| m.max(ts)));
    }

    pub fn merge(&mut self, o: &ChunkStats) {
        self.records += o.records;
        self.roots += o.roots;
        for i in 0..5 {
            self.workloads[i] += o.workloads[i];
            self.input[i].merge(&o.input[i]);
            self.output[i].merge(&o.output[i]);
        }
        for (a, b) in self.models.iter_mut().zip(&o.models) {
            *a += b;
        }
        for (a, b) in self.model_cost_e10.iter_mut().zip(&o.model_cost_e10) {
            *a += b;
        }
        for (a, b) in self.model_records.iter_mut().zip(&o.model_records) {
            *a += b;
        }
        for (a, b) in self.hours.iter_mut().zip(&o.hours) {
            *a += b;
        }
        self.len_sum += o.len_sum;
        self.len_sq_sum += o.len_sq_sum;
        self.errors.merge(&o.errors);
        self.cache.merge(&o.cache);
        self.duplicates.merge(&o.duplicates);
        self.cost_e10 += o.cost_e10;
        self.min_ts = match (self.min_ts, o.min_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max_ts = match (self.max_ts, o.max_ts) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// The quality report against what the profile makes the generation expect.
    pub fn report(&self, plan: &Expected<'_>) -> Value {
        let model_names: Vec<&str> = plan.models.iter().map(|m| m.0).collect();
        let model_mix = categorical(&model_names, &self.models, plan.model_weights);
        let workload_mix = categorical(WORKLOAD_KINDS, &self.workloads, plan.workload_weights);
        let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
        let hour_names: Vec<&str> = hours.iter().map(String::as_str).collect();
        // Records of one trace share its arrival time, so hourly counts are clustered: the
        // Pearson statistic is divided by the dispersion E[L^2]/E[L] of the trace sizes
        // (a Rao-Scott / quasi-Poisson correction; exactly 1 without traces).
        let mut hourly = categorical(&hour_names, &self.hours, plan.hourly_mass);
        let dispersion = if self.len_sum > 0 {
            self.len_sq_sum as f64 / self.len_sum as f64
        } else {
            1.0
        };
        if let (Some(raw), Some(df)) = (hourly["statistic"].as_f64(), hourly["df"].as_f64()) {
            let adjusted = raw / dispersion;
            hourly["raw_statistic"] = json!(raw);
            hourly["dispersion"] = json!(dispersion);
            hourly["statistic"] = json!(adjusted);
            hourly["test"] = json!("chi_square_rao_scott");
            if df > 0.0 {
                hourly["p_value"] = json!(chi2_sf(adjusted, df));
            }
        }
        let mut tokens = serde_json::Map::new();
        for (i, kind) in WORKLOAD_KINDS.iter().enumerate() {
            if self.input[i].n == 0 {
                continue;
            }
            let (mi, mo) = plan.workload_means[i];
            let (si, so) = plan.workload_sigmas[i];
            let mut entry = serde_json::Map::new();
            entry.insert("input".into(), mean_test(&self.input[i], mi, si));
            if self.output[i].n > 0 && mo >= 1.0 {
                entry.insert("output".into(), mean_test(&self.output[i], mo, so));
            }
            tokens.insert(kind.to_string(), Value::Object(entry));
        }
        let errors = self.errors.report();
        let cache = self.cache.report();
        let dups = self.duplicates.report();
        let mut p_values = vec![
            model_mix["p_value"].as_f64(),
            workload_mix["p_value"].as_f64(),
            hourly["p_value"].as_f64(),
            errors["p_value"].as_f64(),
            cache["p_value"].as_f64(),
            dups["p_value"].as_f64(),
        ];
        for v in tokens.values() {
            for part in ["input", "output"] {
                if let Some(t) = v.get(part) {
                    p_values.push(t["p_value"].as_f64());
                    p_values.push(t["ks_p_value"].as_f64());
                }
            }
        }
        let min_p = p_values.into_iter().flatten().fold(1.0, f64::min);
        json!({
            "alpha": ALPHA,
            "passed": min_p >= ALPHA,
            "min_p_value": min_p,
            "model_mix": model_mix,
            "workload_mix": workload_mix,
            "hourly_shape": hourly,
            "error_rate": errors,
            "cache_hit_rate": cache,
            "duplicate_prompt_rate": dups,
            "token_means": tokens,
        })
    }

    /// A short summary for the dataset registry: volume, time range, spend by model.
    pub fn summary(&self, plan: &Expected<'_>) -> Value {
        let by_model: Vec<Value> = plan
            .models
            .iter()
            .enumerate()
            .map(|(i, (name, provider))| {
                json!({
                    "model": name,
                    "provider": provider,
                    "records": self.model_records[i],
                    "requests": self.models[i],
                    "cost_usd": self.model_cost_e10[i] as f64 / 1e10,
                })
            })
            .collect();
        let by_workload: serde_json::Map<String, Value> = WORKLOAD_KINDS
            .iter()
            .enumerate()
            .map(|(i, k)| (k.to_string(), json!(self.workloads[i])))
            .collect();
        let ts = |ms: Option<i64>| {
            ms.and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        };
        json!({
            "records": self.records,
            "requests": self.roots,
            "time_range": {"start": ts(self.min_ts), "end": ts(self.max_ts)},
            "spend_usd": self.cost_e10 as f64 / 1e10,
            "error_rate": self.errors.hits as f64 / self.errors.n.max(1) as f64,
            "by_model": by_model,
            "by_workload": by_workload,
        })
    }
}

/// Chi-square goodness of fit of `observed` counts against `weights` (any scale).
fn categorical(names: &[&str], observed: &[u64], weights: &[f64]) -> Value {
    let n: u64 = observed.iter().sum();
    let total_w: f64 = weights.iter().sum();
    let mut stat = 0.0;
    let mut bins = 0usize;
    let mut expected = serde_json::Map::new();
    let mut realized = serde_json::Map::new();
    for (i, name) in names.iter().enumerate() {
        let share = if total_w > 0.0 {
            weights[i] / total_w
        } else {
            0.0
        };
        let e = share * n as f64;
        let o = observed.get(i).copied().unwrap_or(0) as f64;
        if e > 0.0 {
            stat += (o - e) * (o - e) / e;
            bins += 1;
        }
        expected.insert(name.to_string(), json!(share));
        realized.insert(
            name.to_string(),
            json!(if n > 0 { o / n as f64 } else { 0.0 }),
        );
    }
    let df = bins.saturating_sub(1) as f64;
    json!({
        "test": "chi_square",
        "n": n,
        "statistic": stat,
        "df": df,
        "p_value": if df > 0.0 && n > 0 { chi2_sf(stat, df) } else { 1.0 },
        "expected": expected,
        "realized": realized,
    })
}

/// z-test of the realized mean and KS test of the sample against LogNormal(mean, sigma).
fn mean_test(m: &Moments, mean: f64, sigma: f64) -> Value {
    let n = m.n as f64;
    let realized = m.sum / n;
    let var = (m.sum_sq / n - realized * realized).max(0.0) * n / (n - 1.0).max(1.0);
    let se = (var / n).sqrt();
    let z = if se > 0.0 {
        (realized - mean) / se
    } else {
        0.0
    };
    let p = 2.0 * normal_sf(z.abs());
    let mu = mean.ln() - sigma * sigma / 2.0;
    let (d, ks_p) = ks_lognormal(&m.sample, mu, sigma);
    json!({
        "expected_mean": mean,
        "realized_mean": realized,
        "n": m.n,
        "z": z,
        "p_value": p,
        "ks_statistic": d,
        "ks_n": m.sample.len(),
        "ks_p_value": ks_p,
    })
}

/// One-sample KS of integer token counts (continuous draws rounded, clamped at 1).
fn ks_lognormal(sample: &[u32], mu: f64, sigma: f64) -> (f64, f64) {
    if sample.is_empty() || sigma <= 0.0 {
        return (0.0, 1.0);
    }
    let mut xs = sample.to_vec();
    xs.sort_unstable();
    let n = xs.len() as f64;
    let cdf = |x: f64| {
        if x <= 0.0 {
            0.0
        } else {
            1.0 - normal_sf((x.ln() - mu) / sigma)
        }
    };
    let mut d: f64 = 0.0;
    let mut i = 0;
    while i < xs.len() {
        let k = xs[i];
        let mut j = i;
        while j < xs.len() && xs[j] == k {
            j += 1;
        }
        let lower = if k <= 1 { 0.0 } else { cdf(k as f64 - 0.5) };
        let upper = cdf(k as f64 + 0.5);
        d = d
            .max((j as f64 / n - upper).abs())
            .max((lower - i as f64 / n).abs());
        i = j;
    }
    let sn = n.sqrt();
    (d, kolmogorov_sf((sn + 0.12 + 0.11 / sn) * d))
}

/// P(K > x) for the Kolmogorov distribution.
pub fn kolmogorov_sf(x: f64) -> f64 {
    if x < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let kf = k as f64;
        let term = 2.0 * (-2.0 * kf * kf * x * x).exp() * if k % 2 == 1 { 1.0 } else { -1.0 };
        sum += term;
        if term.abs() < 1e-12 {
            break;
        }
    }
    sum.clamp(0.0, 1.0)
}

/// P(Z > z) for a standard normal.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (W. J. Cody's rational approximations via erfc of
/// Numerical Recipes' Chebyshev fit; relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// P(X > x) for chi-square with `df` degrees of freedom: Q(df/2, x/2).
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    gamma_q(df / 2.0, x / 2.0)
}

fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 6] = [
        76.180_091_729_471_46,
        -86.505_320_329_416_77,
        24.014_098_240_830_91,
        -1.231_739_572_450_155,
        0.120_865_097_386_617_9e-2,
        -0.539_523_938_495_3e-5,
    ];
    let mut y = x;
    let tmp = x + 5.5;
    let tmp = tmp - (x + 0.5) * tmp.ln();
    let mut ser = 1.000_000_000_190_015;
    for c in C {
        y += 1.0;
        ser += c / y;
    }
    -tmp + (2.506_628_274_631_000_5 * ser / x).ln()
}

/// Regularized upper incomplete gamma Q(a, x).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x < a + 1.0 {
        // series for P
        let mut ap = a;
        let mut sum = 1.0 / a;
        let mut del = sum;
        for _ in 0..1000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (1.0 - sum * (-x + a * x.ln() - ln_gamma(a)).exp()).clamp(0.0, 1.0)
    } else {
        // continued fraction for Q (Lentz)
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        ((-x + a * x.ln() - ln_gamma(a)).exp() * h).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi_square_tail_matches_tables() {
        // Critical values at p = 0.05 (df 1, 5, 23) and p = 0.001 (df 4).
        assert!((chi2_sf(3.841, 1.0) - 0.05).abs() < 1e-3);
        assert!((chi2_sf(11.070, 5.0) - 0.05).abs() < 1e-3);
        assert!((chi2_sf(35.172, 23.0) - 0.05).abs() < 1e-3);
        assert!((chi2_sf(18.467, 4.0) - 0.001).abs() < 1e-4);
        assert_eq!(chi2_sf(0.0, 3.0), 1.0);
    }

    #[test]
    fn normal_and_kolmogorov_tails() {
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((kolmogorov_sf(1.358) - 0.05).abs() < 1e-3);
        assert!((kolmogorov_sf(1.628) - 0.01).abs() < 1e-3);
    }

    #[test]
    fn goodness_of_fit_rejects_a_wrong_mix() {
        let ok = categorical(&["a", "b"], &[5030, 4970], &[0.5, 0.5]);
        assert!(ok["p_value"].as_f64().unwrap() > 0.1, "{ok}");
        let bad = categorical(&["a", "b"], &[5600, 4400], &[0.5, 0.5]);
        assert!(bad["p_value"].as_f64().unwrap() < 1e-6, "{bad}");
    }
}
