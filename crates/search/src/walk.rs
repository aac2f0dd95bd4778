//! Which files of the workspace the index sees.
//!
//! Walks with the `ignore` crate: `.gitignore`, `.ignore`, `.git/info/exclude` and the global
//! git excludes are honoured (inside a git repository or not), hidden files and directories
//! are skipped, symlinks are never followed, files over `[search] max_file_size` are skipped
//! and counted, and `[search] exclude` globs and the data dir are left out. The same rules
//! judge single paths reported by the watcher ([`PathFilter`]). Reading and classifying
//! contents (binary or text) belongs to the indexer, not here.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use ignore::overrides::{Override, OverrideBuilder};
use ignore::{IncrementalIgnore, WalkBuilder, WalkState};

use super::SearchError;

/// The walking rules of one workspace.
#[derive(Clone)]
pub struct WalkRules {
    root: PathBuf,
    data_dir: PathBuf,
    max_file_size: u64,
    overrides: Override,
}

/// A file the walk accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkedFile {
    /// Relative to the root, `/`-separated.
    pub rel: String,
    pub abs: PathBuf,
    pub size: u64,
    /// Modification time in nanoseconds since the epoch (0 when unknown).
    pub mtime_ns: u64,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Walked {
    pub files: Vec<WalkedFile>,
    /// Files over the size limit.
    pub skipped_large: u64,
    /// Symlinks met and not followed.
    pub skipped_symlinks: u64,
}

impl WalkRules {
    /// Rules for `root`, leaving out `data_dir`, skipping files over `max_file_size` bytes and
    /// any path matching one of `exclude` (gitignore-style globs relative to the root).
    pub fn new(
        root: &Path,
        data_dir: &Path,
        max_file_size: u64,
        exclude: &[String],
    ) -> Result<Self, SearchError> {
        let mut ob = OverrideBuilder::new(root);
        for glob in exclude {
            let glob = glob.trim();
            if glob.is_empty() {
                continue;
            }
            let negated = format!("!{}", glob.trim_start_matches('!'));
            ob.add(&negated).map_err(|e| SearchError::BadArgument {
                field: "apex.toml [search] exclude",
                message: format!("glob `{glob}` is invalid ({e}); give gitignore-style globs such as `vendor/` or `*.min.js`"),
            })?;
        }
        if let Ok(rel) = data_dir.strip_prefix(root)
            && !rel.as_os_str().is_empty()
        {
            let anchored = format!("!/{}/", rel.to_string_lossy().replace('\\', "/"));
            // The data dir name comes from the file system; a glob error here is not the user's.
            let _ = ob.add(&anchored);
        }
        let overrides = ob.build().map_err(|e| SearchError::BadArgument {
            field: "apex.toml [search] exclude",
            message: format!("{e}"),
        })?;
        Ok(Self {
            root: root.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            max_file_size,
            overrides,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn max_file_size(&self) -> u64 {
        self.max_file_size
    }

    fn builder(&self, start: &Path) -> WalkBuilder {
        let mut b = WalkBuilder::new(start);
        b.hidden(true)
            .ignore(true)
            .git_ignore(true)
            .git_global(true)
            .git_exclude(true)
            .require_git(false)
            .parents(true)
            .follow_links(false)
            .overrides(self.overrides.clone());
        b
    }

    /// Walk the whole workspace; its files sorted by path.
    pub fn walk(&self) -> Walked {
        self.walk_from(&self.root)
    }

    /// Walk the whole workspace, its files in the order the walk's threads met them (a
    /// re-index sorts only the ones it reads).
    pub(crate) fn walk_unsorted(&self) -> Walked {
        self.walk_from_unsorted(&self.root)
    }

    /// Walk one directory of the workspace (after a watcher saw it appear), with the same
    /// rules as a walk from the root; its files sorted by path.
    pub fn walk_from(&self, start: &Path) -> Walked {
        let mut walked = self.walk_from_unsorted(start);
        walked.files.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
        walked
    }

    fn walk_from_unsorted(&self, start: &Path) -> Walked {
        let out = Mutex::new(Walked::default());
        let data_dir = self.data_dir.clone();
        let mut builder = self.builder(start);
        builder
            .threads(std::thread::available_parallelism().map_or(2, |n| n.get().min(4)))
            .filter_entry(move |e| !e.path().starts_with(&data_dir));
        builder.build_parallel().run(|| {
            let out = &out;
            Box::new(move |entry| {
                let Ok(entry) = entry else {
                    return WalkState::Continue;
                };
                let Some(ft) = entry.file_type() else {
                    return WalkState::Continue;
                };
                if ft.is_symlink() {
                    if let Ok(mut o) = out.lock() {
                        o.skipped_symlinks += 1;
                    }
                    return WalkState::Continue;
                }
                if !ft.is_file() {
                    return WalkState::Continue;
                }
                let Ok(md) = entry.metadata() else {
                    return WalkState::Continue;
                };
                let file = self.accept(entry.path(), &md);
                if let Ok(mut o) = out.lock() {
                    match file {
                        Some(f) => o.files.push(f),
                        None => o.skipped_large += 1,
                    }
                }
                WalkState::Continue
            })
        });
        out.into_inner().unwrap_or_default()
    }

    /// The file as the index sees it, or `None` when it is over the size limit.
    fn accept(&self, path: &Path, md: &std::fs::Metadata) -> Option<WalkedFile> {
        if md.len() > self.max_file_size {
            return None;
        }
        Some(WalkedFile {
            rel: relative(&self.root, path),
            abs: path.to_path_buf(),
            size: md.len(),
            mtime_ns: mtime_ns(md),
        })
    }

    /// A matcher for single paths, applying the same rules as [`WalkRules::walk`].
    pub fn path_filter(&self) -> PathFilter {
        let matcher = self.builder(&self.root).build_matchers().into_iter().next();
        PathFilter {
            rules: self.clone(),
            matcher,
        }
    }
}

/// How the walk rules judge one path that a watcher reported.
#[derive(Debug, PartialEq, Eq)]
pub enum PathVerdict {
    /// An indexable file.
    File(WalkedFile),
    /// A directory that should be walked.
    Dir(PathBuf),
    /// Too large: skipped and counted.
    TooLarge,
    /// Ignored, hidden, excluded, a symlink, outside the root, or gone.
    Ignored,
    /// No longer exists (remove it from the index).
    Gone,
}

/// Judges single paths with the walk's rules; caches ignore files per directory, so build a
/// new one after an ignore file changed.
pub struct PathFilter {
    rules: WalkRules,
    matcher: Option<IncrementalIgnore>,
}

impl PathFilter {
    pub fn judge(&mut self, path: &Path) -> PathVerdict {
        if path.starts_with(&self.rules.data_dir) {
            return PathVerdict::Ignored;
        }
        let Ok(rel) = path.strip_prefix(&self.rules.root) else {
            return PathVerdict::Ignored;
        };
        if rel.as_os_str().is_empty() {
            return PathVerdict::Ignored;
        }
        let md = match std::fs::symlink_metadata(path) {
            Ok(md) => md,
            Err(_) => return PathVerdict::Gone,
        };
        if md.file_type().is_symlink() {
            return PathVerdict::Ignored;
        }
        let is_dir = md.is_dir();
        if let Some(m) = self.matcher.as_mut()
            && m.matched(rel, is_dir).is_ignore()
        {
            return PathVerdict::Ignored;
        }
        if is_dir {
            return PathVerdict::Dir(path.to_path_buf());
        }
        if !md.is_file() {
            return PathVerdict::Ignored;
        }
        match self.rules.accept(path, &md) {
            Some(f) => PathVerdict::File(f),
            None => PathVerdict::TooLarge,
        }
    }
}

/// `path` relative to `root`, `/`-separated.
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    if cfg!(windows) {
        rel.to_string_lossy().replace('\\', "/")
    } else {
        // `\` is an ordinary character of a Unix file name, not a separator.
        rel.to_string_lossy().into_owned()
    }
}

fn mtime_ns(md: &std::fs::Metadata) -> u64 {
    md.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn rels(w: &Walked) -> Vec<&str> {
        w.files.iter().map(|f| f.rel.as_str()).collect()
    }

    /// A `\` is part of a Unix file name: the path the index keeps is the file's own.
    #[cfg(unix)]
    #[test]
    fn a_backslash_in_a_unix_file_name_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "src/a\\b.rs", "fn f() {}\n");
        let rules = WalkRules::new(dir.path(), &dir.path().join(".data"), 1 << 20, &[]).unwrap();
        let walked = rules.walk();
        let rels: Vec<&str> = walked.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["src/a\\b.rs"]);
        assert!(dir.path().join(rels[0]).is_file());
    }

    #[test]
    fn honours_ignore_files_hidden_size_excludes_and_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        write(&root, "src/main.rs", "fn main() {}");
        write(&root, "src/gen/out.rs", "fn generated() {}");
        write(&root, ".gitignore", "src/gen/\n*.log\n");
        write(&root, "sub/.ignore", "secret.txt\n");
        write(&root, "sub/secret.txt", "x");
        write(&root, "sub/keep.txt", "x");
        write(&root, "app.log", "x");
        write(&root, ".hidden/a.rs", "x");
        write(&root, "vendor/lib.js", "x");
        write(&root, "web/app.min.js", "x");
        write(&root, "big.txt", &"x".repeat(2000));
        write(&root, "apexdata/index/meta.json", "{}");
        let rules = WalkRules::new(
            &root,
            &root.join("apexdata"),
            1000,
            &["vendor/".into(), "*.min.js".into()],
        )
        .unwrap();
        let w = rules.walk();
        assert_eq!(rels(&w), ["src/main.rs", "sub/keep.txt"]);
        assert_eq!(w.skipped_large, 1);
        assert_eq!(w.files[0].size, 12);
        assert!(w.files[0].mtime_ns > 0);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.rs", "fn secret() {}");
        let root = dir.path().canonicalize().unwrap();
        write(&root, "a.rs", "fn a() {}");
        std::os::unix::fs::symlink(outside.path(), root.join("linkdir")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.rs"), root.join("l.rs")).unwrap();
        let rules = WalkRules::new(&root, &root.join(".netra-apex"), 1000, &[]).unwrap();
        let w = rules.walk();
        assert_eq!(rels(&w), ["a.rs"]);
        assert_eq!(w.skipped_symlinks, 2);
        let mut f = rules.path_filter();
        assert_eq!(f.judge(&root.join("l.rs")), PathVerdict::Ignored);
    }

    #[test]
    fn path_filter_agrees_with_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        write(&root, ".gitignore", "target/\n");
        write(&root, "target/debug/x.rs", "x");
        write(&root, "src/lib.rs", "x");
        write(&root, ".git/config", "x");
        let rules = WalkRules::new(&root, &root.join(".netra-apex"), 1000, &[]).unwrap();
        let mut f = rules.path_filter();
        assert!(
            matches!(f.judge(&root.join("src/lib.rs")), PathVerdict::File(ref w) if w.rel == "src/lib.rs")
        );
        assert_eq!(
            f.judge(&root.join("target/debug/x.rs")),
            PathVerdict::Ignored
        );
        assert_eq!(f.judge(&root.join(".git/config")), PathVerdict::Ignored);
        assert_eq!(f.judge(&root.join("src/gone.rs")), PathVerdict::Gone);
        assert_eq!(
            f.judge(&root.join("src")),
            PathVerdict::Dir(root.join("src"))
        );
        assert_eq!(f.judge(Path::new("/etc/passwd")), PathVerdict::Ignored);
    }

    #[test]
    fn bad_exclude_glob_names_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let err = WalkRules::new(dir.path(), &dir.path().join("d"), 10, &["a[".into()])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("exclude") && err.contains("a["), "{err}");
    }
}
