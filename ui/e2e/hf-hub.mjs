// A Hugging Face-style hub on 127.0.0.1 for the browser end-to-end test (the Rust tests have their
// own, tests/support/hf_server.rs): `GET /api/models/{owner}/{name}/revision/{rev}` with each file's
// LFS sha256 and size, and `GET /{owner}/{name}/resolve/{rev}/{file}` with `Range: bytes=N-`. Bytes go
// out in 4 MiB pieces 40 ms apart, so the download's progress can be seen.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';

const COMMIT = '0123456789abcdef0123456789abcdef01234567';

/** `files`: { 'owner/name': { 'file.gguf': '/path/on/disk' } }. Resolves to { url, seen, close }. */
export async function startHub(files) {
  const repos = {};
  for (const [repo, entries] of Object.entries(files)) {
    repos[repo] = {};
    for (const [name, path] of Object.entries(entries)) {
      const bytes = await readFile(path);
      repos[repo][name] = { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
    }
  }
  const seen = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://hub');
    seen.push({ path: url.pathname, range: req.headers.range ?? null });
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/[^/]+$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/[^/]+\/(.+)$/.exec(url.pathname);
    const repo = repos[(api ?? resolve)?.[1]];
    if (!repo) {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"Repository not found"}');
      return;
    }
    if (api) {
      const siblings = Object.entries(repo).map(([rfilename, f]) => ({
        rfilename,
        size: f.bytes.length,
        lfs: { sha256: f.sha256, size: f.bytes.length, pointerSize: 134 },
      }));
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ id: api[1], sha: COMMIT, siblings }));
      return;
    }
    const file = repo[decodeURIComponent(resolve[2])];
    if (!file) {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"Entry not found"}');
      return;
    }
    const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    const body = file.bytes.subarray(from);
    const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length, 'X-Repo-Commit': COMMIT };
    if (from > 0) headers['Content-Range'] = `bytes ${from}-${file.bytes.length - 1}/${file.bytes.length}`;
    res.writeHead(from > 0 ? 206 : 200, headers);
    for (let i = 0; i < body.length && !res.destroyed; i += 4 << 20) {
      res.write(body.subarray(i, i + (4 << 20)));
      await new Promise((ok) => setTimeout(ok, 40));
    }
    res.end();
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    seen,
    close: () => new Promise((ok) => server.close(ok)),
  };
}
