//! Query latency of a warm search index, side by side with ripgrep on the same queries.
//! Driven by tools/bench/search.sh, which builds the index first. Each query runs three times,
//! ours and rg alike, and its median counts.
//!
//! Usage: search_bench --root CORPUS --data-dir DIR [--queries 60] [--seed 7] [--rg PATH]
//!        [--only QUERY,QUERY]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use apex_core::workspace::Workspace;
use apex_search::tokenizer::next_identifier;
use apex_search::walk::WalkRules;
use apex_search::{FindSymbolRequest, SearchIndex, SearchRequest};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

/// Runs per query; the median counts (the first run also pays for cold caches).
const RUNS: usize = 3;

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let root = PathBuf::from(arg(&args, "--root").expect("--root CORPUS"));
    let data = PathBuf::from(arg(&args, "--data-dir").expect("--data-dir DIR"));
    let n: usize = arg(&args, "--queries").map_or(60, |s| s.parse().unwrap());
    let seed: u64 = arg(&args, "--seed").map_or(7, |s| s.parse().unwrap());
    let rg = arg(&args, "--rg");

    let ws = Workspace::open(&root, Some(&data))?;
    let opened = Instant::now();
    let index = SearchIndex::open(&ws)?;
    let open_ms = opened.elapsed().as_millis();
    // Waits for the integrity check of the index opened from disk; builds nothing if the
    // index is there (`is_indexed` alone says false until that check has passed).
    let built = index.ensure_indexed(
        &apex_core::events::NullSink,
        &tokio_util::sync::CancellationToken::new(),
    )?;
    anyhow::ensure!(built.is_none(), "build the index first (netra-apex index)");

    // Identifiers sampled from random files of the corpus.
    let cfg = &ws.config().search;
    let files = WalkRules::new(ws.root(), ws.data_dir(), cfg.max_file_size, &cfg.exclude)?
        .walk()
        .files;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // `--only a,b` runs just these queries (to profile one).
    let mut queries: Vec<String> = arg(&args, "--only")
        .map(|q| q.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let n = if queries.is_empty() { n } else { queries.len() };
    let mut tries = 0;
    while queries.len() < n && tries < 100 * n {
        tries += 1;
        let Some(f) = files.choose(&mut rng) else {
            break;
        };
        let Ok(text) = std::fs::read_to_string(&f.abs) else {
            continue;
        };
        let mut idents = Vec::new();
        let mut pos = 0;
        while let Some((s, e)) = next_identifier(&text, pos) {
            pos = e;
            let id = &text[s..e];
            if (6..=40).contains(&id.len())
                && id.is_ascii()
                && id.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            {
                idents.push(id);
            }
        }
        if idents.is_empty() {
            continue;
        }
        let id = idents[rng.random_range(0..idents.len())].to_string();
        if !queries.contains(&id) {
            queries.push(id);
        }
    }

    // Warm up, then measure.
    for q in &queries {
        index.search_code(&SearchRequest::new(q.as_str()))?;
    }
    let mut ours = Vec::new();
    let mut hits = 0usize;
    // Each query runs RUNS times (ours and rg alike); its latency is the median.
    for q in &queries {
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            let r = index.search_code(&SearchRequest::new(q.as_str()))?;
            runs.push(t.elapsed());
            hits += usize::from(!r.hits.is_empty());
        }
        ours.push(median(runs));
    }
    hits /= RUNS;
    let mut sym = Vec::new();
    for q in &queries {
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            index.find_symbol(&FindSymbolRequest::new(q.as_str()))?;
            runs.push(t.elapsed());
        }
        sym.push(median(runs));
    }
    let mut rg_times = Vec::new();
    let mut ratios = Vec::new();
    if let Some(rg) = &rg {
        let run = |q: &str| {
            let t = Instant::now();
            let _ = Command::new(rg)
                .args(["--no-config", "-n", "-w", "-F", "--", q])
                .arg(&root)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            t.elapsed()
        };
        run(&queries[0]); // warm the page cache
        for (q, our) in queries.iter().zip(&ours) {
            let d = median((0..RUNS).map(|_| run(q)).collect());
            rg_times.push(d);
            ratios.push((
                d.as_secs_f64() / our.as_secs_f64().max(1e-6),
                q.clone(),
                *our,
                d,
            ));
        }
    }
    let sorted = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let (o, s) = (sorted(&ours), sorted(&sym));
    println!(
        "queries: {} identifiers sampled from {} files (seed {seed}); {hits} with hits",
        queries.len(),
        files.len()
    );
    println!("index open: {open_ms} ms");
    println!(
        "search_code  p50 {:.2} ms  p95 {:.2} ms  max {:.2} ms",
        pct(&o, 0.5),
        pct(&o, 0.95),
        pct(&o, 1.0)
    );
    println!(
        "find_symbol  p50 {:.2} ms  p95 {:.2} ms  max {:.2} ms",
        pct(&s, 0.5),
        pct(&s, 0.95),
        pct(&s, 1.0)
    );
    if !rg_times.is_empty() {
        let r = sorted(&rg_times);
        ratios.sort_by(|a, b| a.0.total_cmp(&b.0));
        println!(
            "rg -n -w -F  p50 {:.2} ms  p95 {:.2} ms  max {:.2} ms",
            pct(&r, 0.5),
            pct(&r, 0.95),
            pct(&r, 1.0)
        );
        println!(
            "speedup per query (rg / search_code): min {:.0}x  median {:.0}x",
            ratios[0].0,
            ratios[ratios.len() / 2].0
        );
        let (_, q, our, theirs) = &ratios[0];
        println!(
            "slowest relative to rg: `{q}` {:.2} ms vs rg {:.2} ms",
            our.as_secs_f64() * 1e3,
            theirs.as_secs_f64() * 1e3
        );
    }
    println!(
        "sample queries: {}",
        queries
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
