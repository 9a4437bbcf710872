//! Opens a GGUF file and checks it before candle reads any tensor, so that a missing, foreign,
//! truncated, corrupt or hostile file gives a one-line error that names it (the header's bounds
//! in `gguf_header`).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use candle_core::quantized::gguf_file::Content;

use crate::error::{Error, Result};
use crate::gguf_header::{self, HeaderProblem};
use crate::gguf_metadata as md;

const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// A GGUF file whose header parsed and whose tensors all lie inside the file.
pub(crate) struct CheckedGguf {
    pub content: Content,
    pub reader: BufReader<File>,
    /// The file as it was when opened, to notice a change while its tensors are read.
    pub opened: FileStamp,
}

/// Length and modification time of an open file. The weights are read into memory (no mmap), so
/// a file replaced or cut short after loading changes nothing; one written over while its tensors
/// are read would give a mix of two files, which this notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    pub(crate) fn of(file: &File) -> std::io::Result<FileStamp> {
        let meta = file.metadata()?;
        Ok(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }

    /// `Err` (naming the file and both lengths) if `file` is no longer as it was when opened.
    pub(crate) fn check(&self, path: &Path, file: &File) -> Result<()> {
        match FileStamp::of(file) {
            Ok(now) if now == *self => Ok(()),
            Ok(now) => Err(Error::ChangedWhileLoading {
                path: path.to_path_buf(),
                before: self.len,
                after: now.len,
            }),
            Err(err) => Err(Error::Io {
                path: path.to_path_buf(),
                reason: err.to_string(),
            }),
        }
    }
}

pub(crate) fn open(path: &Path) -> Result<CheckedGguf> {
    let io_error = |err: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        reason: err.to_string(),
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::ModelNotFound {
                path: path.to_path_buf(),
            })
        }
        Err(err) => return Err(io_error(err)),
    };
    let opened = FileStamp::of(&file).map_err(io_error)?;
    let file_len = opened.len;
    if file.metadata().map_err(io_error)?.is_dir() {
        return Err(Error::Io {
            path: path.to_path_buf(),
            reason: "it is a directory".into(),
        });
    }
    let mut reader = BufReader::new(file);

    let mut magic = [0u8; 4];
    let read = read_up_to(&mut reader, &mut magic).map_err(io_error)?;
    if read < magic.len() || &magic != GGUF_MAGIC {
        return Err(Error::NotGguf {
            path: path.to_path_buf(),
        });
    }
    // Our own bounded walk first: candle's reader panics or misreads on some hostile headers.
    let bounds = gguf_header::check(&mut reader, file_len).map_err(|problem| match problem {
        HeaderProblem::Truncated(detail) => Error::Truncated {
            path: path.to_path_buf(),
            detail,
        },
        HeaderProblem::Corrupt(detail) => Error::Corrupt {
            path: path.to_path_buf(),
            detail,
        },
    })?;
    use std::io::Seek;
    reader.rewind().map_err(io_error)?;

    let content = Content::read(&mut reader).map_err(|err| header_error(path, err))?;
    if content.tensor_data_offset != bounds.tensor_data_offset {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            detail: format!(
                "the tensor data starts at byte {} or {}, depending on the reader",
                bounds.tensor_data_offset, content.tensor_data_offset
            ),
        });
    }
    Ok(CheckedGguf {
        content,
        reader,
        opened,
    })
}

/// The header of a GGUF file (metadata and tensor list, no weights) after the same bounded
/// checks as loading it: for code that only looks at a model file (memory estimates, the model
/// list), which would otherwise hand a hostile header to candle's reader unchecked.
pub fn read_checked_header(path: &Path) -> Result<Content> {
    open(path).map(|checked| checked.content)
}

/// Fails unless `general.architecture` is "llama" (the one candle's `quantized_llama` runs).
pub(crate) fn require_llama(path: &Path, content: &Content) -> Result<()> {
    match md::string(content, "general.architecture") {
        Some("llama") => Ok(()),
        Some(other) => Err(Error::UnsupportedArchitecture {
            path: path.to_path_buf(),
            architecture: other.to_string(),
        }),
        None => Err(Error::Corrupt {
            path: path.to_path_buf(),
            detail: "general.architecture is missing".into(),
        }),
    }
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// A header that ends early is a truncated file; anything else that fails to parse is corrupt.
fn header_error(path: &Path, err: candle_core::Error) -> Error {
    let detail = crate::error::one_line(&err);
    let eof = matches!(&err, candle_core::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof)
        || detail.contains("remaining")
        || detail.contains("fill whole buffer");
    if eof {
        Error::Truncated {
            path: path.to_path_buf(),
            detail: format!("the header ends early ({detail})"),
        }
    } else {
        Error::Corrupt {
            path: path.to_path_buf(),
            detail: format!("bad header ({detail})"),
        }
    }
}
