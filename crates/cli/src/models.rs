//! `almanac models`: the catalogue with the memory verdict and the speed to expect, pulling a model
//! from the hub (a progress bar with bytes, rate and time left; Ctrl-C or a broken connection
//! keeps the partial file and the next pull resumes it), and removing one.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use almanac_core::downloads::{self, ModelSource};
use almanac_core::{Paths, Settings};
use anyhow::Result;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// The recommended models: size, licence, the memory each needs at the configured context
    /// beside the memory free now, and the speed to expect on this machine (scaled from a short
    /// measurement of the engine on the current chat model)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Download a catalogue model (NAME) or any GGUF file of a Hugging Face repository (REPO FILE)
    /// into the models folder: resumed if interrupted, sha256 checked against the hub. HF_ENDPOINT
    /// names a mirror, HF_TOKEN is sent for gated repositories
    Pull {
        #[arg(required = true, num_args = 1..=2, value_names = ["NAME|REPO", "FILE"])]
        model: Vec<String>,
        /// A branch, tag or commit of the repository (REPO FILE only)
        #[arg(long, default_value = "main")]
        revision: String,
        /// Also make it the chat model (the `chat_model` setting)
        #[arg(long = "use")]
        use_it: bool,
    },
    /// Delete a downloaded model (catalogue name or file name) and any unfinished download of it
    Rm { name: String },
}

pub fn run(paths: &Paths, command: ModelsCommand) -> Result<()> {
    match command {
        ModelsCommand::List { json } => list(paths, json),
        ModelsCommand::Pull {
            model,
            revision,
            use_it,
        } => pull(paths, &model, &revision, use_it),
        ModelsCommand::Rm { name } => {
            let settings = Settings::load(&paths.settings_file())?;
            let current = paths.resolve_model(&settings.chat_model);
            let removed = downloads::remove(paths, &name, &current)?;
            println!("removed {}", removed.display());
            Ok(())
        }
    }
}

fn list(paths: &Paths, json: bool) -> Result<()> {
    let settings = Settings::load(&paths.settings_file())?;
    let measured = almanac_core::speed::measured(paths, &settings);
    let models = downloads::catalogue(
        paths,
        settings.context_length,
        downloads::available_memory(),
        measured.as_ref(),
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&models)?);
        return Ok(());
    }
    let human = almanac_core::downloads::human_bytes;
    println!(
        "{:<22} {:<24} {:>9} {:>10}  {:<11} {:>13}  licence",
        "NAME", "MODEL", "SIZE", "MEMORY", "FITS", "PREFILL/DECODE"
    );
    for m in &models {
        let speed = m
            .speed
            .as_ref()
            .map(|s| {
                format!(
                    "{:.0}/{:.1} t/s",
                    s.prefill_tokens_per_second, s.decode_tokens_per_second
                )
            })
            .unwrap_or_else(|| "-".into());
        let mark = if m.downloaded { "*" } else { " " };
        println!(
            "{mark}{:<21} {:<24} {:>9} {:>10}  {:<11} {:>13}  {}",
            m.entry.name,
            format!("{} {}", m.entry.title, m.entry.quantisation),
            human(m.entry.size_bytes),
            human(m.memory_bytes),
            serde_json::to_value(m.verdict)?
                .as_str()
                .unwrap_or_default(),
            speed,
            m.entry.licence
        );
    }
    let free = downloads::available_memory()
        .map(human)
        .unwrap_or_else(|| "unknown".into());
    let basis = measured
        .map(|m| {
            format!(
                "speeds estimated from {:.0} prefill and {:.1} decode tokens/s measured on {} (prefill scaled by parameters, decode by weight bytes)",
                m.prefill_tokens_per_second,
                m.decode_tokens_per_second,
                PathBuf::from(&m.model).file_name().unwrap_or_default().to_string_lossy()
            )
        })
        .unwrap_or_else(|| "no speed estimate: the chat model could not be loaded".into());
    println!(
        "* downloaded. Memory: weights + key/value cache at a {}-token context; {free} free now.\n{basis}",
        settings.context_length
    );
    Ok(())
}

fn pull(paths: &Paths, words: &[String], revision: &str, use_it: bool) -> Result<()> {
    let mut source = ModelSource::from_args(words)?;
    if let ModelSource::Repo(file) = &mut source {
        file.revision = revision.to_owned();
    }
    let source = source.resolve()?;
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} {eta} left",
        )
        .expect("valid template"),
    );
    bar.set_message(source.local_name().to_owned());
    let cancel = AtomicBool::new(false);
    let mut started = false;
    let pulled = downloads::pull(paths, &source, &cancel, &mut |p| {
        if !started {
            started = true;
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(p.total);
            if p.resumed_from > 0 {
                bar.suspend(|| eprintln!("resuming from byte {}", p.resumed_from));
            }
            bar.reset_eta();
        }
        bar.set_position(p.downloaded);
    });
    bar.finish_and_clear();
    let pulled = pulled?;
    if pulled.already_present {
        println!("already downloaded: {}", pulled.path.display());
    } else {
        println!(
            "downloaded {} ({} bytes, sha256 {} verified)",
            pulled.path.display(),
            pulled.size,
            pulled.sha256
        );
    }
    if use_it {
        let mut settings = Settings::load(&paths.settings_file())?;
        settings.chat_model = pulled
            .path
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        std::fs::create_dir_all(&paths.data_dir)?;
        settings.save(&paths.settings_file())?;
        println!("chat model set to {}", settings.chat_model.display());
    }
    Ok(())
}
