//! Keys and values of every position seen so far, allocated once for the whole context window
//! (zeroed pages are only backed by memory once written), laid out per layer and key/value head
//! so that attention reads each head's rows contiguously.

use crate::error::{Error, Result};

pub(crate) struct KvCache {
    keys: Vec<f32>,
    values: Vec<f32>,
    /// Positions filled.
    len: usize,
    capacity: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl KvCache {
    pub fn new(layers: usize, kv_heads: usize, head_dim: usize, capacity: usize) -> KvCache {
        let size = layers * kv_heads * capacity * head_dim;
        KvCache {
            keys: vec![0.0; size],
            values: vec![0.0; size],
            len: 0,
            capacity,
            kv_heads,
            head_dim,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn capacity(&self) -> usize {
        self.capacity
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

    fn offset(&self, layer: usize, kv_head: usize, pos: usize) -> usize {
        ((layer * self.kv_heads + kv_head) * self.capacity + pos) * self.head_dim
    }

    /// Stores the keys and values of `n` new tokens (rows of `kv_heads * head_dim`) of one layer
    /// at positions `len..len + n`. `commit` makes them part of the cache once all layers have them.
    pub fn write(&mut self, layer: usize, keys: &[f32], values: &[f32]) {
        let row = self.kv_heads * self.head_dim;
        for (t, (k, v)) in keys
            .chunks_exact(row)
            .zip(values.chunks_exact(row))
            .enumerate()
        {
            for head in 0..self.kv_heads {
                let at = self.offset(layer, head, self.len + t);
                let from = head * self.head_dim..(head + 1) * self.head_dim;
                for (dst, &src) in self.keys[at..at + self.head_dim]
                    .iter_mut()
                    .zip(&k[from.clone()])
                {
                    *dst = half::f16::from_f32(src).to_f32();
                }
                for (dst, &src) in self.values[at..at + self.head_dim].iter_mut().zip(&v[from]) {
                    *dst = half::f16::from_f32(src).to_f32();
                }
            }
        }
    }

    /// Marks `n` written positions as filled.
    pub fn commit(&mut self, n: usize) {
        self.len += n;
    }

    /// The first `n` positions' keys and values of one head in one layer.
    pub fn head(&self, layer: usize, kv_head: usize, n: usize) -> (&[f32], &[f32]) {
        let at = self.offset(layer, kv_head, 0);
        let end = at + n * self.head_dim;
        (&self.keys[at..end], &self.values[at..end])
    }
}
