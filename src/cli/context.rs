//! `netra-apex context export|import`: context bundles as JSON files, for git.

use std::path::PathBuf;

use anyhow::Context;
use apex_core::workspace::Workspace;
use apex_store::Store;

use super::Place;

#[derive(clap::Subcommand)]
pub enum ContextCommand {
    /// Write a bundle as JSON (stable, pretty) to FILE or stdout.
    Export {
        /// The bundle's name.
        name: String,
        /// Write here instead of stdout (written atomically).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Export this version instead of the newest.
        #[arg(long)]
        version: Option<u32>,
    },
    /// Read a bundle file made by `context export`; it lands as a new version.
    Import {
        /// The JSON file.
        file: PathBuf,
        /// Import under this name instead of the one in the file.
        #[arg(long)]
        name: Option<String>,
    },
}

pub fn run(at: &Place<'_>, action: ContextCommand) -> anyhow::Result<()> {
    let ws = Workspace::open(at.root, at.data_dir)?;
    let store = Store::open(&ws.db_path())?;
    match action {
        ContextCommand::Export { name, out, version } => {
            let json = apex_context::export(&store, &name, version)?;
            match out {
                None => print!("{json}"),
                Some(path) => {
                    apex_core::files::write_durable(&path, json.as_bytes())
                        .map_err(|e| write_error(&path, &e))?;
                    eprintln!("exported context `{name}` to {}", path.display());
                }
            }
        }
        ContextCommand::Import { file, name } => {
            let json = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let out = apex_context::import(&store, &json, name.as_deref())?;
            println!(
                "imported context `{}` as version {} ({} items)",
                out.name, out.version, out.items
            );
            for r in &out.redactions {
                println!("redacted {} {} ({})", r.count, r.kind, r.places.join(", "));
            }
        }
    }
    Ok(())
}

/// A failed write, said once: the path, what failed and, for a disk fault, what to do.
fn write_error(path: &std::path::Path, e: &std::io::Error) -> anyhow::Error {
    match apex_core::files::DiskFault::of(e) {
        Some(fault) => anyhow::anyhow!(
            "cannot write {}: {} ({e}); {}",
            path.display(),
            fault.label(),
            fault.remedy(path.parent().unwrap_or(path))
        ),
        None => anyhow::anyhow!("cannot write {}: {e}", path.display()),
    }
}
