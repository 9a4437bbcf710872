//! `--backend-url` and `--backend-model`: answers from an OpenAI-compatible endpoint for this run,
//! whatever the settings say (not saved). The key comes from ALMANAC_BACKEND_KEY.

use almanac_core::{Assistant, Backend};
use clap::Args;

#[derive(Args, Clone, Default)]
pub struct BackendArgs {
    /// Generate answers with this OpenAI-compatible endpoint (e.g. http://gpu-box:8000/v1, a vLLM
    /// or llama-server) instead of the local model; retrieval and citations stay local. Its key,
    /// if it needs one, is read from ALMANAC_BACKEND_KEY
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
