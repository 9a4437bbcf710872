//! A Llama-architecture model on Almanac's own CPU kernels: the weights as loaded from GGUF
//! (quantized blocks kept as they are), one forward pass over a chunk of tokens that appends to a
//! `KvCache`, and nothing else. Sampling, prompts and the prompt cache live in `chat_model`.

mod config;
mod kv_cache;
pub(crate) mod ops;
mod rope;

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use candle_core::quantized::gguf_file::Content;

use crate::cpu::matmul::{Activations, QMatrix};
use crate::cpu::pool::ThreadPool;
use crate::cpu::quant::WeightType;
use crate::cpu::Isa;
use crate::error::{Error, Result};

pub(crate) use config::{LlamaConfig, MAX_HEAD_DIM};
pub(crate) use kv_cache::KvCache;
use rope::Rope;

struct Layer {
    attn_norm: Vec<f32>,
    wq: QMatrix,
    wk: QMatrix,
    wv: QMatrix,
    wo: QMatrix,
    ffn_norm: Vec<f32>,
    gate: QMatrix,
    up: QMatrix,
    down: QMatrix,
}

pub(crate) struct Llama {
    config: LlamaConfig,
    token_embedding: QMatrix,
    layers: Vec<Layer>,
    output_norm: Vec<f32>,
    /// `None`: the output projection is the token embedding (tied weights).
    output: Option<QMatrix>,
    rope: Rope,
    pool: ThreadPool,
    isa: Isa,
    scratch: Scratch,
}

impl Llama {
    /// Loads the weights; `positions` bounds the rotary table (the context window).
    pub fn load(
        path: &Path,
        content: &Content,
        reader: &mut BufReader<File>,
        positions: usize,
        threads: usize,
    ) -> Result<Llama> {
        let config = LlamaConfig::from_gguf(path, content)?;
        let mut tensors = TensorReader {
            path,
            content,
            reader,
        };
        let (dim, kv_dim, ffn) = (config.dim, config.kv_dim(), config.ffn_dim);
        let token_embedding = tensors.matrix("token_embd.weight", None, dim)?;
        let vocab = token_embedding.rows();
        let mut layers = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let name = |part: &str| format!("blk.{i}.{part}.weight");
            layers.push(Layer {
                attn_norm: tensors.vector(&name("attn_norm"), dim)?,
                wq: tensors.matrix(&name("attn_q"), Some(dim), dim)?,
                wk: tensors.matrix(&name("attn_k"), Some(kv_dim), dim)?,
                wv: tensors.matrix(&name("attn_v"), Some(kv_dim), dim)?,
                wo: tensors.matrix(&name("attn_output"), Some(dim), dim)?,
                ffn_norm: tensors.vector(&name("ffn_norm"), dim)?,
                gate: tensors.matrix(&name("ffn_gate"), Some(ffn), dim)?,
                up: tensors.matrix(&name("ffn_up"), Some(ffn), dim)?,
                down: tensors.matrix(&name("ffn_down"), Some(dim), ffn)?,
            });
        }
        let output_norm = tensors.vector("output_norm.weight", dim)?;
        let output = match content.tensor_infos.contains_key("output.weight") {
            true => Some(tensors.matrix("output.weight", Some(vocab), dim)?),
            false => None,
        };
        let freq_factors = match content.tensor_infos.contains_key("rope_freqs.weight") {
            true => Some(tensors.vector("rope_freqs.weight", config.rope_dims / 2)?),
            false => None,
        };
        if let Some(factors) = &freq_factors {
            if factors.iter().any(|f| !(f.is_finite() && *f > 0.0)) {
                return Err(Error::Corrupt {
                    path: path.to_path_buf(),
                    detail: "rope_freqs holds a factor that is not a positive number".into(),
                });
            }
        }
        let rope = Rope::new(
            positions,
            config.rope_dims,
            config.rope_base,
            config.rope_freq_scale,
            freq_factors.as_deref(),
        );
        let pool = ThreadPool::new(threads.max(1));
        Ok(Llama {
            scratch: Scratch::new(&config, pool.threads(), positions),
            config,
            token_embedding,
            layers,
            output_norm,
            output,
            rope,
            pool,
            isa: crate::cpu::isa(),
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.token_embedding.rows()
    }

    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    pub fn new_cache(&self) -> KvCache {
        let c = &self.config;
        KvCache::new(c.layers, c.kv_heads, c.head_dim, self.rope.positions())
    }

    /// Runs `tokens` at the positions after those already in `cache`, adds their keys and values
    /// to it, and returns the logits of the last token (only its row of the output is computed).
    pub fn forward(&mut self, cache: &mut KvCache, tokens: &[u32]) -> Result<Vec<f32>> {
        cache.check_room(tokens.len())?;
        let vocab = self.vocab_size();
        if let Some(bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::InvalidParams(format!(
                "token id {bad} is outside the embedding table of {vocab}"
            )));
        }
        let mut logits = Vec::new();
        for chunk in tokens.chunks(Scratch::CHUNK) {
            logits = self.forward_chunk(cache, chunk)?;
        }
        Ok(logits)
    }

    fn forward_chunk(&mut self, cache: &mut KvCache, tokens: &[u32]) -> Result<Vec<f32>> {
        let c = &self.config;
        let (n, dim, kv_dim, ffn) = (tokens.len(), c.dim, c.kv_dim(), c.ffn_dim);
        let (isa, pool, s) = (self.isa, &self.pool, &mut self.scratch);
        let x = &mut s.x[..n * dim];
        for (row, &token) in x.chunks_exact_mut(dim).zip(tokens) {
            self.token_embedding.dequantize_row(token as usize, row);
        }
        let start = cache.len();
        for (l, layer) in self.layers.iter().enumerate() {
            let h = &mut s.h[..n * dim];
            ops::rms_norm(isa, x, &layer.attn_norm, c.rms_eps, h);
            let (q, k, v) = (
                &mut s.q[..n * dim],
                &mut s.k[..n * kv_dim],
                &mut s.v[..n * kv_dim],
            );
            project(
                pool,
                &mut s.acts,
                h,
                n,
                &mut [(&layer.wq, q), (&layer.wk, k), (&layer.wv, v)],
            )?;
            for t in 0..n {
                self.rope
                    .apply(&mut q[t * dim..(t + 1) * dim], c.head_dim, start + t);
                self.rope
                    .apply(&mut k[t * kv_dim..(t + 1) * kv_dim], c.head_dim, start + t);
            }
            // llama.cpp keeps keys and values in f16 and rounds queries to f16 for their dot
            // product; doing the same keeps greedy answers on its tokens.
            for value in q.iter_mut() {
                *value = ops::round_f16(*value);
            }
            cache.write(l, k, v);
            let att = &mut s.att[..n * dim];
            attention(pool, isa, c, cache, l, start, q, &mut s.scores, att);
            let delta = &mut s.h[..n * dim];
            project(pool, &mut s.acts, att, n, &mut [(&layer.wo, delta)])?;
            ops::add_assign(isa, x, delta);

            let h = &mut s.h[..n * dim];
            ops::rms_norm(isa, x, &layer.ffn_norm, c.rms_eps, h);
            let (gate, up) = (&mut s.gate[..n * ffn], &mut s.up[..n * ffn]);
            project(
                pool,
                &mut s.acts,
                h,
                n,
                &mut [(&layer.gate, gate), (&layer.up, up)],
            )?;
            ops::silu_mul(isa, gate, up);
            let delta = &mut s.h[..n * dim];
            project(pool, &mut s.acts, gate, n, &mut [(&layer.down, delta)])?;
            ops::add_assign(isa, x, delta);
        }
        cache.commit(n);

        let h = &mut s.h[..dim];
        ops::rms_norm(isa, &x[(n - 1) * dim..], &self.output_norm, c.rms_eps, h);
        let output = self.output.as_ref().unwrap_or(&self.token_embedding);
        let mut logits = vec![0.0; output.rows()];
        project(pool, &mut s.acts, h, 1, &mut [(output, &mut logits)])?;
        Ok(logits)
    }
}

/// `y = W x` for several matrices that read the same input, quantizing the input once per weight
/// type rather than once per matrix.
fn project(
    pool: &ThreadPool,
    acts: &mut Activations,
    x: &[f32],
    n: usize,
    outputs: &mut [(&QMatrix, &mut [f32])],
) -> Result<()> {
    let mut prepared: Option<WeightType> = None;
    for (matrix, y) in outputs.iter_mut() {
        if prepared != Some(matrix.ty()) {
            acts.quantize(matrix.ty(), x, n, matrix.cols(), pool)?;
            prepared = Some(matrix.ty());
        }
        matrix.matmul(pool, acts, y)?;
    }
    Ok(())
}

/// Causal self-attention of `n` new queries (at positions `start..start + n`) over the cache.
/// One task per key/value head and block of positions; inside, the queries of the heads that
/// share that key/value head are scored `QUERY_BLOCK` at a time.
#[allow(clippy::too_many_arguments)]
fn attention(
    pool: &ThreadPool,
    isa: Isa,
    c: &LlamaConfig,
    cache: &KvCache,
    layer: usize,
    start: usize,
    q: &[f32],
    scores: &mut [f32],
    out: &mut [f32],
) {
    let (dim, head_dim) = (c.dim, c.head_dim);
    let n = q.len() / dim;
    let group = c.heads / c.kv_heads;
    let scale = 1.0 / (head_dim as f32).sqrt();
    // Enough tasks to keep every thread busy, few enough that each has real work.
    let blocks = n
        .div_ceil(8)
        .min((4 * pool.threads()).div_ceil(c.kv_heads))
        .max(1);
    let per_block = n.div_ceil(blocks);
    let scores_per_thread = scores.len() / pool.threads();
    let out = Disjoint::new(out);
    let scores = Disjoint::new(scores);
    pool.run(c.kv_heads * blocks, &|task, thread| {
        let (kv_head, block) = (task / blocks, task % blocks);
        let positions = block * per_block..((block + 1) * per_block).min(n);
        let view = cache.head(layer, kv_head, start + positions.end);
        // SAFETY: each thread uses only its own part of `scores`; each task writes only the
        // output slices of its own heads at its own positions.
        let scores =
            unsafe { scores.slice(thread * scores_per_thread..(thread + 1) * scores_per_thread) };
        // (position, head) pairs, position-major so a block's queries see similar lengths.
        let queries = positions.flat_map(|t| (0..group).map(move |g| (t, kv_head * group + g)));
        let mut block_q = [0f32; ops::QUERY_BLOCK * MAX_HEAD_DIM];
        let mut block_out = [0f32; ops::QUERY_BLOCK * MAX_HEAD_DIM];
        let mut members = [(0usize, 0usize); ops::QUERY_BLOCK];
        let mut lens = [0usize; ops::QUERY_BLOCK];
        let mut m = 0;
        let mut flush = |block_q: &[f32], members: &[(usize, usize)], lens: &[usize]| {
            let k = members.len();
            ops::attend_block(
                isa,
                &block_q[..k * head_dim],
                lens,
                view.keys_t,
                view.stride,
                view.values,
                scale,
                scores,
                &mut block_out[..k * head_dim],
            );
            for (i, &(t, head)) in members.iter().enumerate() {
                let at = t * dim + head * head_dim;
                // SAFETY: see above.
                let dst = unsafe { out.slice(at..at + head_dim) };
                dst.copy_from_slice(&block_out[i * head_dim..(i + 1) * head_dim]);
            }
        };
        for (t, head) in queries {
            let at = t * dim + head * head_dim;
            block_q[m * head_dim..(m + 1) * head_dim].copy_from_slice(&q[at..at + head_dim]);
            members[m] = (t, head);
            lens[m] = start + t + 1;
            m += 1;
            if m == ops::QUERY_BLOCK {
                flush(&block_q, &members, &lens);
                m = 0;
            }
        }
        if m > 0 {
            flush(&block_q, &members[..m], &lens[..m]);
        }
    });
}

/// A buffer that pool tasks write in disjoint parts.
struct Disjoint {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: tasks only ever take non-overlapping ranges (see the callers).
unsafe impl Sync for Disjoint {}

impl Disjoint {
    fn new(buffer: &mut [f32]) -> Disjoint {
        Disjoint {
            ptr: buffer.as_mut_ptr(),
            len: buffer.len(),
        }
    }

    /// SAFETY: no two live slices may overlap, and the buffer outlives them.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, range: std::ops::Range<usize>) -> &mut [f32] {
        assert!(range.start <= range.end && range.end <= self.len);
        std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len())
    }
}

/// Every buffer a chunk needs, allocated once for the largest chunk.
struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    /// One row of attention scores per thread.
    scores: Vec<f32>,
    acts: Activations,
}

impl Scratch {
    /// Most tokens per forward pass: bounds these buffers; larger prompts run chunk by chunk.
    const CHUNK: usize = 512;

    fn new(c: &LlamaConfig, threads: usize, positions: usize) -> Scratch {
        let n = Self::CHUNK;
        Scratch {
            x: vec![0.0; n * c.dim],
            h: vec![0.0; n * c.dim],
            q: vec![0.0; n * c.dim],
            k: vec![0.0; n * c.kv_dim()],
            v: vec![0.0; n * c.kv_dim()],
            att: vec![0.0; n * c.dim],
            gate: vec![0.0; n * c.ffn_dim],
            up: vec![0.0; n * c.ffn_dim],
            scores: vec![0.0; threads * ops::QUERY_BLOCK * positions.next_multiple_of(8)],
            acts: Activations::new(),
        }
    }
}

/// Reads named tensors out of the checked GGUF file, with their shapes verified.
struct TensorReader<'a> {
    path: &'a Path,
    content: &'a Content,
    reader: &'a mut BufReader<File>,
}

impl TensorReader<'_> {
    fn corrupt(&self, detail: String) -> Error {
        Error::Corrupt {
            path: self.path.to_path_buf(),
            detail,
        }
    }

    fn raw(&mut self, name: &str) -> Result<(WeightType, Vec<usize>, Vec<u8>)> {
        let info = self
            .content
            .tensor_infos
            .get(name)
            .ok_or_else(|| self.corrupt(format!("tensor {name} is missing")))?;
        let ty = WeightType::from_ggml(info.ggml_dtype).ok_or_else(|| {
            Error::Unsupported(format!(
                "{}: tensor {name} has type {:?}, which this engine does not run",
                self.path.display(),
                info.ggml_dtype
            ))
        })?;
        let dims = info.shape.dims().to_vec();
        // model_file::open checked that every tensor lies inside the file.
        let size =
            info.shape.elem_count() / info.ggml_dtype.block_size() * info.ggml_dtype.type_size();
        let mut bytes = vec![0u8; size];
        let io = |e: std::io::Error| Error::Io {
            path: self.path.to_path_buf(),
            reason: format!("reading tensor {name}: {e}"),
        };
        self.reader
            .seek(SeekFrom::Start(
                self.content.tensor_data_offset + info.offset,
            ))
            .map_err(io)?;
        self.reader.read_exact(&mut bytes).map_err(io)?;
        Ok((ty, dims, bytes))
    }

    /// A 2-D weight of `rows` (any if `None`) x `cols`.
    fn matrix(&mut self, name: &str, rows: Option<usize>, cols: usize) -> Result<QMatrix> {
        let (ty, dims, bytes) = self.raw(name)?;
        match dims[..] {
            [r, c] if c == cols && rows.is_none_or(|rows| rows == r) && r > 0 => {
                QMatrix::new(ty, r, c, bytes)
                    .map_err(|e| self.corrupt(format!("tensor {name}: {e}")))
            }
            _ => Err(self.corrupt(format!(
                "tensor {name} has shape {dims:?}, expected [{}, {cols}]",
                rows.map_or("n".to_string(), |r| r.to_string())
            ))),
        }
    }

    /// A 1-D f32 (or f16) vector of `len` values.
    fn vector(&mut self, name: &str, len: usize) -> Result<Vec<f32>> {
        let (ty, dims, bytes) = self.raw(name)?;
        if dims != [len] || !matches!(ty, WeightType::F32 | WeightType::F16) {
            return Err(self.corrupt(format!(
                "tensor {name} has shape {dims:?} and type {ty:?}, expected [{len}] of F32 or F16"
            )));
        }
        let matrix = QMatrix::new(ty, 1, len, bytes)
            .map_err(|e| self.corrupt(format!("tensor {name}: {e}")))?;
        let mut values = vec![0.0; len];
        matrix.dequantize_row(0, &mut values);
        Ok(values)
    }
}
