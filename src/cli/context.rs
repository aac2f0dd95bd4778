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
                    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
                    std::fs::write(&tmp, &json)
                        .with_context(|| format!("cannot write {}", tmp.display()))?;
                    std::fs::rename(&tmp, &path)
                        .with_context(|| format!("cannot write {}", path.display()))?;
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
