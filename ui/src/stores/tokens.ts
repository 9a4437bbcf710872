import type { Token } from '../api/types';
import type { Transport } from '../transport/types';
import { toApiError } from '../transport/errors';
import { Store } from './store';

export interface TokensState {
  text: string;
  tokens: Token[];
  loading: boolean;
  error: string | null;
}

/** The token inspector: how the current chat model splits a text into pieces and ids. */
export class TokensStore extends Store<TokensState> {
  private seq = 0;

  constructor(private readonly transport: Transport) {
    super({ text: '', tokens: [], loading: false, error: null });
  }

  async tokenize(text: string): Promise<void> {
    const seq = ++this.seq;
    this.set({ text, loading: text !== '', error: null });
    if (text === '') {
      this.set({ tokens: [] });
      return;
    }
    try {
      const tokens = await this.transport.tokenize(text);
      if (seq === this.seq) this.set({ tokens, loading: false });
    } catch (e) {
      // Shown in the inspector itself, next to the text that failed.
      if (seq === this.seq) this.set({ tokens: [], loading: false, error: toApiError(e).message });
    }
  }
}
