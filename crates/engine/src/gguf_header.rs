//! A bounds-checked walk over a GGUF header before candle parses it. candle's reader already caps
//! string and array lengths, nesting and entry counts, but it divides by `general.alignment`
//! (0 panics), keeps the last of two equal keys, multiplies tensor dimensions without checking
//! and never looks at tensor offsets. This walk reads every length, type and dimension with the
//! file's size as the bound, allocates nothing in proportion to what the file claims, and
//! answers with one sentence naming the first thing wrong.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};

use candle_core::quantized::GgmlDType;

/// GGML_MAX_DIMS.
const MAX_DIMS: u32 = 4;
/// Arrays of arrays are legal but unused by real models; llama.cpp refuses them outright.
const MAX_NESTING: usize = 8;
/// Keys and tensor names are short identifiers (llama.cpp: GGML_MAX_NAME is 64 for tensors).
const MAX_NAME: u64 = 64 * 1024;
const DEFAULT_ALIGNMENT: u64 = 32;

/// Where the tensor data lies and which tensor ends furthest into the file.
#[derive(Debug)]
pub(crate) struct HeaderBounds {
    pub tensor_data_offset: u64,
}

/// Why a header is unusable: `Truncated` when it claims more bytes than the file has.
#[derive(Debug, PartialEq)]
pub(crate) enum HeaderProblem {
    Truncated(String),
    Corrupt(String),
}

type Checked<T> = std::result::Result<T, HeaderProblem>;

/// Walks the header of the GGUF file in `reader` (positioned anywhere; `file_len` bytes long).
pub(crate) fn check(reader: &mut (impl Read + Seek), file_len: u64) -> Checked<HeaderBounds> {
    reader.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut walk = Walk {
        reader,
        file_len,
        pos: 0,
        wide: true,
    };
    walk.check()
}

fn io(err: std::io::Error) -> HeaderProblem {
    HeaderProblem::Corrupt(format!("cannot read the header ({err})"))
}

struct Walk<'a, R> {
    reader: &'a mut R,
    file_len: u64,
    pos: u64,
    /// GGUF v2 and v3 write lengths and dimensions as u64; v1 as u32.
    wide: bool,
}

impl<R: Read + Seek> Walk<'_, R> {
    fn check(&mut self) -> Checked<HeaderBounds> {
        let magic = self.bytes::<4>("the magic")?;
        if &magic != b"GGUF" {
            return Err(HeaderProblem::Corrupt("bad magic".into()));
        }
        let version = self.u32("the version")?;
        self.wide = match version {
            1 => false,
            2 | 3 => true,
            other => {
                return Err(HeaderProblem::Corrupt(format!(
                    "GGUF version {other} is not one this reader knows (1 to 3)"
                )))
            }
        };
        let tensor_count = self.length("the tensor count")?;
        let kv_count = self.length("the metadata count")?;
        // Each metadata entry takes at least 13 bytes and each tensor 24 (v3 widths).
        let least = kv_count
            .saturating_mul(13)
            .saturating_add(tensor_count.saturating_mul(24));
        if least > self.remaining() {
            return Err(HeaderProblem::Truncated(format!(
                "the header declares {kv_count} metadata entries and {tensor_count} tensors, \
                 more than the {} bytes the file has",
                self.file_len
            )));
        }

        let mut keys = HashSet::new();
        let mut alignment = DEFAULT_ALIGNMENT;
        for index in 0..kv_count {
            let key = self.string(&format!("metadata key {index}"), MAX_NAME)?;
            let value_type = self.u32(&format!("the type of {key}"))?;
            if key == "general.alignment" {
                alignment = self.alignment(value_type)?;
            } else {
                self.skip_value(&key, value_type, 0)?;
            }
            if !keys.insert(key.clone()) {
                return Err(HeaderProblem::Corrupt(format!(
                    "metadata key {key} appears twice"
                )));
            }
        }

        let mut names = HashSet::new();
        let mut tensors = Vec::new();
        for index in 0..tensor_count {
            let name = self.string(&format!("tensor name {index}"), MAX_NAME)?;
            let dims = self.u32(&format!("the dimension count of tensor {name}"))?;
            if dims > MAX_DIMS {
                return Err(HeaderProblem::Corrupt(format!(
                    "tensor {name} has {dims} dimensions (at most {MAX_DIMS})"
                )));
            }
            let mut elements: u64 = 1;
            for _ in 0..dims {
                let dim = self.length(&format!("a dimension of tensor {name}"))?;
                elements = elements.checked_mul(dim).ok_or_else(|| {
                    HeaderProblem::Corrupt(format!(
                        "the dimensions of tensor {name} multiply past 2^64"
                    ))
                })?;
            }
            let code = self.u32(&format!("the type of tensor {name}"))?;
            let dtype = dtype(code).ok_or_else(|| {
                HeaderProblem::Corrupt(format!("tensor {name} has an unknown type {code}"))
            })?;
            let offset = self.u64(&format!("the offset of tensor {name}"))?;
            let size = tensor_bytes(&name, elements, dtype)?;
            if !offset.is_multiple_of(alignment) {
                return Err(HeaderProblem::Corrupt(format!(
                    "tensor {name} starts at offset {offset}, not a multiple of the alignment {alignment}"
                )));
            }
            if !names.insert(name.clone()) {
                return Err(HeaderProblem::Corrupt(format!(
                    "tensor {name} appears twice"
                )));
            }
            tensors.push((name, offset, size));
        }

        let tensor_data_offset = self.pos.div_ceil(alignment).saturating_mul(alignment);
        for (name, offset, size) in tensors {
            let end = tensor_data_offset
                .checked_add(offset)
                .and_then(|start| start.checked_add(size))
                .ok_or_else(|| {
                    HeaderProblem::Corrupt(format!("tensor {name} lies past 2^64 bytes"))
                })?;
            if end > self.file_len {
                return Err(HeaderProblem::Truncated(format!(
                    "tensor {name} ends at byte {end} but the file has {} bytes",
                    self.file_len
                )));
            }
        }
        Ok(HeaderBounds { tensor_data_offset })
    }

    fn remaining(&self) -> u64 {
        self.file_len.saturating_sub(self.pos)
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> Checked<[u8; N]> {
        if (N as u64) > self.remaining() {
            return Err(self.ends_early(what));
        }
        let mut buf = [0u8; N];
        self.reader.read_exact(&mut buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                HeaderProblem::Truncated(format!("the header ends early, in {what}"))
            } else {
                io(e)
            }
        })?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn ends_early(&self, what: &str) -> HeaderProblem {
        HeaderProblem::Truncated(format!(
            "the header ends early, in {what} at byte {}",
            self.pos
        ))
    }

    fn skip(&mut self, len: u64, what: &str) -> Checked<()> {
        if len > self.remaining() {
            return Err(HeaderProblem::Truncated(format!(
                "{what} claims {len} bytes but only {} remain in the file",
                self.remaining()
            )));
        }
        // Short skips read through the buffer; a seek would throw the buffer away each time.
        if len <= 64 * 1024 {
            std::io::copy(&mut self.reader.by_ref().take(len), &mut std::io::sink()).map_err(io)?;
        } else {
            self.reader
                .seek(SeekFrom::Current(len as i64))
                .map_err(io)?;
        }
        self.pos += len;
        Ok(())
    }

    fn u32(&mut self, what: &str) -> Checked<u32> {
        Ok(u32::from_le_bytes(self.bytes(what)?))
    }

    fn u64(&mut self, what: &str) -> Checked<u64> {
        Ok(u64::from_le_bytes(self.bytes(what)?))
    }

    fn length(&mut self, what: &str) -> Checked<u64> {
        if self.wide {
            self.u64(what)
        } else {
            self.u32(what).map(u64::from)
        }
    }

    /// A string read in full (keys and names, bounded by `max`).
    fn string(&mut self, what: &str, max: u64) -> Checked<String> {
        let len = self.length(what)?;
        if len > max {
            return Err(HeaderProblem::Corrupt(format!(
                "{what} is {len} bytes long (at most {max})"
            )));
        }
        if len > self.remaining() {
            return Err(HeaderProblem::Truncated(format!(
                "{what} claims {len} bytes but only {} remain in the file",
                self.remaining()
            )));
        }
        let mut buf = vec![0u8; len as usize];
        self.reader.read_exact(&mut buf).map_err(io)?;
        self.pos += len;
        Ok(String::from_utf8_lossy(&buf)
            .trim_end_matches('\0')
            .to_owned())
    }

    /// Steps over one value of `value_type` without keeping it.
    fn skip_value(&mut self, key: &str, value_type: u32, depth: usize) -> Checked<()> {
        if let Some(size) = scalar_size(value_type) {
            return self.skip(size, &format!("the value of {key}"));
        }
        match value_type {
            8 => {
                let len = self.length(&format!("the string length of {key}"))?;
                self.skip(len, &format!("a string of {key}"))
            }
            9 => {
                if depth >= MAX_NESTING {
                    return Err(HeaderProblem::Corrupt(format!(
                        "{key} nests arrays more than {MAX_NESTING} deep"
                    )));
                }
                let item_type = self.u32(&format!("the array type of {key}"))?;
                let len = self.length(&format!("the array length of {key}"))?;
                let least = match (scalar_size(item_type), item_type) {
                    (Some(size), _) => size,
                    (None, 8 | 9) => {
                        if self.wide {
                            8
                        } else {
                            4
                        }
                    }
                    (None, other) => {
                        return Err(HeaderProblem::Corrupt(format!(
                            "{key} is an array of unknown type {other}"
                        )))
                    }
                };
                if len.saturating_mul(least) > self.remaining() {
                    return Err(HeaderProblem::Truncated(format!(
                        "{key} claims {len} elements but only {} bytes remain in the file",
                        self.remaining()
                    )));
                }
                match scalar_size(item_type) {
                    Some(size) => self.skip(len * size, &format!("the array {key}")),
                    None => (0..len).try_for_each(|_| self.skip_value(key, item_type, depth + 1)),
                }
            }
            other => Err(HeaderProblem::Corrupt(format!(
                "{key} has an unknown value type {other}"
            ))),
        }
    }

    /// `general.alignment`: an unsigned 32-bit power of two, as llama.cpp requires.
    fn alignment(&mut self, value_type: u32) -> Checked<u64> {
        let value = match value_type {
            4 => u64::from(self.u32("general.alignment")?),
            other => {
                self.skip_value("general.alignment", other, 0)?;
                return Err(HeaderProblem::Corrupt(format!(
                    "general.alignment has value type {other}, not u32"
                )));
            }
        };
        if value == 0 || !value.is_power_of_two() {
            return Err(HeaderProblem::Corrupt(format!(
                "general.alignment is {value}, not a power of two"
            )));
        }
        Ok(value)
    }
}

/// Bytes of a fixed-size GGUF value type (u8..f64, bool); `None` for strings, arrays, unknowns.
fn scalar_size(value_type: u32) -> Option<u64> {
    match value_type {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// ggml's type codes that candle reads (ggml.h's `ggml_type`).
fn dtype(code: u32) -> Option<GgmlDType> {
    Some(match code {
        0 => GgmlDType::F32,
        1 => GgmlDType::F16,
        2 => GgmlDType::Q4_0,
        3 => GgmlDType::Q4_1,
        6 => GgmlDType::Q5_0,
        7 => GgmlDType::Q5_1,
        8 => GgmlDType::Q8_0,
        9 => GgmlDType::Q8_1,
        10 => GgmlDType::Q2K,
        11 => GgmlDType::Q3K,
        12 => GgmlDType::Q4K,
        13 => GgmlDType::Q5K,
        14 => GgmlDType::Q6K,
        15 => GgmlDType::Q8K,
        30 => GgmlDType::BF16,
        _ => return None,
    })
}

fn tensor_bytes(name: &str, elements: u64, dtype: GgmlDType) -> Checked<u64> {
    let block = dtype.block_size() as u64;
    if !elements.is_multiple_of(block) {
        return Err(HeaderProblem::Corrupt(format!(
            "tensor {name} has {elements} elements, not a multiple of its block size {block}"
        )));
    }
    (elements / block)
        .checked_mul(dtype.type_size() as u64)
        .ok_or_else(|| HeaderProblem::Corrupt(format!("tensor {name} needs more than 2^64 bytes")))
}
