//! Which runner to start, where, and with which arguments: detection of cargo, pytest, go,
//! jest and vitest from their marker files, and suites declared in `apex.toml`.
//!
//! Every command line is built here from fixed parts plus the client's filter as one
//! argument; nothing a client sends is ever run as a command.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Result, TestRequest, TestRunError, timeout_for};
use apex_core::workspace::Workspace;

/// A test framework, or a suite declared in apex.toml read with one of their formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    Cargo,
    Pytest,
    Go,
    Jest,
    Vitest,
}

impl Framework {
    pub const ALL: [Framework; 5] = [
        Framework::Cargo,
        Framework::Go,
        Framework::Vitest,
        Framework::Jest,
        Framework::Pytest,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Framework::Cargo => "cargo",
            Framework::Pytest => "pytest",
            Framework::Go => "go",
            Framework::Jest => "jest",
            Framework::Vitest => "vitest",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }

    /// The marker files that say a directory holds this framework's tests.
    fn markers(self) -> &'static str {
        match self {
            Framework::Cargo => "Cargo.toml",
            Framework::Pytest => "pyproject.toml, pytest.ini, setup.cfg, conftest.py or test_*.py",
            Framework::Go => "go.mod",
            Framework::Jest => "package.json naming jest",
            Framework::Vitest => "package.json naming vitest",
        }
    }

    /// Whether `dir` holds this framework's tests.
    fn found_in(self, dir: &Path) -> bool {
        match self {
            Framework::Cargo => dir.join("Cargo.toml").is_file(),
            Framework::Go => dir.join("go.mod").is_file(),
            Framework::Jest | Framework::Vitest => {
                let name = self.name();
                std::fs::read_to_string(dir.join("package.json"))
                    .ok()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    .is_some_and(|pkg| {
                        let in_deps = ["dependencies", "devDependencies"]
                            .iter()
                            .any(|k| pkg.get(*k).and_then(|d| d.get(name)).is_some());
                        let in_script = pkg
                            .pointer("/scripts/test")
                            .and_then(|s| s.as_str())
                            .is_some_and(|s| s.split_whitespace().any(|w| w == name));
                        in_deps || in_script
                    })
            }
            Framework::Pytest => {
                ["pytest.ini", "conftest.py"]
                    .iter()
                    .any(|f| dir.join(f).is_file())
                    || ["pyproject.toml", "setup.cfg"].iter().any(|f| {
                        std::fs::read_to_string(dir.join(f))
                            .is_ok_and(|t| t.contains("pytest") || t.contains("[tool:pytest]"))
                    })
                    || std::fs::read_dir(dir).is_ok_and(|rd| {
                        rd.flatten().any(|e| {
                            let n = e.file_name().to_string_lossy().into_owned();
                            n.starts_with("test_") && n.ends_with(".py")
                        })
                    })
            }
        }
    }
}

/// How a runner's output is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// libtest's `test NAME ... ok` lines and failure sections (`cargo test`).
    Libtest,
    /// cargo-nextest's status lines and immediate failure output.
    Nextest,
    /// Netra Apex's pytest plugin (JSON lines on stderr).
    Pytest,
    /// `go test -json`.
    GoJson,
    /// The JSON report of jest (`--json`) or vitest (`--reporter=json`), written to the
    /// report file; vitest's verbose lines stream results meanwhile.
    JsJson,
    /// The same JSON document on the runner's stdout (an apex.toml suite).
    JsJsonStdout,
    /// A JUnit XML file the suite writes, relative to its working directory.
    Junit(String),
    /// Only the exit code.
    Plain,
}

/// Everything needed to start a run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub framework: Framework,
    pub format: Format,
    /// Directory the runner starts in.
    pub dir: PathBuf,
    /// `dir` relative to the root (`.` for the root).
    pub rel_path: String,
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub suite: Option<String>,
    pub filter: Option<String>,
    /// When the runner writes a report file: the file name's suffix under the run's data.
    pub report_file_name: Option<String>,
    /// Other frameworks also found in `dir`, for the caller to choose from.
    pub also_detected: Vec<String>,
}

impl Plan {
    /// What ran, as stored and shown: the framework, or for a suite read from JUnit or by
    /// exit code alone, `junit` or `plain`.
    pub fn label(&self) -> &'static str {
        match (&self.suite, &self.format) {
            (Some(_), Format::Junit(_)) => "junit",
            (Some(_), Format::Plain) => "plain",
            _ => self.framework.name(),
        }
    }
}

/// The plan for a request: a declared suite, else the framework named or detected.
pub fn plan(ws: &Workspace, req: &TestRequest) -> Result<Plan> {
    if let Some(name) = &req.suite {
        return suite_plan(ws, req, name);
    }
    let given = req.path.as_deref().unwrap_or(".");
    let target = ws.resolve(given)?;
    let (start_dir, file) = if target.is_file() {
        let parent = target.parent().unwrap_or(ws.root()).to_path_buf();
        (parent, Some(target.clone()))
    } else {
        (target.clone(), None)
    };
    let wanted = match req.framework.as_deref().map(str::trim) {
        None | Some("") | Some("auto") => None,
        Some(f) => Some(Framework::parse(f).ok_or_else(|| TestRunError::Invalid {
            field: "framework",
            message: format!("`{f}` is not known; use auto, cargo, pytest, go, jest or vitest"),
        })?),
    };
    let candidates: Vec<Framework> = match wanted {
        Some(f) => vec![f],
        None => Framework::ALL.to_vec(),
    };
    // The nearest directory, from the one named up to the root, that holds a framework.
    let mut dir = Some(start_dir.as_path());
    while let Some(d) = dir {
        let found: Vec<Framework> = candidates
            .iter()
            .copied()
            .filter(|f| f.found_in(d))
            .collect();
        if let Some(&first) = found.first() {
            let also = found[1..].iter().map(|f| f.name().to_string()).collect();
            return framework_plan(ws, req, first, d, file.as_deref(), also);
        }
        if d == ws.root() {
            break;
        }
        dir = d.parent().filter(|p| p.starts_with(ws.root()));
    }
    let looked_for = candidates
        .iter()
        .map(|f| format!("{} ({})", f.name(), f.markers()))
        .collect::<Vec<_>>()
        .join(", ");
    Err(TestRunError::NotDetected {
        path: given.to_string(),
        looked_for,
    })
}

fn framework_plan(
    ws: &Workspace,
    req: &TestRequest,
    fw: Framework,
    dir: &Path,
    file: Option<&Path>,
    also_detected: Vec<String>,
) -> Result<Plan> {
    let filter = req.filter.clone();
    let mut env: Vec<(String, String)> = vec![
        ("NO_COLOR".into(), "1".into()),
        ("CARGO_TERM_COLOR".into(), "never".into()),
        ("FORCE_COLOR".into(), "0".into()),
        ("CI".into(), "true".into()),
    ];
    let mut args: Vec<String> = Vec::new();
    let mut report_file_name = None;
    let (program, format) = match fw {
        Framework::Cargo => {
            let cargo = find_program("cargo", &[]).ok_or_else(|| TestRunError::MissingRunner {
                program: "cargo".into(),
                hint: "install Rust (rustup) so that `cargo` is on PATH".into(),
            })?;
            let want_nextest = req.nextest.unwrap_or_else(|| {
                std::env::var("APEX_NEXTEST")
                    .map(|v| v != "0")
                    .unwrap_or(true)
            });
            if want_nextest && find_program("cargo-nextest", &[]).is_some() {
                args.extend(
                    [
                        "nextest",
                        "run",
                        "--no-fail-fast",
                        "--color",
                        "never",
                        "--hide-progress-bar",
                        "--status-level",
                        "all",
                        "--final-status-level",
                        "none",
                        "--failure-output",
                        "immediate",
                        "--success-output",
                        "never",
                        "--no-tests",
                        "pass",
                    ]
                    .map(String::from),
                );
                if let Some(f) = &filter {
                    args.push(f.clone());
                }
                (cargo, Format::Nextest)
            } else {
                args.extend(["test", "--no-fail-fast", "--color", "never"].map(String::from));
                if let Some(f) = &filter {
                    args.push("--".into());
                    args.push(f.clone());
                }
                (cargo, Format::Libtest)
            }
        }
        Framework::Go => {
            let go = find_program("go", &[]).ok_or_else(|| TestRunError::MissingRunner {
                program: "go".into(),
                hint: "install Go so that `go` is on PATH".into(),
            })?;
            args.extend(["test", "-json"].map(String::from));
            if let Some(f) = &filter {
                args.push(format!("-run={f}"));
            }
            args.push("./...".into());
            (go, Format::GoJson)
        }
        Framework::Pytest => {
            let local: Vec<PathBuf> = [dir, ws.root()]
                .iter()
                .flat_map(|d| [d.join(".venv/bin/pytest"), d.join("venv/bin/pytest")])
                .collect();
            let pytest = std::env::var("APEX_PYTEST")
                .ok()
                .filter(|p| Path::new(p).is_file())
                .or_else(|| find_program("pytest", &local))
                .ok_or_else(|| TestRunError::MissingRunner {
                    program: "pytest".into(),
                    hint: "install it (`pip install pytest`, in a .venv of the project or on PATH) or set APEX_PYTEST to its path".into(),
                })?;
            let plugin_dir = install_pytest_plugin(ws)?;
            let pythonpath = match std::env::var("PYTHONPATH") {
                Ok(p) if !p.is_empty() => format!("{}:{p}", plugin_dir.display()),
                _ => plugin_dir.display().to_string(),
            };
            env.push(("PYTHONPATH".into(), pythonpath));
            args.extend(
                [
                    "-p",
                    "apex_pytest_plugin",
                    "-p",
                    "no:cacheprovider",
                    "--color=no",
                ]
                .map(String::from),
            );
            if let Some(f) = &filter {
                args.push("-k".into());
                args.push(f.clone());
            }
            if let Some(file) = file {
                args.push(file.strip_prefix(dir).unwrap_or(file).display().to_string());
            }
            (pytest, Format::Pytest)
        }
        Framework::Jest | Framework::Vitest => {
            let name = fw.name();
            let local: Vec<PathBuf> = dir
                .ancestors()
                .take_while(|d| d.starts_with(ws.root()))
                .map(|d| d.join("node_modules/.bin").join(name))
                .collect();
            let program = local
                .iter()
                .find(|p| p.is_file())
                .map(|p| p.display().to_string())
                .ok_or_else(|| TestRunError::MissingRunner {
                    program: format!("node_modules/.bin/{name}"),
                    hint: format!(
                        "run `npm ci` (or `npm install`) in {} first",
                        ws.relative(dir)
                    ),
                })?;
            report_file_name = Some("report.json".to_string());
            if fw == Framework::Vitest {
                args.extend(
                    [
                        "run",
                        "--reporter=verbose",
                        "--reporter=json",
                        "--outputFile.json=${APEX_REPORT_FILE}",
                    ]
                    .map(String::from),
                );
            } else {
                args.extend(
                    ["--ci", "--json", "--outputFile=${APEX_REPORT_FILE}"].map(String::from),
                );
            }
            if let Some(f) = &filter {
                args.push("-t".into());
                args.push(f.clone());
            }
            if let Some(file) = file {
                args.push(file.strip_prefix(dir).unwrap_or(file).display().to_string());
            }
            (program, Format::JsJson)
        }
    };
    Ok(Plan {
        framework: fw,
        format,
        dir: dir.to_path_buf(),
        rel_path: rel_or_dot(ws, dir),
        program,
        args,
        env,
        timeout: timeout_for(req, None),
        suite: None,
        filter,
        report_file_name,
        also_detected,
    })
}

fn rel_or_dot(ws: &Workspace, dir: &Path) -> String {
    let r = ws.relative(dir);
    if r.is_empty() { ".".into() } else { r }
}

/// A suite from apex.toml: the owner's command, read with the suite's `format`.
fn suite_plan(ws: &Workspace, req: &TestRequest, name: &str) -> Result<Plan> {
    let suites = &ws.config().tests.suites;
    let suite = suites.get(name).ok_or_else(|| TestRunError::UnknownSuite {
        name: name.to_string(),
        known: if suites.is_empty() {
            "none".into()
        } else {
            suites.keys().cloned().collect::<Vec<_>>().join(", ")
        },
    })?;
    let mut words = suite.command.args();
    if words.is_empty() {
        return Err(TestRunError::Invalid {
            field: "suite",
            message: format!("suite `{name}` in apex.toml has an empty command"),
        });
    }
    let dir = match &suite.cwd {
        Some(c) => ws.resolve(c)?,
        None => ws.root().to_path_buf(),
    };
    let program_word = words.remove(0);
    let base = Path::new(&program_word)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let format_name = suite.format.clone().unwrap_or_else(|| {
        let all = std::iter::once(base.as_str())
            .chain(words.iter().map(String::as_str))
            .collect::<Vec<_>>();
        if all.contains(&"nextest") {
            "nextest".into()
        } else if base == "cargo" {
            "libtest".into()
        } else if base == "pytest" || all.windows(2).any(|w| w == ["-m", "pytest"]) {
            "pytest".into()
        } else if base == "go" && all.contains(&"-json") {
            "go".into()
        } else {
            "plain".into()
        }
    });
    let (format, framework) = match format_name.as_str() {
        "libtest" => (Format::Libtest, Framework::Cargo),
        "nextest" => (Format::Nextest, Framework::Cargo),
        "pytest" => (Format::Pytest, Framework::Pytest),
        "go" => (Format::GoJson, Framework::Go),
        "jest" => (Format::JsJsonStdout, Framework::Jest),
        "vitest" => (Format::JsJsonStdout, Framework::Vitest),
        "plain" => (Format::Plain, Framework::Cargo),
        other => match other.strip_prefix("junit:") {
            Some(f) if !f.is_empty() => (Format::Junit(f.to_string()), Framework::Cargo),
            _ => {
                return Err(TestRunError::Invalid {
                    field: "suite",
                    message: format!(
                        "suite `{name}` has format `{other}`; apex.toml accepts libtest, nextest, pytest, go, jest, vitest, junit:<file> or plain"
                    ),
                });
            }
        },
    };
    let mut env: Vec<(String, String)> = vec![("NO_COLOR".into(), "1".into())];
    env.extend(suite.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    if format == Format::Pytest {
        let plugin_dir = install_pytest_plugin(ws)?;
        let pythonpath = match suite
            .env
            .get("PYTHONPATH")
            .cloned()
            .or_else(|| std::env::var("PYTHONPATH").ok())
        {
            Some(p) if !p.is_empty() => format!("{}:{p}", plugin_dir.display()),
            _ => plugin_dir.display().to_string(),
        };
        env.push(("PYTHONPATH".into(), pythonpath));
        let addopts = match suite.env.get("PYTEST_ADDOPTS") {
            Some(a) => format!("{a} -p apex_pytest_plugin"),
            None => "-p apex_pytest_plugin".into(),
        };
        env.push(("PYTEST_ADDOPTS".into(), addopts));
    }
    if let Some(f) = &req.filter {
        match &format {
            Format::Libtest => {
                if !words.iter().any(|w| w == "--") {
                    words.push("--".into());
                }
                words.push(f.clone());
            }
            Format::Nextest => words.push(f.clone()),
            Format::Pytest => words.extend(["-k".to_string(), f.clone()]),
            Format::GoJson => words.push(format!("-run={f}")),
            Format::JsJson | Format::JsJsonStdout => words.extend(["-t".to_string(), f.clone()]),
            Format::Junit(_) | Format::Plain => {
                return Err(TestRunError::Invalid {
                    field: "filter",
                    message: format!(
                        "suite `{name}` has format `{format_name}`, whose runner takes no filter this server knows how to pass; run it without a filter or give the suite a format of libtest, nextest, pytest, go, jest or vitest"
                    ),
                });
            }
        }
    }
    let program = if program_word.contains('/') {
        let p = dir.join(&program_word);
        if !p.is_file() {
            return Err(TestRunError::MissingRunner {
                program: program_word.clone(),
                hint: format!("suite `{name}` names a file that does not exist"),
            });
        }
        p.display().to_string()
    } else {
        find_program(&program_word, &[]).ok_or_else(|| TestRunError::MissingRunner {
            program: program_word.clone(),
            hint: format!("suite `{name}` in apex.toml needs it on PATH"),
        })?
    };
    Ok(Plan {
        framework,
        format,
        dir: dir.clone(),
        rel_path: rel_or_dot(ws, &dir),
        program,
        args: words,
        env,
        timeout: timeout_for(req, suite.timeout),
        suite: Some(name.to_string()),
        filter: req.filter.clone(),
        report_file_name: None,
        also_detected: Vec::new(),
    })
}

/// `name` on PATH (or one of `first`), as a full path.
pub fn find_program(name: &str, first: &[PathBuf]) -> Option<String> {
    if let Some(p) = first.iter().find(|p| is_executable(p)) {
        return Some(p.display().to_string());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
        .map(|p| p.display().to_string())
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

const PYTEST_PLUGIN: &str = include_str!("../../../resources/testrun/apex_pytest_plugin.py");

/// Write the pytest plugin into the data dir (never into the project) and return its dir.
fn install_pytest_plugin(ws: &Workspace) -> Result<PathBuf> {
    let dir = ws.data_dir().join("testrun");
    let file = dir.join("apex_pytest_plugin.py");
    if std::fs::read_to_string(&file).ok().as_deref() != Some(PYTEST_PLUGIN) {
        std::fs::create_dir_all(&dir)?;
        apex_core::files::write_durable(&file, PYTEST_PLUGIN.as_bytes())?;
    }
    Ok(dir)
}
