//! `ferrocache-engine`: runs one cache node.

use clap::Parser;
use mimalloc::MiMalloc;

use ferrocache_engine::config::{Args, Config};

#[global_allocator]
static GLOBAL: ferrocache_engine::memory::Counting<MiMalloc> =
    ferrocache_engine::memory::Counting(MiMalloc);

fn main() -> anyhow::Result<()> {
    ferrocache_engine::memory::installed();
    let args = Args::parse();
    let config = Config::from_args(&args)?;
    ferrocache_engine::logging::init(&config.loglevel);
    ferrocache_engine::server::run(config)
}
