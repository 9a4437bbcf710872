import { inTauri } from '../transport';
import { browserHost } from './browser';
import type { Host } from './types';

export type { Host } from './types';
export { isOpenableUrl } from './types';

export async function pickHost(w: Window = window): Promise<Host> {
  if (inTauri(w)) return (await import('./tauri')).tauriHost;
  return browserHost;
}
