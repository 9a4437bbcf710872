import type { ErrorEvent } from '../api/types';
import { toApiError } from './errors';

/**
 * Wraps a listener so the stream contract holds whatever the backend does: events after the
 * terminal one are ignored, and a stream that ends (or fails) without one gets an `error` event.
 */
export function guardStream<E extends { event: string }>(
  onEvent: (event: E) => void,
  isEnd: (event: E) => boolean,
): { emit: (event: E) => void; fail: (error: unknown) => void; finish: () => void } {
  let ended = false;
  const emit = (event: E) => {
    if (ended) return;
    if (isEnd(event)) ended = true;
    onEvent(event);
  };
  const fail = (error: unknown) => {
    if (ended) return;
    const e = toApiError(error, 'stream_failed');
    emit({ event: 'error', code: e.code, message: e.message } as ErrorEvent as unknown as E);
  };
  const finish = () => {
    if (!ended) fail({ code: 'stream_ended', message: 'the backend closed the stream before the run finished' });
  };
  return { emit, fail, finish };
}

/** Checks that a decoded event is an object with a string "event" tag. */
export function asEvent(value: unknown): { event: string } | null {
  if (typeof value === 'object' && value !== null && typeof (value as { event?: unknown }).event === 'string') {
    return value as { event: string };
  }
  return null;
}
