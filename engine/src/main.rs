//! `ferrocache-engine`: runs one cache node.

use clap::Parser;
use mimalloc::MiMalloc;

use ferrocache_engine::config::{Args, Config};

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config::from_args(&args)?;
    ferrocache_engine::logging::init(&config.loglevel);
    ferrocache_engine::server::run(config)
}
