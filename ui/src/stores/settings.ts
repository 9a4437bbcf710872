import type { Backend, Models, Settings } from '../api/types';
import { toApiError } from '../transport/errors';
import type { Transport } from '../transport/types';
import type { NoticesStore } from './notices';
import { Store } from './store';

export interface SettingsState {
  models: Models | null;
  settings: Settings | null;
  loading: boolean;
  saving: boolean;
  importing: boolean;
  /** The backend's refusal of the last save, by the field it named (`backend.base_url`). */
  fieldErrors: Record<string, string>;
  /** Storing or removing the endpoint's key in the OS keyring. */
  keySaving: boolean;
}

/** The models in use and the answer settings (context, sampling, system prompt, retrieval). */
export class SettingsStore extends Store<SettingsState> {
  constructor(
    private readonly transport: Transport,
    private readonly notices: NoticesStore,
  ) {
    super({
      models: null,
      settings: null,
      loading: false,
      saving: false,
      importing: false,
      fieldErrors: {},
      keySaving: false,
    });
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

  /** Saves; the backend validates and answers with what it stored. A refusal that names its field
   *  is kept in `fieldErrors` for the form to show by that field. */
  async save(settings: Settings): Promise<boolean> {
    this.set({ saving: true });
    try {
      const saved = await this.transport.putSettings(settings);
      this.set({ settings: saved ?? settings, saving: false, fieldErrors: {} });
      this.notices.info('Settings', 'saved');
      if (saved?.chat_model !== undefined || saved?.embedding_model !== undefined || saved?.backend !== undefined) {
        await this.loadModels();
      }
      return true;
    } catch (e) {
      const error = toApiError(e);
      this.set({ saving: false, fieldErrors: error.field ? { [error.field]: error.message } : {} });
      this.notices.error('Saving the settings', error);
      return false;
    }
  }

  /** Saves the generation backend, the other settings as they are stored. */
  async saveBackend(backend: Backend): Promise<boolean> {
    const current = this.get().settings;
    if (!current) return false;
    return this.save({ ...current, backend });
  }

  /** Stores the configured endpoint's API key in the OS keyring (never in the settings). */
  async setBackendKey(key: string): Promise<boolean> {
    return this.changeKey('Storing the key', 'stored the API key in the OS keyring', () => this.transport.setBackendKey(key));
  }

  async deleteBackendKey(): Promise<boolean> {
    return this.changeKey('Removing the key', 'removed the API key from the OS keyring', () =>
      this.transport.deleteBackendKey(),
    );
  }

  private async changeKey(what: string, done: string, call: () => Promise<Models['backend']>): Promise<boolean> {
    this.set({ keySaving: true });
    try {
      const backend = await call();
      const models = this.get().models;
      this.set({ keySaving: false, models: models && backend ? { ...models, backend } : models, fieldErrors: {} });
      this.notices.info('OS keyring', done);
      return true;
    } catch (e) {
      const error = toApiError(e);
      this.set({ keySaving: false, fieldErrors: error.field ? { [error.field]: error.message } : {} });
      this.notices.error(what, error);
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
