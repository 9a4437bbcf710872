import { useRef, useState, type KeyboardEvent } from 'react';
import { useApp } from '../context';
import { useStore } from '../stores/store';

/** The question box: Enter sends, Shift+Enter starts a new line, Esc stops the answer. */
export function Composer() {
  const { chat } = useApp();
  const run = useStore(chat, (s) => s.run);
  const web = useStore(chat, (s) => s.web);
  const [text, setText] = useState('');
  const ref = useRef<HTMLTextAreaElement>(null);

  const send = () => {
    if (chat.send(text)) setText('');
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    // An IME (Korean, Japanese, Chinese) uses Enter to commit its composition: never send then.
    if (e.nativeEvent.isComposing || e.keyCode === 229) return;
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      send();
    } else if (e.key === 'Escape' && run) {
      e.preventDefault();
      void chat.stop();
    }
  };

  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <textarea
        ref={ref}
        rows={2}
        value={text}
        placeholder="Ask a question (Enter sends, Shift+Enter for a new line)"
        aria-label="Question"
        data-testid="question"
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
      />
      <div className="composer-actions">
        <label className="toggle" title="Also search the web (fetching happens in the backend)">
          <input type="checkbox" checked={web} data-testid="web-toggle" onChange={(e) => chat.setWeb(e.target.checked)} />
          Web
        </label>
        {run ? (
          <button type="button" className="danger" data-testid="stop" disabled={run.status === 'stopping'} onClick={() => void chat.stop()}>
            {run.status === 'stopping' ? 'Stopping…' : 'Stop'}
          </button>
        ) : (
          <button type="submit" className="primary" data-testid="send" disabled={text.trim() === ''}>
            Send
          </button>
        )}
      </div>
    </form>
  );
}
