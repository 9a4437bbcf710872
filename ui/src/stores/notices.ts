import type { ApiErrorBody } from '../api/types';
import { toApiError } from '../transport/errors';
import { Store } from './store';

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  /** What the app was doing, e.g. "Renaming the conversation". */
  context: string;
  code?: string;
  message: string;
}

/** Errors and confirmations for the banner. Every failed operation ends up here: none is swallowed. */
export class NoticesStore extends Store<{ items: Notice[] }> {
  private next = 1;

  constructor() {
    super({ items: [] });
  }

  error(context: string, error: unknown): ApiErrorBody {
    const e = toApiError(error);
    this.push({ kind: 'error', context, code: e.code, message: e.message });
    return { code: e.code, message: e.message };
  }

  /** A confirmation; it goes away by itself after a few seconds. Errors stay until dismissed. */
  info(context: string, message: string, ttlMs = 4000): void {
    const id = this.push({ kind: 'info', context, message });
    setTimeout(() => this.dismiss(id), ttlMs);
  }

  dismiss(id: number): void {
    this.set((s) => ({ items: s.items.filter((n) => n.id !== id) }));
  }

  private push(notice: Omit<Notice, 'id'>): number {
    const id = this.next++;
    // Keep the last few; older ones scroll away rather than pile up.
    this.set((s) => ({ items: [...s.items, { ...notice, id }].slice(-5) }));
    return id;
  }
}
