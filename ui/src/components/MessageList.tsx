import { useLayoutEffect, useRef } from 'react';
import { useApp } from '../context';
import { useStore } from '../stores/store';
import { AnswerMessage } from './AnswerMessage';

/** The conversation, following the streaming answer while the reader is at the bottom. */
export function MessageList() {
  const { chat } = useApp();
  const messages = useStore(chat, (s) => s.messages);
  const loading = useStore(chat, (s) => s.loading);
  const busy = useStore(chat, (s) => s.run !== null);
  const ref = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);

  useLayoutEffect(() => {
    const el = ref.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [messages]);

  const lastAnswer = messages.length > 0 && messages[messages.length - 1]?.role === 'assistant';

  return (
    <div
      ref={ref}
      className="messages"
      data-testid="message-list"
      onScroll={(e) => {
        const el = e.currentTarget;
        atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
      }}
    >
      {messages.length === 0 && !loading && (
        <div className="welcome">
          <h1>Ask your documents</h1>
          <p>Answers come from the local model and cite the passages it was given from your library. Add files in Library.</p>
        </div>
      )}
      {loading && <p className="muted">Loading…</p>}
      {messages.map((m, i) =>
        m.role === 'user' ? (
          <div key={m.id} className="message user" data-testid="user-message">
            <p className="user-text">{m.text}</p>
          </div>
        ) : (
          <AnswerMessage key={m.id} message={m} last={lastAnswer && i === messages.length - 1} busy={busy} />
        ),
      )}
    </div>
  );
}
