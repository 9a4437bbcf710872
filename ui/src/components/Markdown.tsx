import { useLayoutEffect, useRef, type MouseEvent } from 'react';
import { useApp } from '../context';
import { renderMarkdownInto } from '../markdown/render';

interface Props {
  text: string;
  className?: string;
  testId?: string;
  /** Source numbers [n] may cite. */
  citations?: ReadonlySet<number>;
  onCite?: (n: number) => void;
}

/**
 * Hostile Markdown, rendered sanitised. React renders the container only; its content is the
 * sanitised fragment. Links never navigate: a click goes to the host, which opens http(s) and
 * mailto links outside the app.
 */
export function Markdown({ text, className, testId, citations, onCite }: Props) {
  const { host, notices } = useApp();
  const ref = useRef<HTMLDivElement>(null);

  useLayoutEffect(() => {
    if (ref.current) renderMarkdownInto(ref.current, text, citations ? { citations } : {});
  }, [text, citations]);

  const onClick = (e: MouseEvent<HTMLDivElement>) => {
    const target = e.target as Element;
    const citation = target.closest('button.citation');
    if (citation instanceof HTMLElement) {
      e.preventDefault();
      onCite?.(Number(citation.dataset.n));
      return;
    }
    const link = target.closest('a');
    if (link) {
      e.preventDefault();
      const href = link.getAttribute('href');
      if (href) host.openExternal(href).catch((err: unknown) => notices.error('Opening the link', err));
    }
  };

  return <div ref={ref} className={`markdown ${className ?? ''}`} data-testid={testId} onClick={onClick} onAuxClick={onClick} />;
}
