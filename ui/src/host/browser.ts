import { ApiError } from '../transport/errors';
import { isOpenableUrl, type Host } from './types';

export const browserHost: Host = {
  kind: 'browser',
  async openExternal(url) {
    if (!isOpenableUrl(url)) throw new ApiError('bad_link', `not opening ${url.slice(0, 80)}: only http, https and mailto links open`);
    window.open(url, '_blank', 'noopener,noreferrer');
  },
  download(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    a.rel = 'noopener';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 0);
  },
};
