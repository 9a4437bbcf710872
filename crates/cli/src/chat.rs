//! `almanac chat`: a conversation in the terminal, with retrieval on every question.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use almanac_core::{Assistant, CancelFlag, ChatMessage};
use anyhow::Result;

use crate::output;

const HELP: &str = "Type a question and press Enter. /new starts a new conversation, /quit leaves. Ctrl-C stops an answer.";

pub fn run(assistant: &Assistant) -> Result<()> {
    let interactive = std::io::stdin().is_terminal();
    let current = Arc::new(Mutex::new(CancelFlag::default()));
    let generating = Arc::new(AtomicBool::new(false));
    {
        let (current, generating) = (current.clone(), generating.clone());
        // Ctrl-C during an answer stops it; at the prompt it leaves.
        let _ = ctrlc::set_handler(move || {
            if generating.load(Ordering::SeqCst) {
                current.lock().expect("cancel flag lock").cancel();
            } else {
                std::process::exit(130);
            }
        });
    }
    let stats = assistant.index().stats()?;
    eprintln!(
        "Almanac — {} documents, {} passages in {}. {HELP}",
        stats.documents,
        stats.chunks,
        assistant.paths().data_dir.display()
    );
    assistant.chat_model()?;

    let mut history: Vec<ChatMessage> = Vec::new();
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
                history.clear();
                eprintln!("(new conversation)");
                continue;
            }
            "/help" => {
                eprintln!("{HELP}");
                continue;
            }
            _ => {}
        }
        let cancel = CancelFlag::default();
        *current.lock().expect("cancel flag lock") = cancel.clone();
        generating.store(true, Ordering::SeqCst);
        print!("almanac> ");
        let result = assistant.ask(&line, &history, &cancel, &mut |event| {
            output::stream_event(&mut stdout, &event)
        });
        generating.store(false, Ordering::SeqCst);
        match result {
            Ok(answer) => {
                output::print_sources(&mut stdout, &answer)?;
                history.push(ChatMessage {
                    role: "user".into(),
                    content: line.trim().to_owned(),
                });
                history.push(ChatMessage {
                    role: "assistant".into(),
                    content: answer.answer,
                });
            }
            Err(e) => eprintln!("\nerror: {e}"),
        }
    }
    Ok(())
}
