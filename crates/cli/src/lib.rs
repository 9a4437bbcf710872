//! The parts of the `almanac` command line that are more than argument handling: the HTTP server
//! (`almanac serve`) and the generation-backend options it shares with `ask` and `chat`. A library
//! so that the fuzz target (fuzz/fuzz_targets/http_api.rs) drives the real router in process.

pub mod backend;
pub mod serve;

use almanac_core::Assistant;

/// `--allow-host` entries join the allow-list for this run (not saved).
pub fn allow_hosts(assistant: &Assistant, allow: &[String]) {
    if !allow.is_empty() {
        assistant.update_settings(|s| s.web_allow.extend(allow.iter().cloned()));
    }
}
