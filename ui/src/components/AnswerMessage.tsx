import { useMemo, useState } from 'react';
import type { Passage } from '../api/types';
import { useApp } from '../context';
import type { ChatMessage } from '../stores/chat';
import { AnswerStatus } from './AnswerStatus';
import { AttributionPanel } from './AttributionPanel';
import { EvidencePanel } from './EvidencePanel';
import { Markdown } from './Markdown';
import { SourcesPanel } from './SourcesPanel';

const NO_PASSAGES: Passage[] = [];

interface Props {
  message: ChatMessage;
  /** The last message of the conversation: it can be regenerated. */
  last: boolean;
  busy: boolean;
}

/** One answer: its sources, its text (Markdown with [n] citations), its status and actions. */
export function AnswerMessage({ message, last, busy }: Props) {
  const { chat, passage, notices } = useApp();
  const [copied, setCopied] = useState(false);
  const passages = message.retrieval?.passages ?? NO_PASSAGES;
  const known = useMemo(() => new Set(passages.map((p) => p.n)), [passages]);

  const cite = (n: number) => {
    const p = passages.find((x) => x.n === n);
    if (p) void passage.open(p);
  };

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(message.text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch (e) {
      notices.error('Copying the answer', e);
    }
  };

  return (
    <article className="message assistant" data-testid="answer" data-pending={message.pending ? 'true' : undefined}>
      {message.evidence && <EvidencePanel evidence={message.evidence} passages={passages} />}
      {message.retrieval && (
        <SourcesPanel retrieval={message.retrieval} cited={message.cited ?? []} attributed={message.attributed ?? []} />
      )}
      <Markdown className="answer-text" testId="answer-text" text={message.text} citations={known} onCite={cite} />
      {message.sentences && !message.pending && <AttributionPanel sentences={message.sentences} onCite={cite} />}
      {message.pending && message.text === '' && <p className="muted thinking">Thinking…</p>}
      <AnswerStatus message={message} />
      {message.model && (
        <div className="muted small answer-model" data-testid="answer-model">
          {message.model}
        </div>
      )}
      {!message.pending && (
        <div className="answer-actions">
          <button type="button" className="ghost small" data-testid="copy" onClick={() => void copy()}>
            {copied ? 'Copied' : 'Copy'}
          </button>
          {last && (
            <button type="button" className="ghost small" data-testid="regenerate" disabled={busy} onClick={() => chat.regenerate()}>
              Regenerate
            </button>
          )}
        </div>
      )}
    </article>
  );
}
