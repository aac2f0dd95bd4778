//! The search benchmark's measuring half, driven by tools/bench/search.sh. Its phases are
//! separate runs so that `/usr/bin/time` sees each one's peak memory alone:
//!
//! `--phase build`: a full build of a fresh index as `netra-apex index --full` runs it, with a
//! watcher running; while the symbol pass runs, a file is saved every 1.5 s and the time until
//! `search_code` finds it is measured. Memory is sampled during the text pass and the symbol
//! pass apart.
//!
//! `--phase ceiling`: tree-sitter's own parse rate over the same files (parse only, same
//! threads): the ceiling the symbol pass is compared with (`--symbol-rate MB/s`).
//!
//! `--phase extract`: the same files through `symbols::extract` (the parse and our walk over
//! the tree, nothing indexed): how much of the pass's distance to the ceiling is the walk.
//!
//! `--phase query`: over the built index, `search_code` and `find_symbol` latency for
//! identifiers sampled from the corpus, side by side with `rg` on the same queries (each runs
//! three times, ours and rg alike, and its median counts), and a no-change re-index.
//!
//! `--phase lookup`: one name per line on stdin, the `find_symbol` answer as one JSON line on
//! stdout (tools/bench/search_recall.py asks it, or the binary over MCP).
//!
//! Usage: search_bench --phase build|ceiling|extract|query|lookup --root CORPUS --data-dir DIR [--queries 60]
//!        [--seed 7] [--rg PATH] [--only QUERY,QUERY] [--edit-dir DIR]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use apex_core::events::{CollectingSink, NullSink};
use apex_core::workspace::Workspace;
use apex_search::symbols::{Language, extract, language_for_source, parse_only};
use apex_search::tokenizer::next_identifier;
use apex_search::walk::WalkRules;
use apex_search::{FindSymbolRequest, SearchError, SearchIndex, SearchRequest};
use tokio_util::sync::CancellationToken;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A small deterministic generator (xorshift64*) for sampling queries.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

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

fn sorted(v: &[Duration]) -> Vec<Duration> {
    let mut v = v.to_vec();
    v.sort();
    v
}

fn main() -> Result<()> {
    // As `netra-apex` does first thing: the memory figures are the binary's.
    apex_core::memory::cap_malloc_arenas();
    let args: Vec<String> = std::env::args().collect();
    let root = PathBuf::from(arg(&args, "--root").expect("--root CORPUS"));
    let data = PathBuf::from(arg(&args, "--data-dir").expect("--data-dir DIR"));
    match arg(&args, "--phase").as_deref() {
        Some("build") => build(&args, &root, &data),
        Some("query") => query(&args, &root, &data),
        Some("ceiling") => ceiling(&args, &root, &data),
        Some("extract") => extract_rate(&root, &data),
        Some("lookup") => lookup(&root, &data),
        other => Err(format!("--phase build|ceiling|extract|query|lookup, not {other:?}").into()),
    }
}

/// Peaks of this process's resident memory, in kB, from `/proc/self/status`: all of it, and
/// its anonymous (heap) and file-backed (mapped index segments) parts, which the kernel can
/// drop and re-read at will.
#[derive(Default, Clone, Copy)]
struct Peaks {
    rss: u64,
    anon: u64,
    file: u64,
}

/// Samples memory until stopped, keeping the peaks of the text pass and of the symbol pass
/// apart (the phase flips when `text_done` is set).
struct MemoryPeaks {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    text_done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<[Peaks; 2]>,
}

impl MemoryPeaks {
    fn start() -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let text_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (flag, phase) = (stop.clone(), text_done.clone());
        let sampler = std::thread::spawn(move || {
            let mut both = [Peaks::default(); 2];
            while !flag.load(Ordering::Relaxed) {
                let peaks = &mut both[usize::from(phase.load(Ordering::Relaxed))];
                let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
                let kb = |key: &str| {
                    status
                        .lines()
                        .find(|l| l.starts_with(key))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                peaks.rss = peaks.rss.max(kb("VmRSS:"));
                peaks.anon = peaks.anon.max(kb("RssAnon:"));
                peaks.file = peaks.file.max(kb("RssFile:"));
                std::thread::sleep(Duration::from_millis(100));
            }
            both
        });
        Self {
            stop,
            text_done,
            sampler,
        }
    }

    fn text_done(&self) {
        self.text_done.store(true, Ordering::Relaxed);
    }

    fn stop(self) -> [Peaks; 2] {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.join().unwrap_or_default()
    }
}

/// A full build with a watcher running and edits saved during the symbol pass, then the
/// parse-only ceiling over the same files.
fn build(args: &[String], root: &Path, data: &Path) -> Result<()> {
    let edit_dir =
        arg(args, "--edit-dir").map_or_else(|| root.join("zz-bench-edits"), PathBuf::from);
    std::fs::create_dir_all(&edit_dir)?;
    if !edit_dir.canonicalize()?.starts_with(root.canonicalize()?) {
        return Err(format!(
            "--edit-dir {} is outside --root {}: the watcher would never see the edits",
            edit_dir.display(),
            root.display()
        )
        .into());
    }
    let ws = Workspace::open(root, Some(data))?;
    let index = SearchIndex::open(&ws)?;
    let memory = MemoryPeaks::start();
    let builder = {
        let index = index.clone();
        std::thread::spawn(move || {
            index.reindex(true, &CollectingSink::new(), &CancellationToken::new())
        })
    };
    // Once text is committed (the watcher's catch-up then finds nothing to do), watch, and
    // save a file every 1.5 s while the symbol pass runs.
    while !index.is_indexed() && !builder.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
    }
    memory.text_done();
    let _watcher = index.watch()?;
    std::thread::sleep(Duration::from_secs(3));
    let mut latencies = Vec::new();
    let mut misses = 0;
    let n = AtomicU64::new(0);
    while index.symbols_pending() > 0 && !builder.is_finished() {
        let k = n.fetch_add(1, Ordering::Relaxed);
        let token = format!("bench_saved_edit_{k}_{}", std::process::id());
        let file = edit_dir.join("edit.rs");
        let saved = Instant::now();
        std::fs::write(&file, format!("pub fn {token}() {{}}\n"))?;
        let mut found = None;
        while saved.elapsed() < Duration::from_secs(10) {
            let r = index.search_code(&SearchRequest::new(token.as_str()))?;
            if !r.hits.is_empty() {
                found = Some(saved.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        match found {
            Some(d) => latencies.push(d),
            None => misses += 1,
        }
        std::thread::sleep(Duration::from_millis(1500));
    }
    let report = builder.join().map_err(|_| "the build thread panicked")??;
    let peaks = memory.stop();
    let _ = std::fs::remove_dir_all(&edit_dir);
    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "text searchable: {} text files (+{} binary, listed by name only, as index_status counts them apart), {:.0} MB of text in {:.1} s = {:.1} MB/s",
        report.added.saturating_sub(report.skipped_binary),
        report.skipped_binary,
        mb(report.bytes_indexed),
        report.text_ms as f64 / 1e3,
        mb(report.bytes_indexed) / (report.text_ms as f64 / 1e3)
    );
    let sym_rate = mb(report.symbol_bytes) / (report.symbols_ms as f64 / 1e3).max(1e-3);
    println!(
        "symbols: {} definitions from {} files ({:.0} MB) in {:.1} s more = {:.1} MB/s; segments merged in {:.1} s after",
        report.symbols_indexed,
        report.symbol_files,
        mb(report.symbol_bytes),
        report.symbols_ms as f64 / 1e3,
        sym_rate,
        report.symbols_merge_ms as f64 / 1e3
    );
    println!("whole build: {:.1} s", report.duration_ms as f64 / 1e3);
    let status = index.index_status()?;
    println!(
        "index: {} files, {} symbols, {:.0} MB on disk = {:.2}x the {:.0} MB of text",
        status.files,
        status.symbols,
        mb(status.index_size_bytes),
        status.index_size_bytes as f64 / status.bytes.max(1) as f64,
        mb(status.bytes)
    );
    for (pass, p) in ["text pass", "symbol pass"].iter().zip(peaks) {
        println!(
            "memory during the {pass} (sampled every 100 ms): peak RSS {:.0} MB = heap and other anonymous memory, peak {:.0} MB + mapped files (index segments), peak {:.0} MB",
            p.rss as f64 / 1024.0,
            p.anon as f64 / 1024.0,
            p.file as f64 / 1024.0
        );
    }
    if latencies.is_empty() {
        println!(
            "saved file searchable during the symbol pass: none of {misses} edits found within 10 s{}",
            if misses == 0 {
                " (no edit was made: the pass ended first)"
            } else {
                ""
            }
        );
    } else {
        let s = sorted(&latencies);
        println!(
            "saved file searchable during the symbol pass: {} edits, p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms, {} not found within 10 s",
            s.len(),
            pct(&s, 0.5),
            pct(&s, 0.95),
            pct(&s, 1.0),
            misses
        );
    }

    Ok(())
}

/// The ceiling: tree-sitter parsing the files of the build alone, on as many threads as the
/// symbol pass has (a phase of its own, so that the build's peak memory is the build's).
/// `--symbol-rate MB/s` (the build's) adds how close the symbol pass came to it.
fn ceiling(args: &[String], root: &Path, data: &Path) -> Result<()> {
    let (mb, secs, threads) = each_source(root, data, parse_only)?;
    let rate = mb / secs;
    let of_it = match arg(args, "--symbol-rate").and_then(|r| r.parse::<f64>().ok()) {
        Some(r) => format!("; the symbol pass ran at {:.0}% of that", 100.0 * r / rate),
        None => String::new(),
    };
    println!(
        "tree-sitter alone (parse only, {threads} threads): {mb:.0} MB in {secs:.1} s = {rate:.1} MB/s{of_it}",
    );
    Ok(())
}

/// The files of the build through `symbols::extract`: the parse and our walk, nothing indexed.
fn extract_rate(root: &Path, data: &Path) -> Result<()> {
    let (mb, secs, threads) = each_source(root, data, |l, text| {
        std::hint::black_box(extract(l, text));
        true
    })?;
    println!(
        "extraction (parse and walk, {threads} threads): {mb:.0} MB in {secs:.1} s = {:.1} MB/s",
        mb / secs
    );
    Ok(())
}

/// Run `each` on every source file with a grammar that the build indexes, on as many threads
/// as the symbol pass has (rayon's default: one per CPU): the MB it took (where it said
/// true), the seconds and the threads.
fn each_source(
    root: &Path,
    data: &Path,
    each: impl Fn(Language, &str) -> bool + Sync,
) -> Result<(f64, f64, usize)> {
    let ws = Workspace::open(root, Some(data))?;
    let cfg = &ws.config().search;
    let files = WalkRules::new(ws.root(), ws.data_dir(), cfg.max_file_size, &cfg.exclude)?
        .walk()
        .files;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = AtomicU64::new(0);
    let started = Instant::now();
    let bytes: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = 0u64;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        let Some(f) = files.get(i) else {
                            return done;
                        };
                        let Ok(bytes) = std::fs::read(&f.abs) else {
                            continue;
                        };
                        if bytes[..bytes.len().min(8192)].contains(&0) {
                            continue;
                        }
                        let text = String::from_utf8_lossy(&bytes);
                        if let Some(l) = language_for_source(Path::new(&f.rel), &text)
                            && each(l, &text)
                        {
                            done += bytes.len() as u64;
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    Ok((bytes as f64 / 1e6, started.elapsed().as_secs_f64(), threads))
}

/// Query latency side by side with rg, and a no-change re-index.
fn query(args: &[String], root: &Path, data: &Path) -> Result<()> {
    let n: usize = arg(args, "--queries").map_or(60, |s| s.parse().unwrap_or(60));
    let seed: u64 = arg(args, "--seed").map_or(7, |s| s.parse().unwrap_or(7));
    let rg = arg(args, "--rg");

    let ws = Workspace::open(root, Some(data))?;
    let opened = Instant::now();
    let index = SearchIndex::open(&ws)?;
    let open_ms = opened.elapsed().as_millis();
    // Waits for the integrity check of the index opened from disk; builds nothing if the
    // index is there (`is_indexed` alone says false until that check has passed).
    let built = index.ensure_indexed(&NullSink, &CancellationToken::new())?;
    if built.is_some() || index.symbols_pending() > 0 {
        return Err("build the index first (--phase build)".into());
    }

    // Identifiers sampled from random files of the corpus.
    let cfg = &ws.config().search;
    let files = WalkRules::new(ws.root(), ws.data_dir(), cfg.max_file_size, &cfg.exclude)?
        .walk()
        .files;
    let mut rng = Rng::new(seed);
    // `--only a,b` runs just these queries (to profile one).
    let mut queries: Vec<String> = arg(args, "--only")
        .map(|q| q.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let n = if queries.is_empty() { n } else { queries.len() };
    let mut tries = 0;
    while queries.len() < n && tries < 100 * n {
        tries += 1;
        let Some(f) = files.get(rng.below(files.len())) else {
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
        let id = idents[rng.below(idents.len())].to_string();
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
    let mut named: Vec<&String> = Vec::new();
    for q in &queries {
        // A line of code given with `--only` (`raise ValueError(`) is no symbol name.
        if let Err(SearchError::BadArgument { .. }) =
            index.find_symbol(&FindSymbolRequest::new(q.as_str()))
        {
            continue;
        }
        named.push(q);
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
                .arg(root)
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
    // A re-index that finds nothing changed: the walk and the mtime/size check.
    let mut nochange = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let r = index.reindex(false, &NullSink, &CancellationToken::new())?;
        nochange.push(t.elapsed());
        if r.added + r.updated + r.removed > 0 {
            return Err(format!("the corpus changed during the benchmark: {r:?}").into());
        }
    }

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
    if !s.is_empty() {
        println!(
            "find_symbol  p50 {:.2} ms  p95 {:.2} ms  max {:.2} ms",
            pct(&s, 0.5),
            pct(&s, 0.95),
            pct(&s, 1.0)
        );
    }
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
        "no-change re-index (walk + mtime/size check of {} files): median {:.0} ms",
        files.len(),
        median(nochange).as_secs_f64() * 1e3
    );
    let mut slow: Vec<(std::time::Duration, &&String)> = sym.iter().copied().zip(&named).collect();
    slow.sort_by_key(|b| std::cmp::Reverse(b.0));
    println!(
        "slowest find_symbol: {}",
        slow.iter()
            .take(5)
            .map(|(d, q)| format!("`{q}` {:.1} ms", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    );
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

/// `find_symbol` for each name on stdin, one JSON answer per line.
fn lookup(root: &Path, data: &Path) -> Result<()> {
    use std::io::{BufRead, Write};
    let ws = Workspace::open(root, Some(data))?;
    let index = SearchIndex::open(&ws)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for name in std::io::stdin().lock().lines() {
        let name = name?;
        let mut req = FindSymbolRequest::new(name.trim());
        req.limit = Some(50);
        req.max_tokens = Some(20_000);
        let answer = match index.find_symbol(&req) {
            Ok(r) => serde_json::to_string(&r)?,
            Err(e) => serde_json::json!({"error": e.to_string()}).to_string(),
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}
