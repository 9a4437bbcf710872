import { getCurrentWebview } from '@tauri-apps/api/webview';
import { open, save } from '@tauri-apps/plugin-dialog';
import { openUrl } from '@tauri-apps/plugin-opener';
import { ApiError, toApiError } from '../transport/errors';
import { isOpenableUrl, type Host } from './types';

export const tauriHost: Host = {
  kind: 'tauri',
  async openExternal(url) {
    if (!isOpenableUrl(url)) throw new ApiError('bad_link', `not opening ${url.slice(0, 80)}: only http, https and mailto links open`);
    try {
      await openUrl(url);
    } catch (e) {
      throw toApiError(e, 'open_failed');
    }
  },
  async pickPaths(directory) {
    const picked = await open({ multiple: true, directory, title: directory ? 'Add folders' : 'Add files' });
    if (picked === null) return null;
    return Array.isArray(picked) ? picked : [picked];
  },
  async chooseSavePath(suggestedName) {
    return save({ defaultPath: suggestedName, filters: [{ name: 'Markdown', extensions: ['md'] }] });
  },
  async onFileDrop(handler) {
    return getCurrentWebview().onDragDropEvent((event) => {
      if (event.payload.type === 'drop' && event.payload.paths.length > 0) handler(event.payload.paths);
    });
  },
};
