//! Context bundle benchmark: save and re-resolve a 200-item bundle (100 line ranges and 100
//! symbols over this repository's own `src/`), with every item fresh, then with every file
//! shifted so every item must be found again (moved), and redaction throughput.
//!
//! Usage: context_bench [REPO_DIR]  (run by tools/bench/context.sh)

use std::path::{Path, PathBuf};
use std::time::Instant;

use apex_context::{self as context, Anchors, ItemSpec, SaveRequest};
use apex_core::workspace::Workspace;
use apex_search::symbols::{extract, language_for_path};
use apex_store::Store;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let to = dst.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn main() {
    let repo = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo.join("src"), &dir.path().join("src"));
    let ws = Workspace::open(dir.path(), None).unwrap();
    let store = Store::open(&ws.db_path()).unwrap();
    let anchors = Anchors::new(&ws);

    let mut files = Vec::new();
    rust_files(&dir.path().join("src"), &mut files);
    files.sort();
    let mut items = Vec::new();
    for f in files.iter().cycle().take(400) {
        if items.len() >= 200 {
            break;
        }
        let rel = ws.relative(f);
        let src = std::fs::read_to_string(f).unwrap();
        let n = src.lines().count() as u32;
        if n < 30 {
            continue;
        }
        if items.len() % 2 == 0 {
            let start = (items.len() as u32 * 7) % (n - 20) + 1;
            items.push(ItemSpec {
                path: Some(rel),
                start_line: Some(start),
                end_line: Some(start + 19),
                ..Default::default()
            });
        } else if let Some(lang) = language_for_path(f) {
            let syms = extract(lang, &src);
            let Some(s) = syms.get(items.len() % syms.len().max(1)) else {
                continue;
            };
            let name = match &s.container {
                Some(c) => format!("{c}::{}", s.name),
                None => s.name.clone(),
            };
            items.push(ItemSpec {
                path: Some(rel),
                symbol: Some(name),
                start_line: Some(s.line),
                ..Default::default()
            });
        }
    }
    let count = items.len();
    let req = SaveRequest {
        name: "bench".into(),
        description: "benchmark bundle".into(),
        tags: vec!["bench".into()],
        notes: "notes ".repeat(200),
        items,
    };
    let t = Instant::now();
    let saved = context::save(&store, &anchors, &req).unwrap();
    let save_ms = ms(t);

    let t = Instant::now();
    let v = context::get(&store, &anchors, "bench", None, None).unwrap();
    let get_fresh_ms = ms(t);
    assert_eq!(v.counts.fresh, count, "all fresh");

    // Shift every file by 3 lines: every item must be searched for again.
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        std::fs::write(f, format!("// a\n// b\n// c\n{src}")).unwrap();
    }
    let t = Instant::now();
    let v = context::get(&store, &anchors, "bench", None, None).unwrap();
    let get_moved_ms = ms(t);
    let t = Instant::now();
    let cut = context::get(&store, &anchors, "bench", None, Some(2_000)).unwrap();
    let get_budget_ms = ms(t);

    let text: String = std::fs::read_to_string(&files[0])
        .unwrap()
        .repeat((10 * 1024 * 1024) / std::fs::metadata(&files[0]).unwrap().len().max(1) as usize);
    let t = Instant::now();
    let _ = context::redact::redact_text(&text);
    let redact_mb_s = text.len() as f64 / 1e6 / t.elapsed().as_secs_f64();

    println!("items: {count} (version {})", saved.version);
    println!("save (capture + hash + redact + store): {save_ms:.1} ms");
    println!("get, all fresh: {get_fresh_ms:.1} ms");
    println!(
        "get, every file shifted: {get_moved_ms:.1} ms ({} moved, {} fresh, {} stale, {} missing)",
        v.counts.moved, v.counts.fresh, v.counts.stale, v.counts.missing
    );
    println!(
        "get with max_tokens 2000: {get_budget_ms:.1} ms ({} items shown, {} left out, {} tokens)",
        cut.items.len(),
        cut.omitted.len(),
        cut.tokens
    );
    println!(
        "redaction: {redact_mb_s:.0} MB/s over {:.1} MB of source",
        text.len() as f64 / 1e6
    );
}
