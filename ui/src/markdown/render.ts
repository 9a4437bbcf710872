import { Marked } from 'marked';
import { linkCitations } from './citations';
import { highlightCode } from './highlight';
import { sanitizeToFragment } from './sanitize';

const marked = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    code({ text, lang }) {
      return highlightCode(text, lang);
    },
    // Task lists as characters: no form controls in answers.
    checkbox({ checked }) {
      return checked ? '☑ ' : '☐ ';
    },
  },
});

export interface RenderOptions {
  /** Source numbers that [n] markers may cite; markers for others stay text. */
  citations?: ReadonlySet<number>;
}

/** Markdown (hostile: model output or document text) to an inert, sanitised DocumentFragment. */
export function renderMarkdown(markdown: string, options: RenderOptions = {}): DocumentFragment {
  const html = marked.parse(markdown) as string;
  const fragment = sanitizeToFragment(html);
  if (options.citations) linkCitations(fragment, options.citations);
  return fragment;
}

/** Renders into a container, replacing what it held. */
export function renderMarkdownInto(container: Element, markdown: string, options: RenderOptions = {}): void {
  container.replaceChildren(renderMarkdown(markdown, options));
}
