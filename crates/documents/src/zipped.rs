//! Reading entries of a zip container (DOCX, EPUB) within an unpacked-bytes budget: the sizes an
//! archive declares can lie, so bytes are counted as they are inflated.

use std::io::{Cursor, Read};
use std::path::Path;

use crate::{Error, Format, Result};

pub(crate) struct Zipped<'a> {
    archive: zip::ZipArchive<Cursor<&'a [u8]>>,
    path: &'a Path,
    format: Format,
    budget: u64,
    limit: u64,
}

impl<'a> Zipped<'a> {
    pub(crate) fn open(
        path: &'a Path,
        bytes: &'a [u8],
        format: Format,
        limit: u64,
    ) -> Result<Zipped<'a>> {
        let archive = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| Error::malformed(path, format, e))?;
        Ok(Zipped {
            archive,
            path,
            format,
            budget: limit,
            limit,
        })
    }

    /// The entry as text, `None` when there is no such entry.
    pub(crate) fn text(&mut self, name: &str) -> Result<Option<String>> {
        let mut entry = match self.archive.by_name(name) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => {
                return Err(Error::malformed(
                    self.path,
                    self.format,
                    format!("{name}: {e}"),
                ))
            }
        };
        let mut out = Vec::new();
        let read = (&mut entry)
            .take(self.budget + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::malformed(self.path, self.format, format!("{name}: {e}")))?;
        if read as u64 > self.budget {
            return Err(Error::TooMuchUnpacked {
                path: self.path.into(),
                limit: self.limit,
            });
        }
        self.budget -= read as u64;
        let text = String::from_utf8(out).map_err(|_| {
            Error::malformed(self.path, self.format, format!("{name} is not UTF-8 XML"))
        })?;
        Ok(Some(text))
    }

    pub(crate) fn require(&mut self, name: &str) -> Result<String> {
        self.text(name)?
            .ok_or_else(|| Error::malformed(self.path, self.format, format!("no {name} inside")))
    }
}
