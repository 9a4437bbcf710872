export interface SnippetPart {
  text: string;
  hit: boolean;
}

/**
 * The index's snippet is HTML (escaped text, query terms in <b>). It is parsed in an inert
 * document and turned into plain text parts, so none of it is ever inserted as markup.
 */
export function snippetParts(html: string): SnippetPart[] {
  const doc = new DOMParser().parseFromString(`<body>${html}</body>`, 'text/html');
  const parts: SnippetPart[] = [];
  const visit = (node: Node, hit: boolean) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.textContent ?? '';
      const prev = parts[parts.length - 1];
      if (prev && prev.hit === hit) prev.text += text;
      else if (text !== '') parts.push({ text, hit });
      return;
    }
    if (node.nodeName === 'SCRIPT' || node.nodeName === 'STYLE') return;
    const isHit = hit || node.nodeName === 'B' || node.nodeName === 'MARK';
    node.childNodes.forEach((child) => visit(child, isHit));
  };
  visit(doc.body, false);
  return parts;
}
