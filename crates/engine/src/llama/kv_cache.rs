//! Keys and values of every position seen so far, allocated once for the whole context window
//! (zeroed pages are only backed by memory once written). Keys are stored transposed per head
//! (`[dim][position]`), so attention scores eight positions at once with plain multiply-adds and
//! no horizontal sums; values row by row (`[position][dim]`), which is how they are summed.
//! Values are rounded to f16 precision on the way in, as llama.cpp's f16 cache does, so greedy
//! answers follow its tokens.

use super::ops::round_f16;
use crate::error::{Error, Result};

/// Positions are padded to a multiple of this, so a score block never reads past a row.
pub(crate) const KEY_BLOCK: usize = 8;

pub(crate) struct KvCache {
    keys_t: Vec<f32>,
    values: Vec<f32>,
    /// Positions filled.
    len: usize,
    capacity: usize,
    /// `capacity` rounded up to `KEY_BLOCK`: the stride of a transposed key row.
    stride: usize,
    kv_heads: usize,
    head_dim: usize,
}

/// One head's keys (transposed, rows `stride` apart) and values, for `len` positions.
pub(crate) struct HeadView<'a> {
    pub keys_t: &'a [f32],
    pub stride: usize,
    pub values: &'a [f32],
}

impl KvCache {
    pub fn new(layers: usize, kv_heads: usize, head_dim: usize, capacity: usize) -> KvCache {
        let stride = capacity.next_multiple_of(KEY_BLOCK);
        let size = layers * kv_heads * stride * head_dim;
        KvCache {
            keys_t: vec![0.0; size],
            values: vec![0.0; size],
            len: 0,
            capacity,
            stride,
            kv_heads,
            head_dim,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Forgets every position from `len` on.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Fails unless `more` positions fit after the filled ones.
    pub fn check_room(&self, more: usize) -> Result<()> {
        if self.len + more > self.capacity {
            return Err(Error::ContextOverflow {
                tokens: self.len + more,
                limit: self.capacity,
            });
        }
        Ok(())
    }

    fn head_offset(&self, layer: usize, kv_head: usize) -> usize {
        (layer * self.kv_heads + kv_head) * self.stride * self.head_dim
    }

    /// Stores the keys and values of new tokens (rows of `kv_heads * head_dim`) of one layer at
    /// positions `len..`; `commit` makes them part of the cache once every layer has them.
    pub fn write(&mut self, layer: usize, keys: &[f32], values: &[f32]) {
        let (hd, row) = (self.head_dim, self.kv_heads * self.head_dim);
        for (t, (k, v)) in keys
            .chunks_exact(row)
            .zip(values.chunks_exact(row))
            .enumerate()
        {
            let pos = self.len + t;
            for head in 0..self.kv_heads {
                let base = self.head_offset(layer, head);
                for (d, &key) in k[head * hd..(head + 1) * hd].iter().enumerate() {
                    self.keys_t[base + d * self.stride + pos] = round_f16(key);
                }
                let at = base + pos * hd;
                for (dst, &value) in self.values[at..at + hd].iter_mut().zip(&v[head * hd..]) {
                    *dst = round_f16(value);
                }
            }
        }
    }

    /// Marks `n` written positions as filled.
    pub fn commit(&mut self, n: usize) {
        self.len += n;
    }

    /// One head of one layer, for the first `n` positions (`n` may include positions written
    /// but not yet committed).
    pub fn head(&self, layer: usize, kv_head: usize, n: usize) -> HeadView<'_> {
        let base = self.head_offset(layer, kv_head);
        let size = self.stride * self.head_dim;
        HeadView {
            keys_t: &self.keys_t[base..base + size],
            stride: self.stride,
            values: &self.values[base..base + n * self.head_dim],
        }
    }
}
