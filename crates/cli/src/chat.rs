//! `almanac chat`: a conversation in the terminal, with retrieval on every question, stored like
//! the app's conversations.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use almanac_core::{App, AskOptions, RunEvent};
use anyhow::Result;

use crate::output;

const HELP: &str = "Type a question and press Enter. /new starts a new conversation, /quit leaves. Ctrl-C stops an answer.";

pub fn run(app: &Arc<App>, mut conversation: Option<String>) -> Result<()> {
    let interactive = std::io::stdin().is_terminal();
    let current: Arc<Mutex<Option<String>>> = Arc::default();
    let generating = Arc::new(AtomicBool::new(false));
    {
        let (current, generating, app) = (current.clone(), generating.clone(), app.clone());
        // Ctrl-C during an answer stops it; at the prompt it leaves.
        let _ = ctrlc::set_handler(move || {
            if generating.load(Ordering::SeqCst) {
                if let Some(run) = current.lock().unwrap_or_else(|e| e.into_inner()).as_deref() {
                    let _ = app.cancel_run(run);
                }
            } else {
                std::process::exit(130);
            }
        });
    }
    if let Some(id) = &conversation {
        let c = app.get_conversation(id)?;
        eprintln!(
            "(continuing \"{}\", {} messages)",
            c.title,
            c.messages.len()
        );
    }
    let assistant = app.assistant();
    let stats = assistant.index().stats()?;
    eprintln!(
        "Almanac — {} documents, {} passages in {}. {HELP}",
        stats.documents,
        stats.chunks,
        assistant.paths().data_dir.display()
    );
    // A local model is loaded now, so the first answer does not wait for it.
    if assistant.settings().backend == almanac_core::Backend::Local {
        assistant.chat_model()?;
    }

    let mut stdout = std::io::stdout();
    let mut lines = std::io::stdin().lock().lines();
    loop {
        if interactive {
            print!("\nyou> ");
            stdout.flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line?;
        match line.trim() {
            "" => continue,
            "/quit" | "/exit" => break,
            "/new" => {
                conversation = None;
                eprintln!("(new conversation)");
                continue;
            }
            "/help" => {
                eprintln!("{HELP}");
                continue;
            }
            _ => {}
        }
        generating.store(true, Ordering::SeqCst);
        print!("almanac> ");
        let continuing = conversation.clone();
        let result = app.ask(
            continuing.as_deref(),
            &line,
            &AskOptions::default(),
            &mut |event| {
                if let RunEvent::Started {
                    run_id,
                    conversation_id,
                    ..
                } = &event
                {
                    *current.lock().unwrap_or_else(|e| e.into_inner()) = Some(run_id.clone());
                    conversation = Some(conversation_id.clone());
                }
                output::stream_event(&mut stdout, &event)
            },
        );
        generating.store(false, Ordering::SeqCst);
        match result {
            Ok(outcome) => match (outcome.answer, outcome.error) {
                (Some(answer), _) => output::print_sources(&mut stdout, &answer)?,
                (None, Some(error)) => eprintln!("\nerror: {}", error.message),
                (None, None) => {}
            },
            Err(e) => eprintln!("\nerror: {e}"),
        }
    }
    Ok(())
}
