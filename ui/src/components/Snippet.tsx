import { useMemo } from 'react';
import { snippetParts } from '../markdown/snippet';

/** The index's snippet with the matched terms marked; rendered as text, never as markup. */
export function Snippet({ html }: { html: string }) {
  const parts = useMemo(() => snippetParts(html), [html]);
  return (
    <p className="snippet small">
      {parts.map((part, i) => (part.hit ? <mark key={i}>{part.text}</mark> : <span key={i}>{part.text}</span>))}
    </p>
  );
}
