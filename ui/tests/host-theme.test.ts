import { describe, expect, it } from 'vitest';
import { pathsFromDrop } from '../src/components/AddDocuments';
import { isOpenableUrl } from '../src/host';
import { applyTheme, loadTheme, nextTheme } from '../src/theme';

function dataTransfer(data: Record<string, string>): DataTransfer {
  return { getData: (type: string) => data[type] ?? '' } as unknown as DataTransfer;
}

describe('dropped files in a browser', () => {
  it('reads local paths from a file manager\'s uri-list', () => {
    const dt = dataTransfer({ 'text/uri-list': 'file:///home/ada/My%20Notes/a.md\r\n# comment\r\nfile:///home/ada/%EA%B3%84%ED%9A%8D.txt\r\nhttps://example.org/x' });
    expect(pathsFromDrop(dt)).toEqual(['/home/ada/My Notes/a.md', '/home/ada/계획.txt']);
  });

  it('gives nothing for a drop without paths', () => {
    expect(pathsFromDrop(dataTransfer({ 'text/plain': 'hello' }))).toEqual([]);
  });
});

describe('links the host opens', () => {
  it('allows http(s) and mailto only', () => {
    expect(isOpenableUrl('https://example.org/')).toBe(true);
    expect(isOpenableUrl('mailto:a@example.org')).toBe(true);
    expect(isOpenableUrl('javascript:alert(1)')).toBe(false);
    expect(isOpenableUrl('file:///etc/passwd')).toBe(false);
    expect(isOpenableUrl('/relative')).toBe(false);
  });
});

describe('theme', () => {
  it('cycles system → light → dark and remembers the choice', () => {
    expect(nextTheme('system')).toBe('light');
    expect(nextTheme('light')).toBe('dark');
    expect(nextTheme('dark')).toBe('system');
    applyTheme('dark');
    expect(document.documentElement.dataset.theme).toBe('dark');
    expect(loadTheme()).toBe('dark');
    applyTheme('system');
    expect(document.documentElement.dataset.theme).toBeUndefined();
    expect(loadTheme()).toBe('system');
  });
});
