//! The assistant a question set is asked through: the user's settings and models, over a library
//! of its own (a data directory under `eval/libraries/`), so the user's library is never touched.

use std::path::Path;

use almanac_core::{Assistant, Paths};

use crate::error::{Error, Result};
use crate::EvalDir;

use super::QaSet;

/// Opens (creating it the first time) the assistant for `set`.
pub fn open_for_set(paths: &Paths, set: &QaSet) -> Result<Assistant> {
    let eval_dir = EvalDir::in_data_dir(&paths.data_dir);
    let data_dir = super::library_dir(&eval_dir.libraries(), set);
    std::fs::create_dir_all(&data_dir).map_err(Error::io(&data_dir))?;
    copy_settings(&paths.settings_file(), &data_dir.join("settings.json"))?;
    let own = Paths {
        data_dir,
        models_dir: paths.models_dir.clone(),
    };
    Ok(Assistant::open(own)?)
}

/// The user's settings (chat model, embedder, sources, backend) apply to the evaluation too.
fn copy_settings(from: &Path, to: &Path) -> Result<()> {
    match std::fs::read(from) {
        Ok(bytes) => std::fs::write(to, bytes).map_err(Error::io(to)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::remove_file(to) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(to)(e)),
        },
        Err(e) => Err(Error::io(from)(e)),
    }
}
