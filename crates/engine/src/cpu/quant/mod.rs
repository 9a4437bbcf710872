//! Weight block formats (GGML's byte layouts) and the 8-bit activation formats they are
//! multiplied with. Each weight type's module (`q4_0`, `q4_1`, `q5_0`, ...) decodes its GGML blocks;
//! `packed` describes the row-interleaved layout `QMatrix` keeps them in, `int8_gemm` the integer
//! kernels over that layout and `float_gemm` the F32/F16 ones.

pub(crate) mod act_quant;
pub(crate) mod float_gemm;
pub(crate) mod int8_gemm;
pub(crate) mod kquant;
pub(crate) mod kquant_bench;
#[cfg(target_arch = "aarch64")]
pub(crate) mod kquant_neon;
#[cfg(target_arch = "x86_64")]
pub(crate) mod kquant_x86;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
pub(crate) mod packed;
pub(crate) mod q4_0;
pub(crate) mod q4_1;
pub(crate) mod q4_k;
pub(crate) mod q5_0;
pub(crate) mod q5_1;
pub(crate) mod q5_k;
pub(crate) mod q6_k;
pub(crate) mod q8_0;
pub(crate) mod q8_k;

use candle_core::quantized::GgmlDType;
use half::f16;
use std::marker::PhantomData;

/// A weight tensor's element type, as stored in a GGUF file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum WeightType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
}

/// The form activations take for a weight type's kernels; types in one family share a
/// quantized input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ActFamily {
    /// Plain f32 values (F32 and F16 weights).
    F32,
    /// GGML Q8_0 blocks (Q4_0, Q5_0 and Q8_0 weights).
    Q8_0,
    /// GGML Q8_1 blocks (Q4_1 and Q5_1 weights).
    Q8_1,
    /// GGML Q8_K blocks (the K-quants).
    Q8K,
}

impl WeightType {
    pub(crate) fn from_ggml(dtype: GgmlDType) -> Option<WeightType> {
        Some(match dtype {
            GgmlDType::F32 => WeightType::F32,
            GgmlDType::F16 => WeightType::F16,
            GgmlDType::Q4_0 => WeightType::Q4_0,
            GgmlDType::Q4_1 => WeightType::Q4_1,
            GgmlDType::Q5_0 => WeightType::Q5_0,
            GgmlDType::Q5_1 => WeightType::Q5_1,
            GgmlDType::Q8_0 => WeightType::Q8_0,
            GgmlDType::Q4K => WeightType::Q4K,
            GgmlDType::Q5K => WeightType::Q5K,
            GgmlDType::Q6K => WeightType::Q6K,
            _ => return None,
        })
    }

    /// Values per block.
    pub(crate) fn block_len(self) -> usize {
        match self {
            WeightType::F32 | WeightType::F16 => 1,
            WeightType::Q4_0
            | WeightType::Q4_1
            | WeightType::Q5_0
            | WeightType::Q5_1
            | WeightType::Q8_0 => 32,
            WeightType::Q4K | WeightType::Q5K | WeightType::Q6K => 256,
        }
    }

    /// Bytes per block in GGML's layout.
    pub(crate) fn block_bytes(self) -> usize {
        match self {
            WeightType::F32 => 4,
            WeightType::F16 => 2,
            WeightType::Q4_0 => 18,
            WeightType::Q4_1 => 20,
            WeightType::Q5_0 => q5_0::BLOCK_BYTES,
            WeightType::Q5_1 => q5_1::BLOCK_BYTES,
            WeightType::Q8_0 => 34,
            WeightType::Q4K => 144,
            WeightType::Q5K => 176,
            WeightType::Q6K => 210,
        }
    }

    /// Bytes of one row of `cols` values, or None when `cols` is not a whole number of blocks.
    pub(crate) fn row_bytes(self, cols: usize) -> Option<usize> {
        cols.is_multiple_of(self.block_len())
            .then(|| cols / self.block_len() * self.block_bytes())
    }

    pub(crate) fn act_family(self) -> ActFamily {
        match self {
            WeightType::F32 | WeightType::F16 => ActFamily::F32,
            WeightType::Q4_0 | WeightType::Q5_0 | WeightType::Q8_0 => ActFamily::Q8_0,
            WeightType::Q4_1 | WeightType::Q5_1 => ActFamily::Q8_1,
            WeightType::Q4K | WeightType::Q5K | WeightType::Q6K => ActFamily::Q8K,
        }
    }
}

/// GGML's `block_q8_0`: 32 values `qs[i] * d`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
pub(crate) struct BlockQ8_0 {
    pub d: f16,
    pub qs: [i8; 32],
}

/// GGML's `block_q8_1`: 32 values `qs[i] * d`, and `s = d * sum(qs)` for the weights' minimum.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
pub(crate) struct BlockQ8_1 {
    pub d: f16,
    pub s: f16,
    pub qs: [i8; 32],
}

/// Values per activation block of the 8-bit formats above.
pub(crate) const QK8: usize = 32;

/// Rows of Q8_0 activation blocks with the per-block numbers the kernels read directly.
#[derive(Clone, Copy)]
pub(crate) struct ActsQ8_0<'a> {
    pub blocks: &'a [BlockQ8_0],
    /// `blocks[i].d` as f32.
    pub d: &'a [f32],
    /// `sum(blocks[i].qs)`.
    pub sums: &'a [i32],
}

/// Rows of Q8_1 activation blocks with the per-block numbers the kernels read directly.
#[derive(Clone, Copy)]
pub(crate) struct ActsQ8_1<'a> {
    pub blocks: &'a [BlockQ8_1],
    /// `blocks[i].d` as f32.
    pub d: &'a [f32],
    /// `blocks[i].s` as f32.
    pub s: &'a [f32],
}

/// The bytes of GGML blocks (plain `repr(C)` structs of f16 and i8, without padding).
pub(crate) fn block_bytes_of<T: Copy>(blocks: &[T]) -> &[u8] {
    // SAFETY: only used with BlockQ8_0/BlockQ8_1, whose every byte is initialised.
    unsafe { std::slice::from_raw_parts(blocks.as_ptr().cast(), std::mem::size_of_val(blocks)) }
}

pub(crate) fn f16_bits_to_f32(bits: u16) -> f32 {
    f16::from_bits(bits).to_f32()
}

pub(crate) fn read_f16(bytes: &[u8], at: usize) -> f32 {
    f16_bits_to_f32(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

/// Where a kernel writes its results: element `(t, r)` at `t * ldo + r`. Several kernels may
/// write disjoint elements of one output buffer at the same time, so this is a raw pointer with
/// checked bounds rather than a `&mut [f32]`.
#[derive(Clone, Copy)]
pub(crate) struct OutTile<'a> {
    ptr: *mut f32,
    ldo: usize,
    n_tok: usize,
    n_rows: usize,
    _buffer: PhantomData<&'a mut [f32]>,
}

impl<'a> OutTile<'a> {
    #[cfg(test)]
    pub(crate) fn new(out: &'a mut [f32], ldo: usize, n_tok: usize, n_rows: usize) -> Self {
        assert!(n_rows <= ldo || n_tok <= 1, "rows of the output overlap");
        assert!(
            n_tok == 0 || (n_tok - 1) * ldo + n_rows <= out.len(),
            "output too short"
        );
        OutTile {
            ptr: out.as_mut_ptr(),
            ldo,
            n_tok,
            n_rows,
            _buffer: PhantomData,
        }
    }

    /// # Safety
    /// `ptr` must be valid for writes at `t * ldo + r` for every `t < n_tok`, `r < n_rows`
    /// during `'a`, and nobody else may access those elements meanwhile.
    pub(crate) unsafe fn from_raw(ptr: *mut f32, ldo: usize, n_tok: usize, n_rows: usize) -> Self {
        OutTile {
            ptr,
            ldo,
            n_tok,
            n_rows,
            _buffer: PhantomData,
        }
    }

    pub(crate) fn n_tok(&self) -> usize {
        self.n_tok
    }

    pub(crate) fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// The tile of tokens `t0..t0 + n_tok` and rows `r0..r0 + n_rows` of this one.
    #[cfg(test)]
    pub(crate) fn sub(self, t0: usize, n_tok: usize, r0: usize, n_rows: usize) -> OutTile<'a> {
        assert!(
            t0 + n_tok <= self.n_tok && r0 + n_rows <= self.n_rows,
            "sub-tile out of range"
        );
        // SAFETY: inside this tile's range, which the caller of `new`/`from_raw` vouched for.
        unsafe { OutTile::from_raw(self.ptr.add(t0 * self.ldo + r0), self.ldo, n_tok, n_rows) }
    }

    pub(crate) fn set(&self, t: usize, r: usize, value: f32) {
        assert!(
            t < self.n_tok && r < self.n_rows,
            "output index out of range"
        );
        // SAFETY: in range (checked above).
        unsafe { *self.ptr.add(t * self.ldo + r) = value }
    }

    /// The address of `(t, r)`; writing `n` values from it is valid while `r + n <= n_rows()`.
    pub(crate) fn ldo(&self) -> usize {
        self.ldo
    }

    pub(crate) fn ptr_at(&self, t: usize, r: usize) -> *mut f32 {
        debug_assert!(t < self.n_tok && r < self.n_rows);
        self.ptr.wrapping_add(t * self.ldo + r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes_match_ggml() {
        assert_eq!(std::mem::size_of::<BlockQ8_0>(), 34);
        assert_eq!(std::mem::size_of::<BlockQ8_1>(), 36);
        assert_eq!(WeightType::Q4_1.row_bytes(576), Some(18 * 20));
        assert_eq!(WeightType::Q6K.row_bytes(576), None);
        assert_eq!(
            WeightType::from_ggml(GgmlDType::Q8_0),
            Some(WeightType::Q8_0)
        );
        assert_eq!(
            WeightType::from_ggml(GgmlDType::Q5_0),
            Some(WeightType::Q5_0)
        );
        assert_eq!(
            WeightType::from_ggml(GgmlDType::Q5_1),
            Some(WeightType::Q5_1)
        );
        for ty in [WeightType::Q5_0, WeightType::Q5_1] {
            let dtype = if ty == WeightType::Q5_0 {
                GgmlDType::Q5_0
            } else {
                GgmlDType::Q5_1
            };
            assert_eq!(ty.block_bytes(), dtype.type_size());
            assert_eq!(ty.block_len(), dtype.block_size());
        }
        assert_eq!(WeightType::Q5_0.row_bytes(576), Some(18 * 22));
        assert_eq!(WeightType::from_ggml(GgmlDType::Q2K), None);
    }

    #[test]
    fn out_tile_rejects_writes_outside_its_range() {
        let mut buf = vec![0f32; 10];
        let tile = OutTile::new(&mut buf, 5, 2, 3);
        tile.sub(1, 1, 1, 2).set(0, 1, 7.0);
        assert!(
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tile.set(0, 3, 1.0))).is_err()
        );
        assert_eq!(buf[5 + 2], 7.0);
    }
}
