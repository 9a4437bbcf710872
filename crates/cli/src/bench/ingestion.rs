//! `almanac bench ingestion`: how many texts a second the embedder turns into vectors, beside
//! ONNX Runtime (scripts/reference/onnx_embed.py: fp32 ONNX all-MiniLM-L6-v2, batches of 32,
//! tokenisation and pooling timed) on the same texts and threads. Each file's lines are the texts;
//! by default the 5,183 SciFact abstracts and the 1,109 SciFact claims (one line each). Runs alternate
//! between the engines, since only ratios measured together mean much on a shared machine.

use std::path::{Path, PathBuf};
use std::time::Instant;

use almanac_core::{load_embedder, Paths, Settings};
use almanac_engine::Embedder;
use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::onnx_reference::{self, Reference};

/// Vectors compared between the engines per file.
const SAMPLE: usize = 16;

#[derive(clap::Args)]
pub struct IngestionArgs {
    /// A file of texts, one a line (repeatable; default: SciFact's abstracts, title and text on one
    /// line, and its claims, written from --beir into --work)
    #[arg(long)]
    texts: Vec<PathBuf>,
    /// The BEIR SciFact folder the default texts come from
    #[arg(long, default_value = "../shared/data/beir-scifact")]
    beir: PathBuf,
    /// Where the default texts are written
    #[arg(long, default_value = "target/bench-ingestion")]
    work: PathBuf,
    /// Threads for both engines (default: every core)
    #[arg(long)]
    threads: Option<usize>,
    /// Texts per call to the embedder (Almanac) and per batch (ONNX Runtime), as ingestion sends them
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Measured runs per engine and file; the median is reported
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Python with the ONNX Runtime reference (default: scripts/reference/setup-onnx.sh's venv,
    /// target/onnx-reference-venv, when present, else python3)
    #[arg(long)]
    python: Option<PathBuf>,
    /// Measure Almanac only
    #[arg(long)]
    no_reference: bool,
    /// Print one JSON object instead of the table
    #[arg(long)]
    json: bool,
    /// Also write the figures into this Markdown file's ingestion section (docs/BENCHMARKS.md)
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
}

#[derive(Serialize)]
struct FileFigures {
    file: String,
    texts: usize,
    tokens: usize,
    almanac_per_s: f64,
    reference_per_s: Option<f64>,
    /// Almanac's embeddings/s over the reference's.
    ratio: Option<f64>,
    /// Lowest cosine between the two engines' vectors of the file's first lines.
    lowest_cosine: Option<f64>,
}

#[derive(Serialize)]
struct Report {
    threads: usize,
    batch: usize,
    runs: usize,
    machine: String,
    kernels: String,
    reference: Option<String>,
    files: Vec<FileFigures>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The texts of a file as the reference reads them: its non-blank lines.
fn read_texts(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let texts: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    if texts.is_empty() {
        bail!("{}: no text in it (one text a line)", path.display());
    }
    Ok(texts)
}

/// SciFact's abstracts (title and text) and claims, one a line, into `work`.
fn default_texts(beir: &Path, work: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let one_line = |parts: &[&str]| {
        parts
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut files = Vec::new();
    for (source, name, fields) in [
        (
            "corpus.jsonl",
            "scifact-abstracts.txt",
            &["title", "text"][..],
        ),
        ("queries.jsonl", "scifact-claims.txt", &["text"][..]),
    ] {
        let path = beir.join(source);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (pass --beir or --texts)", path.display()))?;
        let mut lines = String::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let record: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{}: a line is not JSON", path.display()))?;
            let parts: Vec<&str> = fields.iter().filter_map(|f| record[f].as_str()).collect();
            lines.push_str(&one_line(&parts));
            lines.push('\n');
        }
        let out = work.join(name);
        std::fs::write(&out, lines).with_context(|| format!("writing {}", out.display()))?;
        files.push(out);
    }
    Ok(files)
}

/// Embeds the texts as ingestion does: sorted by length, `batch` texts per call. Returns the
/// seconds and the vectors of the first `SAMPLE` texts.
fn almanac_run(
    embedder: &Embedder,
    texts: &[String],
    batch: usize,
) -> Result<(f64, Vec<Vec<f32>>)> {
    let started = Instant::now();
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
    let mut sample = vec![Vec::new(); SAMPLE.min(texts.len())];
    for chunk in order.chunks(batch) {
        let refs: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
        for (&i, vector) in chunk.iter().zip(embedder.embed(&refs)?) {
            if i < sample.len() {
                sample[i] = vector;
            }
        }
    }
    Ok((started.elapsed().as_secs_f64(), sample))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b)).max(1e-12)
}

pub fn run(data_dir: Option<PathBuf>, args: IngestionArgs) -> Result<()> {
    if args.runs == 0 || args.batch == 0 {
        bail!("--runs and --batch must be at least 1");
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let machine = crate::bench::machine_description();
    let paths = Paths::new(data_dir);
    let settings = Settings::load(&paths.settings_file())?;
    let embedder = load_embedder(&paths, &settings)?.with_threads(threads);
    let files = if args.texts.is_empty() {
        default_texts(&args.beir, &args.work)?
    } else {
        args.texts.clone()
    };
    let mut reference = if args.no_reference {
        None
    } else {
        let python = args
            .python
            .clone()
            .unwrap_or_else(onnx_reference::default_python);
        Some(Reference::start(&python)?)
    };
    eprintln!(
        "{threads} threads · batches of {} · {} · {machine}",
        args.batch,
        reference
            .as_ref()
            .map_or("no reference".into(), |r| r.build.clone())
    );

    let mut figures = Vec::new();
    for file in &files {
        let texts = read_texts(file)?;
        let tokens: usize = texts
            .iter()
            .map(|t| embedder.count_tokens(t).min(embedder.max_text_tokens()) + 2)
            .sum();
        let (mut ours, mut theirs, mut lowest) = (Vec::new(), Vec::new(), None::<f64>);
        for i in 0..args.runs {
            // The engines take turns going first.
            for side in [i % 2, 1 - i % 2] {
                if side == 0 {
                    let (seconds, sample) = almanac_run(&embedder, &texts, args.batch)?;
                    ours.push((seconds, sample));
                    eprintln!(
                        "{}: Almanac run {} of {}: {:.1} s",
                        file.display(),
                        i + 1,
                        args.runs,
                        seconds
                    );
                } else if let Some(reference) = reference.as_mut() {
                    let run = reference.run(file, threads, args.batch, SAMPLE)?;
                    if run.count != texts.len() {
                        bail!(
                            "{}: the reference read {} texts, Almanac {}",
                            file.display(),
                            run.count,
                            texts.len()
                        );
                    }
                    eprintln!(
                        "{}: ONNX Runtime run {} of {}: {:.1} s",
                        file.display(),
                        i + 1,
                        args.runs,
                        run.seconds
                    );
                    if let Some((_, sample)) = ours.last() {
                        let low = sample
                            .iter()
                            .zip(&run.sample)
                            .map(|(a, b)| cosine(a, b))
                            .fold(f64::INFINITY, f64::min);
                        lowest = Some(lowest.map_or(low, |l| l.min(low)));
                    }
                    theirs.push(run.seconds);
                }
            }
        }
        let per_s = |seconds: Vec<f64>| texts.len() as f64 / median(seconds);
        let almanac_per_s = per_s(ours.iter().map(|(s, _)| *s).collect());
        let reference_per_s = (!theirs.is_empty()).then(|| per_s(theirs));
        figures.push(FileFigures {
            file: file.display().to_string(),
            texts: texts.len(),
            tokens,
            almanac_per_s,
            reference_per_s,
            ratio: reference_per_s.map(|r| almanac_per_s / r),
            lowest_cosine: lowest,
        });
    }
    let report = Report {
        threads,
        batch: args.batch,
        runs: args.runs,
        machine,
        kernels: almanac_engine::kernel_isa().into(),
        reference: reference.as_ref().map(|r| r.build.clone()),
        files: figures,
    };
    crate::bench::print_and_write(
        &report,
        &markdown(&report),
        args.json,
        args.write.as_deref(),
        "ingestion",
    )
}

fn markdown(report: &Report) -> String {
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let mut table = String::from(
        "| texts | count | tokens per text | Almanac | ONNX Runtime | Almanac / ONNX Runtime | lowest cosine between them |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for f in &report.files {
        let name = Path::new(&f.file)
            .file_name()
            .map_or(f.file.clone(), |n| n.to_string_lossy().into_owned());
        table.push_str(&format!(
            "| {name} | {} | {:.1} | {:.1} embeddings/s | {} | {} | {} |\n",
            f.texts,
            f.tokens as f64 / f.texts as f64,
            f.almanac_per_s,
            f.reference_per_s
                .map_or("not measured".into(), |r| format!("{r:.1} embeddings/s")),
            f.ratio.map_or(String::new(), |r| format!("{r:.2}x")),
            f.lowest_cosine.map_or(String::new(), |c| format!("{c:.6}")),
        ));
    }
    format!(
        "## Embedding speed beside ONNX Runtime\n\n\
         `almanac bench ingestion --threads {threads} --runs {runs}` on {date}: all-MiniLM-L6-v2, {threads} threads for \
         both engines, each file's lines embedded with tokenisation and pooling timed, texts sorted by length and \
         handed over {batch} at a time (Almanac: one `Embedder::embed` call per {batch} texts, as ingestion makes \
         them, on its own f32 kernels ({kernels}); ONNX Runtime: batches of {batch} padded to their longest), \
         runs alternating between the engines, median of {runs}. Tokens per text count [CLS] and [SEP] after \
         truncation to 256. Reference: {reference}. Machine: {machine}.\n\n{table}",
        threads = report.threads,
        runs = report.runs,
        batch = report.batch,
        kernels = report.kernels,
        reference = report.reference.as_deref().unwrap_or("not measured"),
        machine = report.machine,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_texts_put_each_record_on_one_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("corpus.jsonl"),
            "{\"_id\":\"1\",\"title\":\"A title\",\"text\":\"First line.\\nSecond  line.\"}\n\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("queries.jsonl"),
            "{\"_id\":\"q\",\"text\":\"A claim.\"}\n",
        )
        .unwrap();
        let files = default_texts(dir.path(), &dir.path().join("work")).unwrap();
        assert_eq!(
            read_texts(&files[0]).unwrap(),
            ["A title First line. Second line."]
        );
        assert_eq!(read_texts(&files[1]).unwrap(), ["A claim."]);
        assert!(read_texts(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn median_and_cosine() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0]), 2.5);
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - 0.5f64.sqrt()).abs() < 1e-12);
    }
}
