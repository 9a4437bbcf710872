/** Citation markers in text: [1], [2, 3], [1][2]. */
const MARKER = /\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g;
const SKIP = new Set(['A', 'CODE', 'PRE', 'BUTTON']);

/**
 * Turns the [n] markers that name a known source into citation buttons, outside links and code.
 * Runs on sanitised output, so the buttons it adds are the only ones there.
 */
export function linkCitations(root: DocumentFragment | Element, known: ReadonlySet<number>): void {
  if (known.size === 0) return;
  const doc = root.ownerDocument ?? (root as unknown as Document);
  const walker = doc.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const texts: Text[] = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!insideSkipped(n, root)) texts.push(n as Text);
  }
  for (const text of texts) replaceMarkers(text, known, doc);
}

function insideSkipped(node: Node, root: Node): boolean {
  for (let p = node.parentNode; p && p !== root; p = p.parentNode) {
    if (SKIP.has(p.nodeName)) return true;
  }
  return false;
}

function replaceMarkers(text: Text, known: ReadonlySet<number>, doc: Document): void {
  const value = text.data;
  MARKER.lastIndex = 0;
  if (!MARKER.test(value)) return;
  MARKER.lastIndex = 0;
  const parts: Node[] = [];
  let last = 0;
  for (let m = MARKER.exec(value); m; m = MARKER.exec(value)) {
    const numbers = (m[1] ?? '').split(',').map((s) => Number(s.trim()));
    if (!numbers.every((n) => known.has(n))) continue;
    if (m.index > last) parts.push(doc.createTextNode(value.slice(last, m.index)));
    numbers.forEach((n, i) => {
      if (i > 0) parts.push(doc.createTextNode(' '));
      parts.push(citationButton(doc, n));
    });
    last = m.index + m[0].length;
  }
  if (parts.length === 0) return;
  if (last < value.length) parts.push(doc.createTextNode(value.slice(last)));
  text.replaceWith(...parts);
}

function citationButton(doc: Document, n: number): HTMLElement {
  const button = doc.createElement('button');
  button.type = 'button';
  button.className = 'citation';
  button.dataset.testid = 'citation';
  button.dataset.n = String(n);
  button.title = `Show source ${n}`;
  button.textContent = `[${n}]`;
  return button;
}
