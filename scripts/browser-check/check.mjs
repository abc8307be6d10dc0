// Drives headless Chromium over a running `glomers serve`: the index, a workload filter and
// run pages. Fails on any console error, page error, failed request or HTTP error status, and
// on missing page parts; saves screenshots. Run by scripts/browser-check.sh, which builds the
// store and starts the server.
//
// usage: node check.mjs BASE_URL OUT_DIR RUN_PATH...   (RUN_PATH like /run/broadcast/<time>;
//        OUT_DIR - takes no screenshots)

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [base, outDir, ...runs] = process.argv.slice(2);
if (!base || !outDir || runs.length === 0) {
  console.error('usage: node check.mjs BASE_URL OUT_DIR RUN_PATH...');
  process.exit(2);
}
const shoot = outDir !== '-';
if (shoot) mkdirSync(outDir, { recursive: true });

const problems = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // The flags Chromium needs on this machine: no sandbox as root, and nothing that reaches
  // for the network (the machine has none).
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
// playwright-core launches with a fresh temporary profile (--user-data-dir) of its own.
const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
const page = await context.newPage();
page.on('console', (m) => {
  if (m.type() === 'error') problems.push(`console error on ${page.url()}: ${m.text()}`);
});
page.on('pageerror', (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
page.on('response', (r) => {
  if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
});

async function visit(path, shot) {
  const resp = await page.goto(base + path, { waitUntil: 'load' });
  if (!resp || resp.status() !== 200) problems.push(`${path}: status ${resp?.status()}`);
  // Lazy images and frames load as they scroll into view: scroll through, then settle.
  await page.evaluate(async () => {
    for (let y = 0; y < document.body.scrollHeight; y += 600) {
      window.scrollTo(0, y);
      await new Promise((r) => setTimeout(r, 50));
    }
    window.scrollTo(0, 0);
  });
  await page.waitForLoadState('networkidle');
  if (shot && shoot) {
    // The whole page in one viewport rather than `fullPage`: headless Chromium leaves
    // out-of-process frames (the sandboxed diagram and timeline) blank in full-page shots.
    for (let i = 0; i < 2; i++) {
      const height = await page.evaluate(() => document.documentElement.scrollHeight);
      await page.setViewportSize({ width: 1360, height: Math.min(Math.max(height, 400), 12000) });
      await page.waitForTimeout(200);
    }
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: `${outDir}/${shot}` });
    await page.setViewportSize({ width: 1360, height: 900 });
  }
}

async function expect(what, ok) {
  if (!(await ok)) problems.push(`${page.url()}: ${what}`);
}

const started = Date.now();

// The index: rows coloured by verdict, filters.
await visit('/', 'index.png');
await expect('index has run rows', page.locator('table.runs tbody tr').count().then((n) => n >= runs.length));
await expect('index has a valid row', page.locator('tr.v-valid').count().then((n) => n > 0));
await expect('a valid verdict cell is green',
  page.locator('tr.v-valid td.verdict').first().evaluate((e) => getComputedStyle(e).backgroundColor)
    .then((c) => c === 'rgb(227, 244, 230)'));

// The workload filter, by clicking it.
const wl = runs[0].split('/')[2];
await page.locator(`nav.filters a.chip:text-is("${wl}")`).first().click().catch(() => {});
await page.waitForLoadState('load');
await expect(`filter ${wl} keeps only ${wl} rows`, page.locator('table.runs tbody tr').evaluateAll(
  (rows, w) => rows.length > 0 && rows.every((r) => r.children[1].textContent === w), wl));

// Run pages: every image decoded, every frame loaded, the command shown.
for (const [i, run] of runs.entries()) {
  await visit(run, i === 0 ? 'run.png' : null);
  await expect('run page shows the command', page.locator('pre.cmd').count().then((n) => n === 1)
    .then(async (one) => one || (await page.locator('#report .problem').count()) > 0));
  await expect('every plot decoded', page.locator('img').evaluateAll(
    (imgs) => imgs.every((img) => img.complete && img.naturalWidth > 0)));
  for (const f of await page.locator('iframe').all()) {
    const src = await f.getAttribute('src');
    const frame = await (await f.elementHandle()).contentFrame();
    await expect(`frame ${src} loaded`, Promise.resolve(frame !== null && frame.url().endsWith(src)));
  }
}

// The newest run through /latest.
await visit('/latest', null);
await expect('/latest lands on a run page', Promise.resolve(page.url().includes('/run/')));

await browser.close();
const secs = ((Date.now() - started) / 1000).toFixed(1);
if (problems.length) {
  console.error(`browser check: ${problems.length} problem(s) in ${secs} s:`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`browser check: index, filter and ${runs.length} run page(s) clean in ${secs} s` +
  (shoot ? `; screenshots in ${outDir}` : ''));
