//! The BERT encoder of the sentence embedder, on our own f32 kernels (`cpu::f32_gemm`).
//!
//! Sequences are never padded: the tokens of every sequence in a batch are stacked into one matrix
//! for the dense layers, and attention runs per sequence and head at that sequence's own length.
//! Bias is added inside the matrix product, residual connections are accumulated into the hidden
//! state by it, the attention scale is folded into the query weights at load, and every buffer
//! lives in a `Scratch` that is reused from batch to batch.

mod ops;
mod weights;

use crate::cpu::f32_gemm::{gemm, Panels, Rows, Write};
use crate::cpu::Isa;

pub(crate) use weights::{BertConfig, BertWeights};

/// Buffers of one forward pass; they grow to the largest batch seen and are then reused.
#[derive(Default)]
pub(crate) struct Scratch {
    hidden: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    intermediate: Vec<f32>,
    scores: Vec<f32>,
    keys: Panels,
    values: Panels,
}

fn grow(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

fn rows(data: &[f32], stride: usize, rows: usize) -> Rows<'_> {
    Rows { data, stride, rows }
}

impl BertWeights {
    /// One L2-normalised mean-pooled vector per sequence of token ids (each at most
    /// `max_position_embeddings` long, [CLS] and [SEP] included).
    pub(crate) fn embed(
        &self,
        isa: Isa,
        sequences: &[Vec<u32>],
        scratch: &mut Scratch,
    ) -> Vec<Vec<f32>> {
        let c = &self.config;
        let (h, inter) = (c.hidden_size, c.intermediate_size);
        let total: usize = sequences.iter().map(Vec::len).sum();
        let Scratch {
            hidden,
            qkv,
            context,
            intermediate,
            scores,
            keys,
            values,
        } = scratch;
        let hidden = grow(hidden, total * h);
        let qkv = grow(qkv, total * 3 * h);
        let context = grow(context, total * h);
        let intermediate = grow(intermediate, total * inter);

        let mut row = 0;
        for ids in sequences {
            for (position, &id) in ids.iter().enumerate() {
                let out = &mut hidden[row * h..][..h];
                let word = self.word_row(id);
                let pos = &self.position_embeddings[position * h..][..h];
                for (((o, w), p), t) in out.iter_mut().zip(word).zip(pos).zip(&self.token_type_row)
                {
                    *o = w + p + t;
                }
                row += 1;
            }
        }
        ops::layer_norm(
            isa,
            hidden,
            h,
            &self.embeddings_norm.0,
            &self.embeddings_norm.1,
            c.layer_norm_eps,
        );

        for layer in &self.layers {
            gemm(
                isa,
                rows(hidden, h, total),
                &layer.qkv,
                Some(&layer.qkv_bias),
                Write::Store,
                qkv,
                3 * h,
            );
            let mut start = 0;
            for ids in sequences {
                let len = ids.len();
                self.attention(
                    isa,
                    &qkv[start * 3 * h..][..len * 3 * h],
                    len,
                    &mut context[start * h..][..len * h],
                    scores,
                    keys,
                    values,
                );
                start += len;
            }
            gemm(
                isa,
                rows(context, h, total),
                &layer.attention_out,
                Some(&layer.attention_out_bias),
                Write::Add,
                hidden,
                h,
            );
            ops::layer_norm(
                isa,
                hidden,
                h,
                &layer.attention_norm.0,
                &layer.attention_norm.1,
                c.layer_norm_eps,
            );
            gemm(
                isa,
                rows(hidden, h, total),
                &layer.intermediate,
                Some(&layer.intermediate_bias),
                Write::Store,
                intermediate,
                inter,
            );
            ops::gelu(isa, intermediate);
            gemm(
                isa,
                rows(intermediate, inter, total),
                &layer.output,
                Some(&layer.output_bias),
                Write::Add,
                hidden,
                h,
            );
            ops::layer_norm(
                isa,
                hidden,
                h,
                &layer.output_norm.0,
                &layer.output_norm.1,
                c.layer_norm_eps,
            );
        }

        let mut start = 0;
        sequences
            .iter()
            .map(|ids| {
                let vector = ops::mean_pool_normalised(&hidden[start * h..][..ids.len() * h], h);
                start += ids.len();
                vector
            })
            .collect()
    }

    /// Multi-head self-attention of one sequence of `len` tokens: `qkv` holds its rows of query
    /// (already scaled by 1/sqrt(head size)), key and value; each head's result goes to its columns
    /// of `context`.
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        isa: Isa,
        qkv: &[f32],
        len: usize,
        context: &mut [f32],
        scores: &mut Vec<f32>,
        keys: &mut Panels,
        values: &mut Panels,
    ) {
        let h = self.config.hidden_size;
        let d = self.config.head_size();
        let scores = grow(scores, len * len);
        for head in 0..self.config.num_attention_heads {
            let (q, k, v) = (head * d, h + head * d, 2 * h + head * d);
            // Keys as the "weights" of scores = Q K^T (one output column per key), values as those
            // of context = P V (one output column per dimension of the head).
            keys.pack(len, d, |j, i| qkv[j * 3 * h + k + i]);
            values.pack(d, len, |i, j| qkv[j * 3 * h + v + i]);
            let queries = Rows {
                data: &qkv[q..],
                stride: 3 * h,
                rows: len,
            };
            gemm(isa, queries, keys, None, Write::Store, scores, len);
            ops::softmax_rows(isa, scores, len, len);
            let probabilities = Rows {
                data: scores,
                stride: len,
                rows: len,
            };
            gemm(
                isa,
                probabilities,
                values,
                None,
                Write::Store,
                &mut context[head * d..],
                h,
            );
        }
    }
}
