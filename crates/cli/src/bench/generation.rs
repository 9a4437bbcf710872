//! `almanac bench generation`: how fast the chat model reads retrieval-augmented prompts (512 and
//! 1,536 tokens by default) and writes 128 tokens, and how soon a follow-up question in the same
//! conversation gets its first token, beside llama.cpp (scripts/reference/llamacpp.py, the newest
//! build, run through its C API) on the same GGUF, the same prompt token ids, the same threads and
//! greedy decoding. Runs alternate between the engines: machines here are shared and noisy, so only
//! ratios measured together mean much.

use std::path::PathBuf;

use almanac_core::{CancelFlag, Paths};
use almanac_engine::{ChatModel, GenerationParams, LoadOptions, StopReason};
use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::generation_prompts::{self, BenchPrompt};
use super::llamacpp_reference::{self, Reference, ReferenceRun};

#[derive(clap::Args)]
pub struct GenerationArgs {
    /// The GGUF to measure (default: the configured chat model)
    #[arg(long)]
    model: Option<PathBuf>,
    /// Threads for both engines (default: every core)
    #[arg(long)]
    threads: Option<usize>,
    /// Measured runs per engine and prompt length, after one warm-up run; the median is reported
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Most tokens generated per run (fewer if the model ends its answer)
    #[arg(long, default_value_t = 128)]
    decode_tokens: usize,
    /// Prompt lengths to measure, in tokens
    #[arg(long, value_delimiter = ',', default_values_t = [512, 1536])]
    prompt_tokens: Vec<usize>,
    /// Context window for both engines (Almanac caps it at what the model and the engine allow)
    #[arg(long, default_value_t = 4096)]
    context: usize,
    /// Python with the llama.cpp reference (default: scripts/reference/setup.sh's venv,
    /// target/reference-venv, when present, else python3)
    #[arg(long)]
    python: Option<PathBuf>,
    /// Measure Almanac only
    #[arg(long)]
    no_reference: bool,
    /// Print one JSON object (each engine's figures per prompt length) instead of the table
    #[arg(long)]
    json: bool,
    /// Also write the figures into this Markdown file's generation section (docs/BENCHMARKS.md)
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
}

/// One timed generation: prefill runs to the first sampled token, decode over every later one;
/// then the follow-up question's time to its first token.
#[derive(Debug, Clone, Copy)]
struct Run {
    prefill_s: f64,
    decode_s: f64,
    generated: usize,
    end_of_turn: bool,
    follow_up_ttft_s: f64,
    follow_up_cached: usize,
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

impl From<ReferenceRun> for Run {
    fn from(r: ReferenceRun) -> Run {
        Run {
            prefill_s: r.prefill_s,
            decode_s: r.decode_s,
            generated: r.generated,
            end_of_turn: r.end_of_turn,
            follow_up_ttft_s: r.follow_up_ttft_s.unwrap_or(f64::NAN),
            follow_up_cached: r.follow_up_cached.unwrap_or(0),
        }
    }
}

/// The medians of one engine's runs on one prompt length.
#[derive(Debug, Clone, Serialize)]
struct Figures {
    prompt_tokens: usize,
    prefill_tps: f64,
    decode_tps: f64,
    ttft_ms: f64,
    follow_up_tokens: usize,
    follow_up_cached_tokens: usize,
    follow_up_ttft_ms: f64,
    generated: usize,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn figures(runs: &[Run], prompt: &BenchPrompt) -> Figures {
    let tokens = prompt.first.len();
    let of = |f: &dyn Fn(&Run) -> f64| median(runs.iter().map(f).collect());
    Figures {
        prompt_tokens: tokens,
        prefill_tps: of(&|r| tokens as f64 / r.prefill_s),
        decode_tps: of(&|r| r.decode_passes() as f64 / r.decode_s.max(1e-9)),
        ttft_ms: of(&|r| r.prefill_s * 1000.0),
        follow_up_tokens: prompt.follow_up.len(),
        follow_up_cached_tokens: runs.iter().map(|r| r.follow_up_cached).min().unwrap_or(0),
        follow_up_ttft_ms: of(&|r| r.follow_up_ttft_s * 1000.0),
        generated: runs.iter().map(|r| r.generated).max().unwrap_or(0),
    }
}

#[derive(Serialize)]
struct Engine {
    name: String,
    peak_rss_mib: f64,
    prompts: Vec<Figures>,
}

#[derive(Serialize)]
struct Report {
    model: String,
    threads: usize,
    runs: usize,
    decode_tokens: usize,
    context: usize,
    machine: String,
    almanac: Engine,
    llama_cpp: Option<Engine>,
    llama_cpp_system_info: Option<String>,
}

fn almanac_run(model: &mut ChatModel, prompt: &BenchPrompt, decode_tokens: usize) -> Result<Run> {
    let never = CancelFlag::new();
    let params = GenerationParams {
        max_tokens: decode_tokens,
        temperature: 0.0,
        ..GenerationParams::default()
    };
    let g = model.generate_from_tokens(&prompt.first, &params, &never, &mut |_| {})?;
    let first = g.time_to_first_token.as_secs_f64();
    let follow = GenerationParams {
        max_tokens: 1,
        ..params
    };
    let f = model.generate_from_tokens(&prompt.follow_up, &follow, &never, &mut |_| {})?;
    Ok(Run {
        prefill_s: first,
        decode_s: (g.prefill + g.decode).as_secs_f64() - first,
        generated: g.generated_tokens,
        end_of_turn: g.stop_reason == StopReason::EndOfTurn,
        follow_up_ttft_s: f.time_to_first_token.as_secs_f64(),
        follow_up_cached: f.cached_tokens,
    })
}

/// VmHWM: the most resident memory this process has held.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

pub fn run(data_dir: Option<PathBuf>, args: GenerationArgs) -> Result<()> {
    if args.runs == 0 || args.decode_tokens < 2 || args.prompt_tokens.is_empty() {
        bail!("--runs must be at least 1, --decode-tokens at least 2, --prompt-tokens not empty");
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let machine = crate::bench::machine_description();

    let paths = Paths::new(data_dir);
    let settings = almanac_core::Settings::load(&paths.settings_file())?;
    let model_path = match &args.model {
        Some(model) => std::path::absolute(model).unwrap_or_else(|_| model.clone()),
        None => paths.resolve_model(&settings.chat_model),
    };
    let mut model = ChatModel::load(
        &model_path,
        &LoadOptions {
            chat_template: settings.chat_template.clone(),
            context_length: Some(args.context),
            threads: Some(threads),
        },
    )
    .with_context(|| format!("loading {}", model_path.display()))?;
    let context = model.context_length();
    let longest = args.prompt_tokens.iter().max().copied().unwrap_or(0);
    if longest + args.decode_tokens + 64 > context {
        bail!("a {longest}-token prompt and {} generated tokens do not fit the {context}-token context", args.decode_tokens);
    }
    let mut reference = if args.no_reference {
        None
    } else {
        let python = args
            .python
            .clone()
            .unwrap_or_else(llamacpp_reference::default_python);
        Some(Reference::start(&python)?)
    };
    let model_name = model_path.file_name().map_or_else(
        || model_path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    eprintln!(
        "{model_name} · {threads} threads · context {context} · {} · {machine}",
        reference
            .as_ref()
            .map_or("no reference".into(), |r| r.build.clone())
    );

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for &tokens in &args.prompt_tokens {
        let (mut our_runs, mut their_runs) = (Vec::new(), Vec::new());
        let mut last_prompt = None;
        // Run 0 warms up both engines and is not counted; the engines take turns going first.
        for i in 0..=args.runs {
            let prompt = generation_prompts::build(&model, tokens, i)?;
            for side in [i % 2, 1 - i % 2] {
                if side == 0 {
                    let run = almanac_run(&mut model, &prompt, args.decode_tokens)?;
                    if i > 0 {
                        our_runs.push(run);
                    }
                } else if let Some(reference) = reference.as_mut() {
                    let run = reference.run(
                        &model_path,
                        &prompt.first,
                        &prompt.follow_up,
                        threads,
                        context,
                        args.decode_tokens,
                    )?;
                    if i > 0 {
                        their_runs.push(Run::from(run));
                    }
                }
            }
            eprintln!("{tokens}-token prompt: run {i} of {} done", args.runs);
            last_prompt = Some(prompt);
        }
        let prompt = last_prompt.expect("at least one run");
        ours.push(figures(&our_runs, &prompt));
        if reference.is_some() {
            theirs.push(figures(&their_runs, &prompt));
        }
    }

    let report = Report {
        model: model_name,
        threads,
        runs: args.runs,
        decode_tokens: args.decode_tokens,
        context,
        machine,
        almanac: Engine {
            name: "Almanac".into(),
            peak_rss_mib: peak_rss_kib() as f64 / 1024.0,
            prompts: ours,
        },
        llama_cpp_system_info: reference.as_ref().map(|r| r.system_info.clone()),
        llama_cpp: reference.as_ref().map(|r| Engine {
            name: r.build.clone(),
            peak_rss_mib: r.peak_rss_kib as f64 / 1024.0,
            prompts: theirs,
        }),
    };
    crate::bench::print_and_write(
        &report,
        &markdown(&report),
        args.json,
        args.write.as_deref(),
        "generation",
    )
}

/// Almanac's figure over llama.cpp's, oriented so that above 1 means Almanac is faster.
fn speedup(ours: f64, theirs: f64, higher_is_better: bool) -> String {
    let ratio = if higher_is_better {
        ours / theirs
    } else {
        theirs / ours
    };
    if ratio.is_finite() {
        format!("{ratio:.2}x")
    } else {
        String::new()
    }
}

fn markdown(report: &Report) -> String {
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let theirs = report.llama_cpp.as_ref();
    let mut table = String::from(
        "| prompt | figure | Almanac | llama.cpp | Almanac's speed / llama.cpp's |\n|---|---|---|---|---|\n",
    );
    for (i, ours) in report.almanac.prompts.iter().enumerate() {
        let other = theirs.and_then(|t| t.prompts.get(i));
        let rows: [(&str, f64, Option<f64>, &str, bool); 4] = [
            (
                "prefill",
                ours.prefill_tps,
                other.map(|o| o.prefill_tps),
                "tokens/s",
                true,
            ),
            (
                "decode",
                ours.decode_tps,
                other.map(|o| o.decode_tps),
                "tokens/s",
                true,
            ),
            (
                "time to first token",
                ours.ttft_ms,
                other.map(|o| o.ttft_ms),
                "ms",
                false,
            ),
            (
                "follow-up: time to first token",
                ours.follow_up_ttft_ms,
                other.map(|o| o.follow_up_ttft_ms),
                "ms",
                false,
            ),
        ];
        for (name, value, other_value, unit, higher_is_better) in rows {
            let (other_text, ratio) = match other_value {
                Some(t) => (
                    format!("{t:.1} {unit}"),
                    speedup(value, t, higher_is_better),
                ),
                None => ("not measured".into(), String::new()),
            };
            table.push_str(&format!(
                "| {} | {name} | {value:.1} {unit} | {other_text} | {ratio} |\n",
                ours.prompt_tokens
            ));
        }
        table.push_str(&format!(
            "| {} | follow-up prompt tokens reused from the first turn's cache | {} of {} | {} | |\n",
            ours.prompt_tokens,
            ours.follow_up_cached_tokens,
            ours.follow_up_tokens,
            other.map_or("not measured".into(), |o| format!(
                "{} of {}",
                o.follow_up_cached_tokens, o.follow_up_tokens
            )),
        ));
    }
    let memory = format!(
        "Peak resident memory (VmHWM): Almanac's process {:.0} MiB{}.",
        report.almanac.peak_rss_mib,
        theirs.map_or(String::new(), |t| format!(
            ", the llama.cpp reference's (a Python process with the library loaded) {:.0} MiB",
            t.peak_rss_mib
        ))
    );
    let follow_up_share = report
        .almanac
        .prompts
        .iter()
        .map(|p| {
            format!(
                "{:.2} at {} tokens",
                p.follow_up_ttft_ms / p.ttft_ms,
                p.prompt_tokens
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "## Generation speed beside llama.cpp\n\n\
         `almanac bench generation --runs {runs} --decode-tokens {decode}` on {date}: {model}, {threads} threads \
         for both engines, context {context}, greedy decoding, the same prompt token ids for both (retrieval-augmented \
         prompts cut to an exact length: system text, sources quoted from the demo library, the question, through the \
         model's chat template), runs alternating between the engines, median of {runs} runs after a warm-up; up to \
         {decode} tokens generated per run. The follow-up is the same conversation with an answer and a second question \
         appended, asked right after the first turn, so a prompt cache can reuse the first prompt. Reference: {reference}{info}. \
         Machine: {machine}.\n\n{table}\n\
         Almanac's follow-up time to first token over its first turn's: {follow_up_share}. {memory}\n",
        runs = report.runs,
        decode = report.decode_tokens,
        model = report.model,
        threads = report.threads,
        context = report.context,
        reference = theirs.map_or("not measured".into(), |t| t.name.clone()),
        info = report
            .llama_cpp_system_info
            .as_ref()
            .map_or(String::new(), |i| format!(" ({})", i.trim_end_matches([' ', '|']))),
        machine = report.machine,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(prefill_s: f64, generated: usize, end_of_turn: bool) -> Run {
        Run {
            prefill_s,
            decode_s: 1.0,
            generated,
            end_of_turn,
            follow_up_ttft_s: 0.1,
            follow_up_cached: 500,
        }
    }

    #[test]
    fn decode_passes_count_the_forward_passes_after_the_first_token() {
        assert_eq!(run(1.0, 10, false).decode_passes(), 9);
        assert_eq!(run(1.0, 10, true).decode_passes(), 10);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn figures_are_medians_over_the_prompt_length() {
        let prompt = BenchPrompt {
            first: vec![0; 512],
            follow_up: vec![0; 540],
        };
        let f = figures(
            &[
                run(1.0, 11, false),
                run(2.0, 11, false),
                run(4.0, 11, false),
            ],
            &prompt,
        );
        assert_eq!(f.prompt_tokens, 512);
        assert_eq!(f.prefill_tps, 256.0);
        assert_eq!(f.decode_tps, 10.0);
        assert_eq!(f.ttft_ms, 2000.0);
        assert_eq!((f.follow_up_tokens, f.follow_up_cached_tokens), (540, 500));
    }

    #[test]
    fn speedup_reads_above_one_when_almanac_is_faster() {
        assert_eq!(speedup(200.0, 100.0, true), "2.00x");
        assert_eq!(speedup(50.0, 100.0, false), "2.00x");
        assert_eq!(speedup(1.0, f64::NAN, true), "");
    }
}
