//! `--backend-url` and `--backend-model`: answers from an OpenAI-compatible endpoint for this run,
//! whatever the settings say (not saved). The key comes from ALMANAC_BACKEND_KEY, or as a
//! configured endpoint's settings say. `almanac backend-key` keeps a key in the OS keyring.

use std::io::BufRead;

use almanac_core::{backend_key, Assistant, Backend, Paths, Settings};
use anyhow::Context;
use clap::{Args, Subcommand};

#[derive(Args, Clone, Default)]
pub struct BackendArgs {
    /// Generate answers with this OpenAI-compatible endpoint (e.g. http://gpu-box:8000/v1, a vLLM
    /// or llama-server) instead of the local model; retrieval and citations stay local. Its key,
    /// if it needs one, is read from ALMANAC_BACKEND_KEY (or, when an endpoint is configured, from
    /// where its settings say: api_key_from "keyring" reads the OS keyring entry for this URL)
    #[arg(long, value_name = "URL")]
    pub backend_url: Option<String>,
    /// The model name the endpoint serves (with --backend-url, or to rename the configured one)
    #[arg(long, value_name = "NAME")]
    pub backend_model: Option<String>,
}

impl BackendArgs {
    /// Puts the endpoint into this process's settings. A configured endpoint keeps its context
    /// length, key variable and timeout.
    pub fn apply(&self, assistant: &Assistant) -> anyhow::Result<()> {
        if self.backend_url.is_none() && self.backend_model.is_none() {
            return Ok(());
        }
        let mut backend = match (assistant.settings().backend, &self.backend_url) {
            (configured @ Backend::Openai { .. }, _) => configured,
            (Backend::Local, Some(url)) => Backend::openai(url, None),
            (Backend::Local, None) => {
                anyhow::bail!("--backend-model needs --backend-url (no endpoint is configured)")
            }
        };
        if let Backend::Openai {
            base_url, model, ..
        } = &mut backend
        {
            if let Some(url) = &self.backend_url {
                *base_url = url.trim_end_matches('/').to_owned();
            }
            if let Some(name) = &self.backend_model {
                *model = name.clone();
            }
        }
        assistant.update_settings(|s| s.backend = backend);
        Ok(())
    }
}

/// `almanac backend-key`: the endpoint's API key in the OS keyring (settings `api_key_from:
/// "keyring"`), so it is in neither settings.json nor the shell's environment.
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Store the key, read from standard input (its first line), replacing any earlier one
    Set(KeyUrl),
    /// Remove the key
    Delete(KeyUrl),
    /// Say whether a key is stored (never prints it)
    Status(KeyUrl),
}

#[derive(Args)]
pub struct KeyUrl {
    /// The endpoint's base URL (default: the configured backend's)
    #[arg(long, value_name = "URL")]
    url: Option<String>,
}

pub fn run_key(paths: &Paths, command: KeyCommand) -> anyhow::Result<()> {
    let (KeyCommand::Set(target) | KeyCommand::Delete(target) | KeyCommand::Status(target)) =
        &command;
    let url = match &target.url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => match Settings::load(&paths.settings_file())?.backend {
            Backend::Openai { base_url, .. } => base_url,
            Backend::Local => {
                anyhow::bail!("no endpoint is configured (backend is local): name one with --url")
            }
        },
    };
    match command {
        KeyCommand::Set(_) => {
            let mut key = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut key)
                .context("reading the key from standard input")?;
            backend_key::store(&url, key.trim())?;
            eprintln!("stored the API key of {url} in the OS keyring");
        }
        KeyCommand::Delete(_) => {
            let removed = backend_key::delete(&url)?;
            eprintln!(
                "{}",
                if removed {
                    format!("removed the API key of {url} from the OS keyring")
                } else {
                    format!("the OS keyring held no API key for {url}")
                }
            );
        }
        KeyCommand::Status(_) => {
            let stored = backend_key::is_stored(&url)?;
            println!("{}", if stored { "stored" } else { "none" });
        }
    }
    Ok(())
}
