//! Writes the CRDs generated from the API types to `crds/` and to the Helm chart's
//! `charts/ferrocache-operator/crds/` (or prints them with `--stdout`).
//!
//! `cargo run --bin crdgen` from the repository root refreshes the committed files; tests fail when either copy is
//! stale.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// Generates the CustomResourceDefinitions of Ferrocache (CacheCluster, CacheParameterGroup).
#[derive(Debug, Parser)]
#[command(name = "crdgen", version)]
struct Args {
    /// Print the CRDs as one YAML stream instead of writing `crds/` and the chart's `crds/`.
    #[arg(long)]
    stdout: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let files = ferrocache_operator::api::crd_files().context("rendering the CRDs")?;
    if args.stdout {
        for file in &files {
            print!("---\n{}", file.yaml);
        }
        return Ok(());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for dir in [
        root.join("crds"),
        root.join("charts/ferrocache-operator/crds"),
    ] {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for file in &files {
            let path = dir.join(&file.file_name);
            std::fs::write(&path, &file.yaml)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
