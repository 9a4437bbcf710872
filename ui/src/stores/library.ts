import type { EmbedderChosenEvent, IngestEvent, LibraryDocument } from '../api/types';
import type { Transport } from '../transport/types';
import type { NoticesStore } from './notices';
import { Store } from './store';

export interface IngestProgress {
  running: boolean;
  /** Files the backend plans to read; null until it says. */
  total: number | null;
  done: number;
  failed: number;
  skipped: string[];
  /** Chunks embedded per second and the seconds left, from the latest `progress` event (the time
   *  left is null while the backend cannot estimate it yet). */
  chunksPerSecond: number | null;
  secondsLeft: number | null;
  /** The `finished` event's report, once there is one. */
  report: Record<string, unknown> | null;
}

export interface LibraryState {
  documents: LibraryDocument[];
  loading: boolean;
  ingest: IngestProgress | null;
  /** Paths with a remove or re-index in flight. */
  busy: string[];
}

/** After a change from the folder watcher, the list is reloaded this long after the last one. */
const RELOAD_AFTER_MS = 300;

/** The document library: per-file status, adding with progress, remove, re-index, and the changes
 *  the backend's folder watcher makes while the app runs. */
export class LibraryStore extends Store<LibraryState> {
  constructor(
    private readonly transport: Transport,
    private readonly notices: NoticesStore,
  ) {
    super({ documents: [], loading: false, ingest: null, busy: [] });
  }

  async load(): Promise<void> {
    this.set({ loading: true });
    try {
      const documents = await this.transport.listDocuments();
      this.set({ documents, loading: false });
    } catch (e) {
      this.set({ loading: false });
      this.notices.error('Loading the library', e);
    }
  }

  /** Follows the backend's folder watcher: each change it makes shows at once, and the list is
   *  reloaded shortly after (a burst of changes, one reload). Returns the function that stops. */
  follow(): () => void {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const reload = () => {
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        void this.load();
      }, RELOAD_AFTER_MS);
    };
    const stop = this.transport.watchLibrary((change) => {
      switch (change.event) {
        case 'indexed':
          this.upsert(change.path, { status: 'indexed', chunks: change.chunks, error: null });
          reload();
          return;
        case 'failed':
          this.upsert(change.path, { status: 'failed', error: change.error });
          reload();
          return;
        case 'removed':
          this.set((s) => ({ documents: s.documents.filter((d) => d.path !== change.path) }));
          reload();
          return;
        case 'embedder_chosen':
          this.tellEmbedderChoice(change);
          return;
        case 'error':
          this.notices.error('Following the library folders', change);
          return;
        default:
          return;
      }
    });
    return () => {
      if (timer !== null) clearTimeout(timer);
      stop();
    };
  }

  /** Adds files and folders; resolves when the backend has finished with all of them. */
  async add(paths: string[]): Promise<void> {
    const clean = [...new Set(paths.map((p) => p.trim()).filter((p) => p !== ''))];
    if (clean.length === 0 || this.get().ingest?.running) return;
    this.set({
      ingest: {
        running: true,
        total: null,
        done: 0,
        failed: 0,
        skipped: [],
        chunksPerSecond: null,
        secondsLeft: null,
        report: null,
      },
    });
    await this.transport.addDocuments(clean, (event) => this.onIngest(event));
    await this.load();
  }

  async remove(path: string): Promise<void> {
    await this.whileBusy(path, async () => {
      try {
        await this.transport.removeDocument(path);
        this.set((s) => ({ documents: s.documents.filter((d) => d.path !== path) }));
      } catch (e) {
        this.notices.error(`Removing ${path}`, e);
      }
    });
  }

  async reindex(path: string): Promise<void> {
    await this.whileBusy(path, async () => {
      this.upsert(path, { status: 'indexing', error: null });
      try {
        await this.transport.reindexDocument(path);
      } catch (e) {
        const error = this.notices.error(`Re-indexing ${path}`, e);
        this.upsert(path, { status: 'failed', error: error.message });
        return;
      }
      await this.load();
    });
  }

  dismissProgress(): void {
    if (!this.get().ingest?.running) this.set({ ingest: null });
  }

  private onIngest(event: IngestEvent): void {
    const progress = (patch: (p: IngestProgress) => Partial<IngestProgress>) =>
      this.set((s) => (s.ingest ? { ingest: { ...s.ingest, ...patch(s.ingest) } } : {}));
    switch (event.event) {
      case 'embedder_chosen':
        this.tellEmbedderChoice(event);
        return;
      case 'planned':
        progress(() => ({ total: event.files, skipped: event.skipped ?? [] }));
        return;
      case 'indexing':
        this.upsert(event.path, { status: 'indexing', error: null });
        return;
      case 'indexed':
        this.upsert(event.path, { status: 'indexed', chunks: event.chunks, error: null });
        progress((p) => ({ done: p.done + 1 }));
        return;
      case 'unchanged':
        this.upsert(event.path, { status: 'indexed', error: null });
        progress((p) => ({ done: p.done + 1 }));
        return;
      case 'failed':
        this.upsert(event.path, { status: 'failed', error: event.error });
        progress((p) => ({ done: p.done + 1, failed: p.failed + 1 }));
        return;
      case 'progress':
        progress(() => ({ chunksPerSecond: event.chunks_per_second, secondsLeft: event.seconds_left }));
        return;
      case 'finished': {
        const { event: _tag, ...report } = event;
        progress(() => ({ running: false, secondsLeft: null, report }));
        return;
      }
      case 'error':
        this.notices.error('Adding documents', event);
        progress(() => ({ running: false }));
        return;
    }
  }

  private tellEmbedderChoice({ model, installed }: EmbedderChosenEvent): void {
    this.notices.info(
      'Embedding model',
      installed
        ? `Most of these documents are Chinese, Japanese or Korean: the library uses ${model}.`
        : `Most of these documents are Chinese, Japanese or Korean, but ${model} is not installed: the library stays on the English embedder (see the README).`,
      15000,
    );
  }

  private upsert(path: string, patch: Partial<LibraryDocument>): void {
    this.set((s) => {
      const found = s.documents.some((d) => d.path === path);
      const documents = found
        ? s.documents.map((d) => (d.path === path ? { ...d, ...patch } : d))
        : [...s.documents, { path, title: baseName(path), status: 'queued' as const, chunks: 0, ...patch }];
      return { documents };
    });
  }

  private async whileBusy(path: string, work: () => Promise<void>): Promise<void> {
    if (this.get().busy.includes(path)) return;
    this.set((s) => ({ busy: [...s.busy, path] }));
    try {
      await work();
    } finally {
      this.set((s) => ({ busy: s.busy.filter((p) => p !== path) }));
    }
  }
}

export function baseName(path: string): string {
  const parts = path.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? path;
}
