import type { ConversationSummary } from '../api/types';
import type { Host } from '../host/types';
import type { Transport } from '../transport/types';
import type { NoticesStore } from './notices';
import { Store } from './store';

export interface ConversationsState {
  items: ConversationSummary[];
  query: string;
  loading: boolean;
}

/** The sidebar's conversation list: search, rename, delete, export. */
export class ConversationsStore extends Store<ConversationsState> {
  private loadSeq = 0;
  /** Called after a conversation is deleted (the chat view leaves it if it is open). */
  onDeleted: (id: string) => void = () => {};

  constructor(
    private readonly transport: Transport,
    private readonly notices: NoticesStore,
  ) {
    super({ items: [], query: '', loading: false });
  }

  /** Loads the list for the current search; a slower earlier answer never overwrites a later one. */
  async load(query = this.get().query): Promise<void> {
    const seq = ++this.loadSeq;
    this.set({ query, loading: true });
    try {
      const items = await this.transport.listConversations(query.trim() || undefined);
      if (seq === this.loadSeq) this.set({ items, loading: false });
    } catch (e) {
      if (seq === this.loadSeq) this.set({ loading: false });
      this.notices.error('Loading conversations', e);
    }
  }

  search(query: string): Promise<void> {
    return this.load(query);
  }

  /** Renames at once in the list; puts the old title back if the backend refuses. */
  async rename(id: string, title: string): Promise<boolean> {
    const clean = title.trim();
    const before = this.get().items.find((c) => c.id === id);
    if (!before || clean === '' || clean === before.title) return false;
    this.replace(id, { title: clean });
    try {
      await this.transport.renameConversation(id, clean);
      return true;
    } catch (e) {
      this.replace(id, { title: before.title });
      this.notices.error('Renaming the conversation', e);
      return false;
    }
  }

  async remove(id: string): Promise<boolean> {
    try {
      await this.transport.deleteConversation(id);
    } catch (e) {
      this.notices.error('Deleting the conversation', e);
      return false;
    }
    this.set((s) => ({ items: s.items.filter((c) => c.id !== id) }));
    this.onDeleted(id);
    return true;
  }

  /** A conversation that a new answer started or touched: put it first without waiting for a reload. */
  touch(summary: ConversationSummary): void {
    this.set((s) => {
      const old = s.items.find((c) => c.id === summary.id);
      const merged = { ...old, ...summary, title: old?.title || summary.title };
      return { items: [merged, ...s.items.filter((c) => c.id !== summary.id)] };
    });
  }

  /** Saves the conversation as Markdown: native save dialog in Tauri, a download in a browser. */
  async exportMarkdown(id: string, host: Host): Promise<void> {
    const title = this.get().items.find((c) => c.id === id)?.title ?? 'conversation';
    const name = `${fileName(title)}.md`;
    try {
      if (host.chooseSavePath) {
        const path = await host.chooseSavePath(name);
        if (path === null) return;
        await this.transport.exportConversation(id, path);
        this.notices.info('Export', `saved to ${path}`);
      } else {
        const markdown = await this.transport.exportConversation(id);
        host.download?.(name, markdown, 'text/markdown');
      }
    } catch (e) {
      this.notices.error('Exporting the conversation', e);
    }
  }

  private replace(id: string, patch: Partial<ConversationSummary>): void {
    this.set((s) => ({ items: s.items.map((c) => (c.id === id ? { ...c, ...patch } : c)) }));
  }
}

/** A file name from a title: letters, digits, dashes; never empty. */
export function fileName(title: string): string {
  const name = title
    .normalize('NFKC')
    .replace(/[^\p{L}\p{N}]+/gu, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  return name || 'conversation';
}
