import type { Models, Settings } from '../api/types';
import type { Transport } from '../transport/types';
import type { NoticesStore } from './notices';
import { Store } from './store';

export interface SettingsState {
  models: Models | null;
  settings: Settings | null;
  loading: boolean;
  saving: boolean;
  importing: boolean;
}

/** The models in use and the answer settings (context, sampling, system prompt, retrieval). */
export class SettingsStore extends Store<SettingsState> {
  constructor(
    private readonly transport: Transport,
    private readonly notices: NoticesStore,
  ) {
    super({ models: null, settings: null, loading: false, saving: false, importing: false });
  }

  async load(): Promise<void> {
    this.set({ loading: true });
    const [models, settings] = await Promise.allSettled([this.transport.getModels(), this.transport.getSettings()]);
    if (models.status === 'fulfilled') this.set({ models: models.value });
    else this.notices.error('Loading the models', models.reason);
    if (settings.status === 'fulfilled') this.set({ settings: settings.value });
    else this.notices.error('Loading the settings', settings.reason);
    this.set({ loading: false });
  }

  /** Saves; the backend validates and answers with what it stored. */
  async save(settings: Settings): Promise<boolean> {
    this.set({ saving: true });
    try {
      const saved = await this.transport.putSettings(settings);
      this.set({ settings: saved ?? settings, saving: false });
      this.notices.info('Settings', 'saved');
      if (saved?.chat_model !== undefined || saved?.embedding_model !== undefined) await this.loadModels();
      return true;
    } catch (e) {
      this.set({ saving: false });
      this.notices.error('Saving the settings', e);
      return false;
    }
  }

  async importModel(path: string): Promise<boolean> {
    const clean = path.trim();
    if (clean === '') return false;
    this.set({ importing: true });
    try {
      await this.transport.importModel(clean);
      this.set({ importing: false });
      this.notices.info('Import', `imported ${clean}`);
      await this.loadModels();
      return true;
    } catch (e) {
      this.set({ importing: false });
      this.notices.error('Importing the model', e);
      return false;
    }
  }

  private async loadModels(): Promise<void> {
    try {
      this.set({ models: await this.transport.getModels() });
    } catch (e) {
      this.notices.error('Loading the models', e);
    }
  }
}
