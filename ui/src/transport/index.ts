import { HttpTransport } from './http';
import type { Transport } from './types';

export type { Transport, Listener } from './types';
export { ApiError, toApiError } from './errors';

/** True inside the Tauri window (the IPC bridge is present whether or not withGlobalTauri is on). */
export function inTauri(w: Window = window): boolean {
  return '__TAURI_INTERNALS__' in w;
}

/** The transport for where the page runs: Tauri IPC in the desktop window, else HTTP to the page's origin. */
export async function pickTransport(w: Window = window): Promise<Transport> {
  if (inTauri(w)) {
    const { TauriTransport } = await import('./tauri');
    return new TauriTransport();
  }
  return new HttpTransport('');
}
