//! `almanac bench generation`: how fast the chat model reads a retrieval-augmented prompt and writes
//! its answer, beside llama.cpp (llama-cpp-python) running the same GGUF on the same prompt token ids
//! with the same number of threads and greedy decoding, in the same run (machines here are shared and
//! noisy, so only the ratio measured together means much).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use almanac_core::{Assistant, CancelFlag, Paths, PromptParts};
use almanac_engine::GenerationParams;
use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The reference side, run with the chosen Python (it needs llama-cpp-python).
const LLAMA_CPP_SCRIPT: &str = include_str!("../../../../scripts/reference/bench_llamacpp.py");

/// A small library to retrieve from, so the prompt has the shape of a real answer's.
const LIBRARY: [(&str, &str); 3] = [
    (
        "hollowmere-observatory.md",
        include_str!("../../../../demo/hollowmere-observatory.md"),
    ),
    (
        "tidewater-cooperative.txt",
        include_str!("../../../../demo/tidewater-cooperative.txt"),
    ),
    (
        "using-almanac.md",
        include_str!("../../../../demo/using-almanac.md"),
    ),
];
const QUESTION: &str = "When was the Tidewater Bicycle Cooperative set up, and by whom?";

#[derive(clap::Args)]
pub struct GenerationArgs {
    /// The GGUF to measure (default: the configured chat model)
    #[arg(long)]
    model: Option<PathBuf>,
    /// Threads for both engines (default: every core)
    #[arg(long)]
    threads: Option<usize>,
    /// Measured runs per engine, after one warm-up run; the median is reported
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Most tokens generated per run (fewer if the model ends its answer)
    #[arg(long, default_value_t = 128)]
    decode_tokens: usize,
    /// Python with llama-cpp-python installed
    #[arg(long, default_value = "python3")]
    python: PathBuf,
    /// Measure Almanac only
    #[arg(long)]
    no_reference: bool,
    /// Also write the figures into this Markdown file's generation section (docs/BENCHMARKS.md)
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
}

/// One timed generation: prefill runs to the first sampled token, decode over every later one.
#[derive(Debug, Clone, Copy, Deserialize)]
struct Run {
    prefill_s: f64,
    decode_s: f64,
    generated: usize,
    end_of_turn: bool,
}

impl Run {
    /// Forward passes after the first token: one per token, except the last when the run stopped
    /// at the token limit (llama.cpp's loop and ours both sample it without a pass after it).
    fn decode_passes(&self) -> usize {
        if self.end_of_turn {
            self.generated
        } else {
            self.generated.saturating_sub(1)
        }
    }
}

#[derive(Deserialize)]
struct Reference {
    version: Option<String>,
    runs: Option<Vec<Run>>,
    error: Option<String>,
}

struct Figures {
    prefill_tps: f64,
    decode_tps: f64,
    prefill_ms: f64,
    generated: usize,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn figures(runs: &[Run], prompt_tokens: usize) -> Figures {
    Figures {
        prefill_tps: median(
            runs.iter()
                .map(|r| prompt_tokens as f64 / r.prefill_s)
                .collect(),
        ),
        decode_tps: median(
            runs.iter()
                .map(|r| r.decode_passes() as f64 / r.decode_s.max(1e-9))
                .collect(),
        ),
        prefill_ms: median(runs.iter().map(|r| r.prefill_s * 1000.0).collect()),
        generated: runs.iter().map(|r| r.generated).max().unwrap_or(0),
    }
}

pub fn run(data_dir: Option<PathBuf>, args: GenerationArgs) -> Result<()> {
    if args.runs == 0 || args.decode_tokens < 2 {
        bail!("--runs must be at least 1 and --decode-tokens at least 2");
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // candle sizes its thread pool from this variable the first time it computes anything.
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    let machine = crate::bench::machine_description();

    let scratch = tempfile::tempdir().context("creating a scratch library")?;
    let paths = Paths::new(Some(scratch.path().join("data")));
    let documents = scratch.path().join("documents");
    std::fs::create_dir_all(&documents)?;
    for (name, text) in LIBRARY {
        std::fs::write(documents.join(name), text)?;
    }
    // Settings are read from the real data directory (the configured model), the library is scratch.
    let configured = almanac_core::Settings::load(&Paths::new(data_dir).settings_file())?;
    let assistant = Assistant::open(paths)?;
    assistant.update_settings(|settings| {
        *settings = configured.clone();
        settings.temperature = 0.0;
        if let Some(model) = &args.model {
            settings.chat_model = std::path::absolute(model).unwrap_or_else(|_| model.clone());
        }
    });
    assistant.ingest(&[documents], &mut |_| {})?;
    let model_path = assistant.chat_model_path();
    eprintln!(
        "model {} · {threads} threads · {machine}",
        model_path.display()
    );

    // Time to first token of a whole retrieval-augmented answer (question embedded, library searched,
    // prompt built, prompt read), after a warm-up that loads the model.
    let mut ttft = Vec::new();
    let mut retrieval_ms = Vec::new();
    for i in 0..=args.runs {
        let answer = assistant.ask(QUESTION, &[], &CancelFlag::new(), &mut |_| {})?;
        if i > 0 {
            ttft.push(answer.timings.ttft_ms);
            retrieval_ms.push(answer.timings.retrieval_ms);
        }
    }

    let prompt_ids = {
        let retrieval = assistant.retrieve(QUESTION)?;
        let model = assistant.chat_model()?;
        let today = chrono::Local::now().format("%Y-%m-%d").to_string();
        let parts = PromptParts {
            system_prompt: None,
            today: &today,
            passages: &retrieval.passages,
            history: &[],
            question: QUESTION,
        };
        let prompt = parts.fit(&model, assistant.settings().max_answer_tokens)?;
        model.tokenizer().encode(&prompt.text, true)?
    };
    let context = assistant.settings().context_length;

    let params = GenerationParams {
        max_tokens: args.decode_tokens,
        temperature: 0.0,
        ..GenerationParams::default()
    };
    let mut ours = Vec::new();
    {
        let mut model = assistant.chat_model()?;
        for i in 0..=args.runs {
            let g = model.generate_from_tokens(
                &prompt_ids,
                &params,
                &CancelFlag::new(),
                &mut |_| {},
            )?;
            let total = (g.prefill + g.decode).as_secs_f64();
            let first = g.time_to_first_token.as_secs_f64();
            if i > 0 {
                ours.push(Run {
                    prefill_s: first,
                    decode_s: total - first,
                    generated: g.generated_tokens,
                    end_of_turn: g.stop_reason == almanac_core::StopReason::EndOfTurn,
                });
            }
        }
    }
    let ours = figures(&ours, prompt_ids.len());

    let reference = if args.no_reference {
        None
    } else {
        Some(run_llama_cpp(
            &args.python,
            &model_path,
            &prompt_ids,
            threads,
            context,
            args.runs,
            args.decode_tokens,
        )?)
    };
    let theirs = reference
        .as_ref()
        .map(|(_, runs)| figures(runs, prompt_ids.len()));

    let model_name = model_path.file_name().map_or_else(
        || model_path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let mut table = String::from(
        "| figure | Almanac (candle) | llama.cpp | Almanac / llama.cpp |\n|---|---|---|---|\n",
    );
    let mut row = |name: &str, ours: f64, theirs: Option<f64>, unit: &str| {
        let (theirs_text, ratio) = match theirs {
            Some(t) => (format!("{t:.1} {unit}"), format!("{:.2}", ours / t)),
            None => ("not measured".into(), "".into()),
        };
        table.push_str(&format!(
            "| {name} | {ours:.1} {unit} | {theirs_text} | {ratio} |\n"
        ));
    };
    row(
        "prefill",
        ours.prefill_tps,
        theirs.as_ref().map(|t| t.prefill_tps),
        "tokens/s",
    );
    row(
        "decode",
        ours.decode_tps,
        theirs.as_ref().map(|t| t.decode_tps),
        "tokens/s",
    );
    row(
        "prompt read to first token",
        ours.prefill_ms,
        theirs.as_ref().map(|t| t.prefill_ms),
        "ms",
    );
    let body = format!(
        "## Generation speed beside llama.cpp\n\n\
         `almanac bench generation --runs {runs} --decode-tokens {decode}` on {date}: {model_name}, \
         {threads} threads for both, greedy decoding, the same {prompt} prompt token ids (a retrieval-augmented \
         prompt: the system text, the sources found in a 3-file library, the question), median of {runs} runs \
         after a warm-up; {ours_gen} tokens generated by Almanac, {their_gen} by llama.cpp{version}. Machine: {machine}.\n\n\
         {table}\n\
         Whole retrieval-augmented question in Almanac (embed the question, search, build the prompt, read \
         it, first token): median time to first token {ttft:.0} ms, of which retrieval {retrieval:.1} ms.\n",
        runs = args.runs,
        decode = args.decode_tokens,
        prompt = prompt_ids.len(),
        ours_gen = ours.generated,
        their_gen = theirs.as_ref().map_or("none".into(), |t| t.generated.to_string()),
        version = reference
            .as_ref()
            .map_or(String::new(), |(v, _)| format!(" (llama-cpp-python {v})")),
        ttft = median(ttft),
        retrieval = median(retrieval_ms),
    );
    println!("{body}");
    if let Some(file) = &args.write {
        crate::bench::write_section(file, "generation", &body)?;
        eprintln!("written to {}", file.display());
    }
    Ok(())
}

fn run_llama_cpp(
    python: &Path,
    model: &Path,
    prompt_ids: &[u32],
    threads: usize,
    context: usize,
    runs: usize,
    decode_tokens: usize,
) -> Result<(String, Vec<Run>)> {
    let request = serde_json::json!({
        "model": model, "prompt_ids": prompt_ids, "threads": threads, "context": context,
        "runs": runs, "decode_tokens": decode_tokens,
    });
    let started = Instant::now();
    let mut child = Command::new(python)
        .arg("-c")
        .arg(LLAMA_CPP_SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {} for the llama.cpp reference", python.display()))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(request.to_string().as_bytes())?;
    let output = child.wait_with_output()?;
    let reply: Reference = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "the llama.cpp reference ({}) failed after {:.0} s: {}",
            python.display(),
            started.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&output.stdout).trim()
        )
    })?;
    match (reply.error, reply.runs) {
        (Some(error), _) => bail!("{error} (or pass --no-reference)"),
        (None, Some(runs)) if !runs.is_empty() => Ok((reply.version.unwrap_or_default(), runs)),
        _ => bail!("the llama.cpp reference returned no runs"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_passes_count_the_forward_passes_after_the_first_token() {
        let limited = Run {
            prefill_s: 1.0,
            decode_s: 1.0,
            generated: 10,
            end_of_turn: false,
        };
        assert_eq!(limited.decode_passes(), 9);
        let ended = Run {
            end_of_turn: true,
            ..limited
        };
        assert_eq!(ended.decode_passes(), 10);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
