import type { Catalogue, PullEvent, PullRequest } from '../api/types';
import type { Transport } from '../transport/types';
import type { NoticesStore } from './notices';
import type { SettingsStore } from './settings';
import { Store } from './store';

/** The download in progress: which file, how far, how fast. */
export interface Pull {
  pullId: string | null;
  /** The file being downloaded (its name in the models folder). */
  file: string;
  downloaded: number;
  total: number;
  bytesPerSecond: number;
  secondsLeft: number | null;
  resumedFrom: number;
  cancelling: boolean;
}

export interface DownloadsState {
  catalogue: Catalogue | null;
  loading: boolean;
  pull: Pull | null;
}

/** The model catalogue, one download at a time with its progress, choosing and removing models. */
export class DownloadsStore extends Store<DownloadsState> {
  constructor(
    private readonly transport: Transport,
    private readonly settings: SettingsStore,
    private readonly notices: NoticesStore,
  ) {
    super({ catalogue: null, loading: false, pull: null });
  }

  async load(): Promise<void> {
    this.set({ loading: true });
    try {
      this.set({ catalogue: await this.transport.getModelCatalogue(), loading: false });
    } catch (e) {
      this.set({ loading: false });
      this.notices.error('Loading the model catalogue', e);
    }
  }

  /** Downloads a model; the catalogue and the local models are reloaded when it ends. Resolves to
   *  the downloaded file's path, or null when it failed or was cancelled. */
  async pull(request: PullRequest): Promise<string | null> {
    if (this.get().pull) return null;
    const file = 'name' in request ? (this.entryFile(request.name) ?? request.name) : baseName(request.file);
    this.set({
      pull: { pullId: null, file, downloaded: 0, total: 0, bytesPerSecond: 0, secondsLeft: null, resumedFrom: 0, cancelling: false },
    });
    let path: string | null = null;
    await this.transport.pullModel(request, (event: PullEvent) => {
      switch (event.event) {
        case 'started':
          this.patch({ pullId: event.pull_id });
          return;
        case 'progress':
          this.patch({
            downloaded: event.downloaded,
            total: event.total,
            bytesPerSecond: event.bytes_per_second,
            secondsLeft: event.seconds_left,
            resumedFrom: event.resumed_from,
          });
          return;
        case 'done':
          path = event.model.path;
          this.notices.info('Download', event.already_present ? `${file} was already downloaded` : `downloaded ${file}`);
          return;
        case 'error':
          if (event.code !== 'cancelled') this.notices.error(`Downloading ${file}`, event);
          else this.notices.info('Download', `cancelled ${file}`);
          return;
      }
    });
    this.set({ pull: null });
    await Promise.all([this.load(), this.settings.load()]);
    return path;
  }

  async cancel(): Promise<void> {
    const pull = this.get().pull;
    if (!pull?.pullId) return;
    this.patch({ cancelling: true });
    try {
      await this.transport.cancelPull(pull.pullId);
    } catch (e) {
      this.patch({ cancelling: false });
      this.notices.error('Cancelling the download', e);
    }
  }

  /** Makes a downloaded model the chat model (the `chat_model` setting: its file name). */
  async use(path: string): Promise<boolean> {
    const current = this.settings.get().settings ?? (await this.settings.load(), this.settings.get().settings);
    if (!current) return false;
    return this.settings.save({ ...current, chat_model: baseName(path) });
  }

  async remove(name: string): Promise<boolean> {
    try {
      await this.transport.removeModel(name);
      this.notices.info('Models', `removed ${name}`);
      await Promise.all([this.load(), this.settings.load()]);
      return true;
    } catch (e) {
      this.notices.error(`Removing ${name}`, e);
      return false;
    }
  }

  private entryFile(name: string): string | undefined {
    return this.get().catalogue?.models.find((m) => m.name === name)?.file;
  }

  private patch(patch: Partial<Pull>): void {
    this.set((s) => ({ pull: s.pull && { ...s.pull, ...patch } }));
  }
}

export function baseName(path: string): string {
  return path.split(/[\\/]/).filter(Boolean).pop() ?? path;
}
