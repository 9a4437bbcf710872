/** What differs between the Tauri window and a browser tab, besides the transport. */
export interface Host {
  readonly kind: 'tauri' | 'browser';
  /** Opens a link from an answer or a source outside the app. Only http(s) and mailto. */
  openExternal(url: string): Promise<void>;
  /** The native file or folder picker; absent in a browser (the library view has a path field). */
  pickPaths?(directory: boolean): Promise<string[] | null>;
  /** The native save dialog; null when cancelled. Absent in a browser, which downloads instead. */
  chooseSavePath?(suggestedName: string): Promise<string | null>;
  /** Saves text as a download (browser). */
  download?(name: string, text: string, type: string): void;
  /** Files dropped onto the window, with their paths (Tauri; a browser gives no paths). */
  onFileDrop?(handler: (paths: string[]) => void): Promise<() => void>;
}

/** Links the app will open: absolute http(s) and mailto URLs, nothing else. */
export function isOpenableUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' || u.protocol === 'mailto:';
  } catch {
    return false;
  }
}
