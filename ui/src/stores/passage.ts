import type { DocumentText, Passage } from '../api/types';
import type { Transport } from '../transport/types';
import type { NoticesStore } from './notices';
import { Store } from './store';

export interface PassageState {
  passage: Passage | null;
  document: DocumentText | null;
  loading: boolean;
  error: string | null;
}

/** The passage view: a cited passage shown highlighted in its document. */
export class PassageStore extends Store<PassageState> {
  private seq = 0;

  constructor(
    private readonly transport: Transport,
    private readonly notices: NoticesStore,
  ) {
    super({ passage: null, document: null, loading: false, error: null });
  }

  async open(passage: Passage): Promise<void> {
    const seq = ++this.seq;
    this.set({ passage, document: null, loading: true, error: null });
    if (isWebAddress(passage.path)) {
      // A web page has no local document; the passage text is all there is to show.
      this.set({ loading: false });
      return;
    }
    try {
      const document = await this.transport.getDocument(passage.path, passage.line_start, passage.line_end);
      if (seq === this.seq) this.set({ document, loading: false });
    } catch (e) {
      const error = this.notices.error(`Opening ${passage.path}`, e);
      if (seq === this.seq) this.set({ loading: false, error: error.message });
    }
  }

  close(): void {
    this.seq++;
    this.set({ passage: null, document: null, loading: false, error: null });
  }
}

export function isWebAddress(path: string): boolean {
  return /^https?:\/\//i.test(path);
}
