//! The workspace: its root, its data dir and its `apex.toml`.
//!
//! Owns path safety: every path a client names goes through [`Workspace::resolve`], which
//! refuses anything that lands outside the root once `..` and symlinks are resolved.
//! It does not know what the capabilities do with the paths.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

/// Errors about the workspace, its paths and its configuration.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("workspace root {path} does not exist or is not a directory")]
    BadRoot { path: PathBuf },
    #[error(
        "path `{given}` is outside the workspace root {root}; give a path relative to the root"
    )]
    Escapes { given: String, root: PathBuf },
    #[error("path `{given}` does not exist under the workspace root")]
    NotFound { given: String },
    #[error("path is empty; give a path relative to the workspace root")]
    Empty,
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {message}")]
    Config { path: PathBuf, message: String },
}

/// `apex.toml` at the workspace root. Every section is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApexConfig {
    #[serde(default)]
    pub search: SearchConfig,
    #[serde(default)]
    pub tests: TestsConfig,
    #[serde(default)]
    pub tasks: TasksConfig,
    #[serde(default)]
    pub runs: RunsConfig,
}

/// `[runs]`: long operations (indexing, generation, ingest, test and agent runs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsConfig {
    /// Runs in progress at once; one more is refused with a "busy" error naming the
    /// running ones (1 to 1024).
    #[serde(
        default = "default_max_concurrent",
        deserialize_with = "max_concurrent_in_range"
    )]
    pub max_concurrent: usize,
}

impl Default for RunsConfig {
    fn default() -> Self {
        Self {
            max_concurrent: default_max_concurrent(),
        }
    }
}

fn default_max_concurrent() -> usize {
    crate::run::DEFAULT_MAX_CONCURRENT_RUNS
}

fn max_concurrent_in_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = i64::deserialize(d)?;
    if (1..=1024).contains(&n) {
        Ok(n as usize)
    } else {
        Err(serde::de::Error::custom(format!(
            "{n} is not accepted; accepted: 1 to 1024 (default {})",
            crate::run::DEFAULT_MAX_CONCURRENT_RUNS
        )))
    }
}

/// `[search]`: how the codebase index walks the workspace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// Files larger than this many bytes are skipped and counted.
    #[serde(default = "default_max_file_size")]
    pub max_file_size: u64,
    /// Extra glob patterns to exclude, on top of .gitignore and .ignore.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// An update that reads more than this many bytes commits the text index first (search
    /// answers from then on) and extracts symbols after, in the background or while a
    /// symbol query waits. 0 always does.
    #[serde(default = "default_text_first_over")]
    pub text_first_over: u64,
    /// A reindex that reads the whole workspace asks first (where the client offers
    /// elicitation) when the workspace holds more than this many bytes. 0 always asks.
    #[serde(default = "default_confirm_reindex_over")]
    pub confirm_reindex_over: u64,
}

fn default_text_first_over() -> u64 {
    16_000_000
}

fn default_max_file_size() -> u64 {
    1_000_000
}

/// 1 GB: about half a minute of indexing on a small machine.
fn default_confirm_reindex_over() -> u64 {
    1_000_000_000
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            max_file_size: default_max_file_size(),
            exclude: Vec::new(),
            text_first_over: default_text_first_over(),
            confirm_reindex_over: default_confirm_reindex_over(),
        }
    }
}

/// `[tasks]`: how long runs started as MCP tasks stay readable, and how often clients
/// should poll them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TasksConfig {
    /// Seconds a finished task stays readable through `tasks/get` (its run stays readable
    /// for good through `get_agent_run`, `get_test_run` and `apex://runs/{id}`).
    #[serde(default = "default_task_ttl_s")]
    pub ttl_s: u64,
    /// The polling interval suggested to clients, in milliseconds.
    #[serde(default = "default_task_poll_ms")]
    pub poll_ms: u64,
}

fn default_task_ttl_s() -> u64 {
    3600
}

fn default_task_poll_ms() -> u64 {
    500
}

impl Default for TasksConfig {
    fn default() -> Self {
        Self {
            ttl_s: default_task_ttl_s(),
            poll_ms: default_task_poll_ms(),
        }
    }
}

/// `[tests]`: suites a project declares (`[tests.suites.NAME]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestsConfig {
    #[serde(default)]
    pub suites: BTreeMap<String, SuiteConfig>,
}

/// One declared test suite: a command the project owner wrote, never one a client sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteConfig {
    /// The command line, split on whitespace unless given as a list.
    pub command: CommandLine,
    /// Working directory relative to the root.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Seconds before the suite is killed.
    #[serde(default)]
    pub timeout: Option<u64>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How to read the output: `libtest`, `pytest`, `go`, `jest`, `vitest`, `junit:<file>` or `plain`.
    #[serde(default)]
    pub format: Option<String>,
}

/// A command given as one string or as a list of arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CommandLine {
    Line(String),
    Args(Vec<String>),
}

impl CommandLine {
    pub fn args(&self) -> Vec<String> {
        match self {
            CommandLine::Line(s) => s.split_whitespace().map(str::to_string).collect(),
            CommandLine::Args(a) => a.clone(),
        }
    }
}

/// A workspace root with its data dir and configuration.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
    data_dir: PathBuf,
    config: ApexConfig,
}

impl Workspace {
    /// Open the workspace at `root`, creating the data dir (default `<root>/.netra-apex/`)
    /// with a `.gitignore` of its own, and reading `apex.toml` when present.
    pub fn open(root: &Path, data_dir: Option<&Path>) -> Result<Self, WorkspaceError> {
        let root = root
            .canonicalize()
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| WorkspaceError::BadRoot {
                path: root.to_path_buf(),
            })?;
        let data_dir = match data_dir {
            Some(d) if d.is_absolute() => d.to_path_buf(),
            Some(d) => std::env::current_dir()
                .map(|c| c.join(d))
                .unwrap_or_else(|_| d.to_path_buf()),
            None => root.join(".netra-apex"),
        };
        std::fs::create_dir_all(&data_dir).map_err(|source| WorkspaceError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(|source| WorkspaceError::DataDir {
                path: data_dir.clone(),
                source,
            })?;
        let ignore = data_dir.join(".gitignore");
        // A data dir that cannot take it now (read-only, full) gets it on a later start.
        if !ignore.exists()
            && let Err(e) = crate::files::write_durable(
                &ignore,
                b"# Netra Apex data: index, database, logs. Rebuildable; never commit.\n*\n",
            )
        {
            tracing::warn!(path = %ignore.display(), error = %e, "cannot write the data dir's .gitignore");
        }
        let config = Self::read_config(&root)?;
        Ok(Self {
            root,
            data_dir,
            config,
        })
    }

    fn read_config(root: &Path) -> Result<ApexConfig, WorkspaceError> {
        let path = root.join("apex.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| WorkspaceError::Config {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ApexConfig::default()),
            Err(e) => Err(WorkspaceError::Config {
                path,
                message: e.to_string(),
            }),
        }
    }

    /// The canonical workspace root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The canonical data dir (`apex.db`, `index/`, `logs/`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn config(&self) -> &ApexConfig {
        &self.config
    }

    /// The path of the SQLite store.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("apex.db")
    }

    /// Resolve an existing path named by a client. Relative paths are taken from the root;
    /// absolute paths are accepted only when they lie under it. Symlinks are followed and
    /// the result must still be under the root.
    pub fn resolve(&self, given: &str) -> Result<PathBuf, WorkspaceError> {
        let candidate = self.lexical(given)?;
        let real = candidate
            .canonicalize()
            .map_err(|_| WorkspaceError::NotFound {
                given: given.to_string(),
            })?;
        if real.starts_with(&self.root) {
            Ok(real)
        } else {
            Err(self.escapes(given))
        }
    }

    /// Resolve a path that may not exist yet (an output file): its nearest existing ancestor
    /// must resolve inside the root or the data dir, and no `..` may climb out.
    pub fn resolve_output(&self, given: &str) -> Result<PathBuf, WorkspaceError> {
        let candidate = self.lexical(given)?;
        let mut existing = candidate.as_path();
        let mut rest = Vec::new();
        while !existing.exists() {
            match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    existing = parent;
                }
                _ => return Err(self.escapes(given)),
            }
        }
        let mut real = existing.canonicalize().map_err(|_| self.escapes(given))?;
        if !(real.starts_with(&self.root) || real.starts_with(&self.data_dir)) {
            return Err(self.escapes(given));
        }
        for part in rest.into_iter().rev() {
            real.push(part);
        }
        Ok(real)
    }

    /// The path relative to the root, with `/` separators, for display and storage.
    pub fn relative(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        rel.to_string_lossy().replace('\\', "/")
    }

    fn lexical(&self, given: &str) -> Result<PathBuf, WorkspaceError> {
        let trimmed = given.trim();
        if trimmed.is_empty() {
            return Err(WorkspaceError::Empty);
        }
        let path = Path::new(trimmed);
        let joined = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.root.join(path)
        };
        // Normalise `.` and `..` without touching the disk, so that `a/../../x` is caught
        // even when `a` does not exist.
        let mut out = PathBuf::new();
        for comp in joined.components() {
            match comp {
                Component::ParentDir => {
                    if !out.pop() {
                        return Err(self.escapes(given));
                    }
                }
                Component::CurDir => {}
                other => out.push(other.as_os_str()),
            }
        }
        if out.starts_with(&self.root) || out.starts_with(&self.data_dir) {
            Ok(out)
        } else {
            Err(self.escapes(given))
        }
    }

    fn escapes(&self, given: &str) -> WorkspaceError {
        WorkspaceError::Escapes {
            given: given.to_string(),
            root: self.root.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/a.rs"), "fn a() {}").unwrap();
        let ws = Workspace::open(dir.path(), None).unwrap();
        (dir, ws)
    }

    #[test]
    fn resolves_inside_and_refuses_escapes() {
        let (_d, ws) = ws();
        assert!(ws.resolve("src/a.rs").unwrap().ends_with("src/a.rs"));
        assert!(ws.resolve("./src/../src/a.rs").is_ok());
        for bad in ["../etc/passwd", "/etc/passwd", "src/../../x", ""] {
            assert!(ws.resolve(bad).is_err(), "{bad} should be refused");
        }
    }

    #[cfg(unix)]
    #[test]
    fn refuses_symlink_that_escapes() {
        let (d, ws) = ws();
        std::os::unix::fs::symlink("/etc", d.path().join("link")).unwrap();
        let err = ws.resolve("link/passwd").unwrap_err();
        assert!(err.to_string().contains("outside the workspace root"));
    }

    #[test]
    fn output_paths_may_not_exist_yet() {
        let (_d, ws) = ws();
        let p = ws.resolve_output("out/new/data.jsonl").unwrap();
        assert!(p.starts_with(ws.root()));
        assert!(ws.resolve_output("../out.jsonl").is_err());
    }

    #[test]
    fn data_dir_has_its_own_gitignore() {
        let (_d, ws) = ws();
        let text = std::fs::read_to_string(ws.data_dir().join(".gitignore")).unwrap();
        assert!(text.lines().any(|l| l == "*"));
    }

    #[test]
    fn apex_toml_unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("apex.toml"),
            "[search]\nmax_file_sise = 3\n",
        )
        .unwrap();
        let err = Workspace::open(dir.path(), None).unwrap_err();
        assert!(err.to_string().contains("max_file_sise"), "{err}");
    }

    #[test]
    fn runs_max_concurrent_is_read_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path(), None).unwrap();
        assert_eq!(
            ws.config().runs.max_concurrent,
            crate::run::DEFAULT_MAX_CONCURRENT_RUNS
        );
        std::fs::write(dir.path().join("apex.toml"), "[runs]\nmax_concurrent = 3\n").unwrap();
        let ws = Workspace::open(dir.path(), None).unwrap();
        assert_eq!(ws.config().runs.max_concurrent, 3);
        std::fs::write(dir.path().join("apex.toml"), "[runs]\nmax_concurrent = 0\n").unwrap();
        let err = Workspace::open(dir.path(), None).unwrap_err().to_string();
        assert!(
            err.contains("apex.toml") && err.contains("0 is not accepted; accepted: 1 to 1024"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod escape_props {
    use super::*;
    use proptest::prelude::*;

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("..".to_string()),
            Just(".".to_string()),
            Just("src".to_string()),
            Just("link".to_string()),
            Just("a.rs".to_string()),
            Just("".to_string()),
            "[a-z]{1,3}",
        ]
    }

    proptest! {
        /// Whatever a client sends, what resolves lies under the root (or the data dir for
        /// outputs), after `..` and symlinks.
        #[test]
        fn nothing_resolves_outside_the_root(
            segs in proptest::collection::vec(segment(), 0..8),
            absolute in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join("src")).unwrap();
            std::fs::write(dir.path().join("src/a.rs"), "").unwrap();
            #[cfg(unix)]
            std::os::unix::fs::symlink("/tmp", dir.path().join("link")).unwrap();
            let ws = Workspace::open(dir.path(), None).unwrap();
            let joined = segs.join("/");
            let given = if absolute { format!("/{joined}") } else { joined };
            if let Ok(p) = ws.resolve(&given) {
                prop_assert!(p.starts_with(ws.root()), "{given} -> {}", p.display());
            }
            if let Ok(p) = ws.resolve_output(&given) {
                prop_assert!(p.starts_with(ws.root()) || p.starts_with(ws.data_dir()), "{given} -> {}", p.display());
                // and the real location of its existing part is inside too
                let mut existing = p.as_path();
                while !existing.exists() { existing = existing.parent().unwrap(); }
                let real = existing.canonicalize().unwrap();
                prop_assert!(real.starts_with(ws.root()) || real.starts_with(ws.data_dir()));
            }
        }
    }
}
