import DOMPurify, { type Config } from 'dompurify';

// Model output and document text are hostile. What survives sanitising is inert Markdown output:
// no scripts, styles, frames, forms, SVG or MathML, no event handlers, no ids or data attributes,
// links only to http(s) and mailto, and images only from data:, blob: or this page's own origin
// (a remote image would send the page's secrets to whoever wrote the URL, without a click).

const ALLOWED_TAGS = [
  'a', 'abbr', 'b', 'blockquote', 'br', 'caption', 'code', 'dd', 'del', 'details', 'dl', 'dt', 'em',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'img', 'kbd', 'li', 'mark', 'ol', 'p', 'pre', 'q', 's',
  'small', 'span', 'strong', 'sub', 'summary', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead',
  'tr', 'u', 'ul',
];
const ALLOWED_ATTR = ['href', 'title', 'alt', 'src', 'class', 'align', 'start', 'colspan', 'rowspan'];

const CONFIG: Config & { RETURN_DOM_FRAGMENT: true } = {
  ALLOWED_TAGS,
  ALLOWED_ATTR,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  ALLOW_UNKNOWN_PROTOCOLS: false,
  // A first filter; the hooks below decide per attribute (links: http(s)/mailto; images: see isSafeImageSrc).
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|blob:|data:image\/|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i,
  SAFE_FOR_TEMPLATES: false,
  WHOLE_DOCUMENT: false,
  RETURN_DOM_FRAGMENT: true,
};

/** Only highlighter classes: a class from model output must not borrow the app's own styles. */
const CLASS_TOKEN = /^(?:hljs(?:-[\w-]+)?|language-[\w+#-]+)$/;

/** Link targets that may open (in the system browser, on click). */
export function isSafeLink(href: string): boolean {
  if (!/^\s*(?:https?:\/\/|mailto:)/i.test(href)) return false;
  const url = parseUrl(href);
  return url !== null && (url.protocol === 'http:' || url.protocol === 'https:' || url.protocol === 'mailto:');
}

/** Image sources that load nothing from elsewhere: data: (raster), blob:, or this page's origin. */
export function isSafeImageSrc(src: string, origin = pageOrigin()): boolean {
  const trimmed = src.trim();
  if (/^data:image\/(?:png|gif|jpeg|webp|avif|bmp);/i.test(trimmed)) return true;
  if (/^blob:/i.test(trimmed)) {
    const inner = parseUrl(trimmed.slice(5));
    return inner !== null && inner.origin === origin;
  }
  const url = parseUrl(trimmed);
  return url !== null && (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === origin;
}

function pageOrigin(): string {
  return globalThis.location?.origin ?? 'null';
}

function parseUrl(value: string): URL | null {
  try {
    return new URL(value.trim(), globalThis.location?.href ?? 'about:blank');
  } catch {
    return null;
  }
}

const purifier = DOMPurify();

purifier.addHook('uponSanitizeAttribute', (_node, data) => {
  if (data.attrName === 'class') {
    const kept = data.attrValue.split(/\s+/).filter((c) => CLASS_TOKEN.test(c));
    data.attrValue = kept.join(' ');
    data.keepAttr = kept.length > 0;
  }
});

purifier.addHook('afterSanitizeAttributes', (node) => {
  if (node.nodeName === 'A') {
    const href = node.getAttribute('href');
    if (href !== null && !isSafeLink(href)) node.removeAttribute('href');
    node.setAttribute('rel', 'noopener noreferrer');
    node.removeAttribute('target');
  }
  if (node.nodeName === 'IMG') {
    const src = node.getAttribute('src');
    // Marked for removal after sanitising (removing the node inside the hook upsets the walk).
    if (src === null || !isSafeImageSrc(src)) node.setAttribute('src', '');
  }
});

/**
 * Sanitises HTML into an inert DocumentFragment, still owned by DOMPurify's detached document so
 * nothing in it loads until it is inserted. Images without a safe source are replaced by their alt
 * text, marked as removed.
 */
export function sanitizeToFragment(html: string): DocumentFragment {
  const fragment = purifier.sanitize(html, CONFIG) as DocumentFragment;
  for (const img of Array.from(fragment.querySelectorAll('img'))) {
    const src = img.getAttribute('src');
    if (src && isSafeImageSrc(src)) continue;
    const doc = img.ownerDocument;
    const note = doc.createElement('span');
    note.className = 'removed-image';
    note.textContent = `[image removed${img.getAttribute('alt') ? `: ${img.getAttribute('alt')}` : ''}]`;
    img.replaceWith(note);
  }
  return fragment;
}
