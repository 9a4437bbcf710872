import { fireEvent, render, within } from '@testing-library/react';
import { marked } from 'marked';
import { afterEach, describe, expect, it } from 'vitest';
import { DocumentLines } from '../src/components/DocumentLines';
import { Markdown } from '../src/components/Markdown';
import { PassageCard } from '../src/components/PassageCard';
import { Snippet } from '../src/components/Snippet';
import { AppProvider } from '../src/context';
import { isSafeImageSrc, isSafeLink } from '../src/markdown/sanitize';
import { renderMarkdownInto } from '../src/markdown/render';
import { createApp } from '../src/stores';
import { FakeTransport, fakeHost, passage } from './fakes';
import { activeContent, activeMarkdown, shape, XSS_PAYLOADS } from './xss-payloads';

declare global {
  interface Window {
    __xss?: number;
  }
}

afterEach(() => {
  expect(window.__xss).toBeUndefined();
});

function renderModelOutput(markdown: string): HTMLElement {
  const container = document.createElement('div');
  document.body.append(container);
  renderMarkdownInto(container, markdown, { citations: new Set([1, 2]) });
  return container;
}

function withApp(node: React.ReactNode) {
  const host = fakeHost();
  const app = createApp(new FakeTransport(), host);
  return { host, app, ...render(<AppProvider app={app}>{node}</AppProvider>) };
}

describe('the Markdown sanitiser', () => {
  it(`has at least 25 payloads (${XSS_PAYLOADS.length})`, () => {
    expect(XSS_PAYLOADS.length).toBeGreaterThanOrEqual(25);
  });

  it('has a checker that sees the active content of the payloads when nothing sanitises them', () => {
    // Inert without any sanitiser: the HTML parser drops a nested <body>; Markdown escapes a code
    // block and an unquoted attribute value holding "=" (that one is aimed at the snippet path).
    const inertAnyway = new Set(['<body onload="window.__xss = 1">', '```html\n<script>window.__xss = 1</script>\n```', '"><img src=x onerror=window.__xss=1>']);
    for (const payload of XSS_PAYLOADS) {
      const template = document.createElement('template');
      template.innerHTML = marked.parse(payload) as string;
      const found = activeContent(template.content);
      if (inertAnyway.has(payload)) expect(found, payload).toEqual([]);
      else expect(found.length, payload).toBeGreaterThan(0);
    }
  });

  describe.each(XSS_PAYLOADS.map((p) => [p]))('payload %s', (payload) => {
    it('is inert as model output (and in every partial form while it streams)', () => {
      const before = 'Answer with [1]. ';
      const text = `${before}${payload} and more text [2].`;
      expect(activeContent(renderModelOutput(text))).toEqual([]);
      for (let i = before.length + 1; i < before.length + payload.length; i += 3) {
        expect(activeContent(renderModelOutput(text.slice(0, i))), `prefix ${i}`).toEqual([]);
      }
    });

    it('is inert in the answer component', () => {
      const { container } = withApp(<Markdown text={payload} citations={new Set([1])} />);
      expect(shape(container)).toBe(shape(withApp(<Markdown text="harmless" />).container));
      expect(activeMarkdown(container)).toEqual([]);
    });

    it('is inert as document text: passage text, snippet, and the passage view', () => {
      const card = (text: string) => {
        const p = passage(1, { text, title: text, heading: text, path: text });
        const view = withApp(<PassageCard passage={p} cited />);
        fireEvent.click(view.getByText('Show passage'));
        return view.container;
      };
      const hostileCard = card(payload);
      expect(shape(hostileCard)).toBe(shape(card('harmless')));
      expect(activeMarkdown(hostileCard)).toEqual([]);

      // The index's snippet is HTML; only its <b> marks survive, as <mark>, with no attributes.
      const snippet = render(<Snippet html={payload} />);
      expect(activeContent(snippet.container.querySelector('p') as Element)).toEqual([]);
      for (const el of Array.from(snippet.container.querySelectorAll('p *'))) {
        expect(['SPAN', 'MARK']).toContain(el.tagName);
        expect(el.attributes).toHaveLength(0);
      }

      const lines = (text: string) => render(<DocumentLines text={`line one\n${text}\n${text}\nlast`} start={2} end={3} />);
      const doc = lines(payload);
      expect(shape(doc.container)).toBe(shape(lines(payload.replace(/[^\n]/g, 'x')).container));
      // Document text is shown as text: the payload is readable, not interpreted.
      expect(within(doc.container).getByTestId('passage-highlight').textContent).toContain(payload.split('\n')[0]);
    });
  });

  it('drops remote images and says so', () => {
    const c = renderModelOutput('![leak](https://evil.example/x.png) <img src="http://evil.example/y" alt="pixel">');
    expect(c.querySelector('img')).toBeNull();
    expect(c.textContent).toContain('[image removed: leak]');
    expect(c.textContent).toContain('[image removed: pixel]');
  });

  it('keeps images from data:, blob: and this origin', () => {
    const png = 'data:image/png;base64,iVBORw0KGgo=';
    const c = renderModelOutput(`![a](${png}) ![b](/local.png) <img src="blob:${location.origin}/1234" alt="c">`);
    expect(Array.from(c.querySelectorAll('img')).map((i) => i.getAttribute('src'))).toEqual([
      png,
      '/local.png',
      `blob:${location.origin}/1234`,
    ]);
    expect(isSafeImageSrc('blob:https://evil.example/1')).toBe(false);
    expect(isSafeImageSrc('data:image/svg+xml;base64,AAAA')).toBe(false);
  });

  it('keeps http(s) and mailto links with rel=noopener noreferrer, and nothing else', () => {
    const c = renderModelOutput('[site](https://example.org/a?b=1) [mail](mailto:a@example.org) [rel](/api/x) [js](javascript:x)');
    const links = Array.from(c.querySelectorAll('a'));
    expect(links.map((a) => a.getAttribute('href'))).toEqual(['https://example.org/a?b=1', 'mailto:a@example.org', null, null]);
    for (const a of links) expect(a.getAttribute('rel')).toBe('noopener noreferrer');
    expect(isSafeLink('//evil.example')).toBe(false);
    expect(isSafeLink('https://ok.example')).toBe(true);
  });

  it('opens links only on click, through the host', () => {
    const { container, host } = withApp(<Markdown text="[site](https://example.org/)" />);
    const link = container.querySelector('a');
    expect(link).not.toBeNull();
    const notPrevented = fireEvent.click(link as Element);
    expect(notPrevented).toBe(false);
    expect(host.opened).toEqual(['https://example.org/']);
  });

  it('highlights code blocks and keeps their text as text', () => {
    const c = renderModelOutput('```rust\nfn main() { let x = "<b>"; }\n```');
    expect(c.querySelector('pre code.hljs.language-rust')).not.toBeNull();
    expect(c.querySelector('.hljs-keyword')?.textContent).toBe('fn');
    expect(c.querySelector('code')?.textContent).toContain('"<b>"');
    expect(c.querySelector('code b')).toBeNull();
  });

  it('turns [n] for known sources into citation buttons, but not in code or links, nor unknown numbers', () => {
    const c = renderModelOutput('See [1] and [1, 2], not [9]. `[1]` [x [2]](https://e.org)');
    const cites = Array.from(c.querySelectorAll('button.citation')).map((b) => (b as HTMLElement).dataset.n);
    expect(cites).toEqual(['1', '1', '2']);
    expect(c.textContent).toContain('[9]');
    expect(c.querySelector('code')?.textContent).toBe('[1]');
  });

  it('renders GFM: tables, task lists without form controls, strikethrough', () => {
    const c = renderModelOutput('| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n- [ ] todo\n\n~~old~~');
    expect(c.querySelector('table td')?.textContent).toBe('1');
    expect(c.querySelector('input')).toBeNull();
    expect(c.textContent).toContain('☑ done');
    expect(c.querySelector('del')?.textContent).toBe('old');
  });
});
