//! A settings file (settings.json in the data folder) through `Settings::load`, which the app, the
//! command line and the evaluations call at start: any bytes must load or give the one-line error
//! naming the file, never a panic. Settings that load must also save and load back the same
//! (the app rewrites the file whenever a setting changes).
#![no_main]

use almanac_core::Settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thread_local! {
        // One folder per fuzzing process, in $TMPDIR (scripts/fuzz.sh: a scratch folder it removes).
        static DIR: tempfile::TempDir = tempfile::Builder::new()
            .prefix("almanac-fuzz-settings")
            .tempdir()
            .unwrap();
    }
    DIR.with(|dir| {
        let path = dir.path().join("settings.json");
        std::fs::write(&path, data).unwrap();
        let Ok(settings) = Settings::load(&path) else {
            return;
        };
        let _ = settings.answer_context_length();
        settings.save(&path).unwrap();
        let again = Settings::load(&path).unwrap();
        assert_eq!(
            serde_json::to_value(&settings).unwrap(),
            serde_json::to_value(&again).unwrap()
        );
    });
});
