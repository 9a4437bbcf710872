#!/usr/bin/env node
// Browser smoke test of the built UI against the mock backend (scripts/mock-server.mjs), in
// Debian's Chromium driven by playwright-core. It checks the flows a person uses and that the page
// runs under the desktop CSP without a single console error, and saves screenshots at 800x600 and
// 1600x1000, light and dark, under e2e-output/.
//
//   npm run build && npm run e2e:mock        (CHROMIUM=/path/to/chromium to override)
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';

const PORT = 5190 + Math.floor(Math.random() * 300);
const BASE = `http://127.0.0.1:${PORT}`;
const OUT = resolve('e2e-output');
const DEMO = resolve('../demo');
const failures = [];
let passed = 0;

async function step(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failures.push(name);
    console.log(`FAIL ${name}\n     ${String(e.message ?? e).split('\n').slice(0, 6).join('\n     ')}`);
  }
}

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

await mkdir(OUT, { recursive: true });
const server = spawn(process.execPath, ['scripts/mock-server.mjs', '--port', String(PORT)], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((ok, fail) => {
  server.stdout.once('data', ok);
  server.once('exit', (code) => fail(new Error(`mock server exited with ${code}`)));
});

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const consoleErrors = [];
const requests = [];
try {
  const context = await browser.newContext({ viewport: { width: 800, height: 600 }, colorScheme: 'light' });
  const page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(BASE);
  const byId = (id) => page.getByTestId(id);

  await step('starts with an empty conversation list', async () => {
    await byId('conversation-list').waitFor();
    expect((await byId('conversation-item').count()) === 0, 'expected no conversations');
  });

  await step('adds a folder and watches the progress finish', async () => {
    await byId('tab-library').click();
    await byId('library-paths').fill(`${DEMO}\n/does/not/exist.md`);
    await byId('library-add').click();
    await page.locator('[data-testid=library-progress][data-running=false]').waitFor({ timeout: 10_000 });
    const statuses = await byId('library-row').evaluateAll((rows) => rows.map((r) => r.dataset.status));
    expect(statuses.filter((s) => s === 'indexed').length === 3, `statuses: ${statuses}`);
    expect(statuses.includes('failed'), 'the missing file should fail');
    expect((await byId('library-error').first().textContent()).includes('does not exist'), 'per-file error shown');
    await page.screenshot({ path: `${OUT}/library-800x600.png` });
  });

  await step('asks a question and sees the streamed, cited answer with its sources', async () => {
    await byId('tab-chat').click();
    await byId('question').fill('Who founded the Hollowmere Observatory?');
    await byId('question').press('Enter');
    await byId('stop').waitFor();
    await byId('send').waitFor({ timeout: 15_000 });
    const text = await byId('answer-text').textContent();
    expect(text.includes('founded in 1889'), `answer: ${text}`);
    expect((await byId('sources-panel').getAttribute('data-used')) === 'true', 'retrieval used');
    expect((await byId('source').count()) >= 1, 'sources listed');
    expect((await page.locator('[data-testid=source][data-cited=true]').count()) >= 1, 'a cited source');
    expect((await page.locator('[data-testid=answer-text] pre code .hljs-keyword').count()) >= 1, 'code highlighted');
    await page.screenshot({ path: `${OUT}/chat-800x600-light.png` });
    await byId('retrieval-summary').first().click();
    expect(await byId('source').first().isVisible(), 'sources shown when the panel opens');
    await page.screenshot({ path: `${OUT}/sources-800x600-light.png` });
    await byId('retrieval-summary').first().click();
  });

  await step('opens citation [1] and sees the passage highlighted in its document', async () => {
    await page.locator('[data-testid=answer-text] [data-testid=citation][data-n="1"]').first().click();
    const highlight = byId('passage-highlight');
    await highlight.waitFor();
    const text = await highlight.textContent();
    expect(text.includes('founded in 1889 by the astronomer Odile Frankly'), `highlight: ${text}`);
    expect(await highlight.isVisible(), 'highlight visible');
    await page.screenshot({ path: `${OUT}/passage-800x600.png` });
    await page.keyboard.press('Escape');
    await byId('passage-view').waitFor({ state: 'detached' });
  });

  await step('stops a long generation', async () => {
    await byId('question').fill('Tell me a long story about the observatory');
    await byId('question').press('Enter');
    await page.waitForFunction(() => (document.querySelectorAll('[data-testid=answer-text]')[1]?.textContent ?? '').includes('word5'));
    await byId('stop').click();
    await byId('stop-reason').waitFor({ timeout: 5_000 });
    expect((await byId('stop-reason').textContent()) === 'Stopped.', 'stop reason shown');
    const words = (await byId('answer-text').nth(1).textContent()).split(' ').length;
    expect(words < 400, `stopped early (${words} words)`);
  });

  await step('regenerates the last answer', async () => {
    await byId('regenerate').click();
    await byId('stop').waitFor();
    await byId('stop').click();
    await byId('send').waitFor();
    expect((await byId('answer').count()) === 2, 'still two answers');
  });

  await step('switches to dark theme and back', async () => {
    await byId('theme-toggle').click(); // system -> light
    await byId('theme-toggle').click(); // light -> dark
    expect((await page.evaluate(() => document.documentElement.dataset.theme)) === 'dark', 'dark theme');
    await byId('tab-chat').click();
    await page.screenshot({ path: `${OUT}/chat-800x600-dark.png` });
  });

  await step('looks right on a large screen', async () => {
    await page.setViewportSize({ width: 1600, height: 1000 });
    await page.locator('[data-testid=answer-text] [data-testid=citation][data-n="1"]').first().click();
    await byId('passage-highlight').waitFor();
    await page.screenshot({ path: `${OUT}/chat-1600x1000-dark.png` });
    await page.keyboard.press('Escape');
    await page.setViewportSize({ width: 800, height: 600 });
  });

  await step('shows the token inspector and the models view', async () => {
    await byId('tab-tokens').click();
    await byId('token').first().waitFor();
    expect((await byId('token-ids').textContent()).startsWith('['), 'ids shown');
    await page.screenshot({ path: `${OUT}/tokens-800x600-dark.png` });
    await byId('tab-models').click();
    await byId('chat-model').waitFor();
    await byId('import-path').fill('/models/not-a-model.bin');
    await byId('import-model').click();
    await page.locator('[data-testid=error]', { hasText: 'the path must name a .gguf file' }).waitFor();
    await page.screenshot({ path: `${OUT}/models-800x600-dark.png` });
  });

  await step('renames, searches and deletes a conversation, and it stays gone after reload', async () => {
    await byId('tab-chat').click();
    const item = byId('conversation-item').first();
    await item.hover();
    await item.getByTestId('rename').click();
    await byId('rename-input').fill('Observatory notes');
    await byId('rename-input').press('Enter');
    await page.locator('[data-testid=conversation-item]', { hasText: 'Observatory notes' }).waitFor();
    await byId('conversation-search').fill('zzz-nothing');
    await page.locator('[data-testid=conversation-list] .empty').waitFor();
    await byId('conversation-search').fill('');
    await byId('conversation-item').first().waitFor();
    const before = await byId('conversation-item').count();
    await byId('conversation-item').first().hover();
    await byId('conversation-item').first().getByTestId('delete').click();
    await byId('confirm-delete').click();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=conversation-item]').length === n - 1, before);
    await page.reload();
    await byId('conversation-list').waitFor();
    await page.waitForTimeout(300);
    expect((await byId('conversation-item').count()) === before - 1, 'gone after reload');
  });

  await step('loads nothing from elsewhere and logs no error (CSP included)', async () => {
    const foreign = requests.filter((u) => !u.startsWith(BASE));
    expect(foreign.length === 0, `foreign requests: ${foreign.join(', ')}`);
    // The failed save above is an expected 400; everything else must be clean.
    const unexpected = consoleErrors.filter((e) => !e.includes('400 (Bad Request)'));
    expect(unexpected.length === 0, `console errors:\n${unexpected.join('\n')}`);
  });
} finally {
  await browser.close();
  server.kill();
}

console.log(`${passed} passed, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
