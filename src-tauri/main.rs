// No console window on Windows in release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

/// See docs/decisions/0003-embedding-speed.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Documents are parsed in worker processes that are this same program (almanac_core::Parser).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "parse-worker")
    {
        std::process::exit(almanac_core::run_parse_worker());
    }
    almanac_desktop::run();
}
