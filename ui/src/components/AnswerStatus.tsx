import type { Timings } from '../api/types';
import type { ChatMessage } from '../stores/chat';

const STOPS: Record<string, string> = {
  cancelled: 'Stopped.',
  max_tokens: 'Cut off at the answer length limit.',
  context_full: 'Cut off: the context window is full.',
  repetition: 'Stopped: the answer began repeating itself (the repeats are not kept).',
};

/** Why the answer ended (when that matters) and how long it took. */
export function AnswerStatus({ message }: { message: ChatMessage }) {
  const stop = message.stop_reason ? STOPS[message.stop_reason] : undefined;
  const t = message.timings;
  return (
    <>
      {message.error && (
        <p className="answer-error" role="alert" data-testid="answer-error">
          {message.error.message} <code>{message.error.code}</code>
        </p>
      )}
      {message.interrupted && !message.error && <p className="answer-error">This answer was interrupted.</p>}
      {stop && (
        <p className="muted small" data-testid="stop-reason">
          {stop}
        </p>
      )}
      {t && (
        <p className="muted small timings" data-testid="timings">
          {t.tokens} tokens · {t.tokens_per_s.toFixed(1)} tokens/s · first token {ms(t.ttft_ms)} · retrieval {ms(t.retrieval_ms)} · {promptTokens(t)} · total {ms(t.total_ms)}
        </p>
      )}
    </>
  );
}

/** `412 prompt tokens (380 cached)`; the cached part only when some were reused. */
function promptTokens(t: Timings): string {
  const cached = t.cached_tokens ? ` (${t.cached_tokens} cached)` : '';
  return `${t.prompt_tokens} prompt tokens${cached}`;
}

function ms(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}
