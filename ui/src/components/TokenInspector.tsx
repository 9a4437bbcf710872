import { useEffect, useState } from 'react';
import type { Token } from '../api/types';
import { useApp } from '../context';
import { useStore } from '../stores/store';

const EXAMPLE = '계획이 있다';

/** Type text, see how the chat model's tokenizer splits it: pieces, then ids. */
export function TokenInspector() {
  const { tokens: store } = useApp();
  const { tokens, loading, error } = useStore(store);
  const [text, setText] = useState(() => store.get().text || EXAMPLE);

  useEffect(() => {
    const timer = setTimeout(() => void store.tokenize(text), 150);
    return () => clearTimeout(timer);
  }, [text, store]);

  return (
    <section className="tokens" aria-label="Token inspector">
      <label htmlFor="token-text">Text</label>
      <textarea id="token-text" rows={3} value={text} data-testid="token-input" onChange={(e) => setText(e.target.value)} />
      <p className="muted small" aria-live="polite">
        {loading ? 'Tokenizing…' : `${tokens.length} tokens · ${[...text].length} characters · ${new TextEncoder().encode(text).length} UTF-8 bytes`}
      </p>
      {error && (
        <p className="answer-error" role="alert" data-testid="token-error">
          {error}
        </p>
      )}
      {tokens.length > 0 && <p className="muted small">Each box: the vocabulary piece, the text it stands for, its id.</p>}
      <ol className="token-list" data-testid="token-list">
        {tokens.map((t, i) => (
          <li key={i} className="token" data-testid="token" title={`id ${t.id}`}>
            <span className="token-piece">{visible(t.piece)}</span>
            <span className="token-text">{shown(t)}</span>
            <span className="token-id">{t.id}</span>
          </li>
        ))}
      </ol>
      {tokens.length > 0 && (
        <p className="token-ids" data-testid="token-ids">
          [{tokens.map((t) => t.id).join(', ')}]
        </p>
      )}
    </section>
  );
}

/** The token's text, or its bytes in hex when it holds only part of a character. */
function shown(t: Token): string {
  if (t.text.includes('\uFFFD') && t.bytes && t.bytes.length > 0) {
    return t.bytes.map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
  }
  return visible(t.text);
}

/** Makes spaces, newlines and tabs visible in a piece. */
function visible(s: string): string {
  return s.replace(/ /g, '·').replace(/\n/g, '↵').replace(/\t/g, '→') || '∅';
}
