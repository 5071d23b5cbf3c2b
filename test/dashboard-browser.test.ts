/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core,
 * against `mmstats serve` in its own process, reading files that writer
 * processes of this test keep changing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { DIST, runScript, tempStatsDir, type ScriptProcess } from './helpers/proc.js';
import { startServe, type ServeProcess } from './helpers/serve.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = fs.existsSync(CHROMIUM) ? false : `Chromium is not installed at ${CHROMIUM}: apt-get install chromium`;
const SCREENSHOT = path.join(DIST, '..', 'test-output', 'dashboard.png');
const DEMO_SCREENSHOT = path.join(DIST, '..', 'test-output', 'dashboard-demo.png');
/** Set MMSTATS_UPDATE_SCREENSHOT=1 to write the README's picture of the demo, docs/dashboard.png. */
const README_SCREENSHOT = path.join(DIST, '..', 'docs', 'dashboard.png');
/** Charts of a section of its own, more than the page opens by itself. */
const BULK = 70;

/** A label with markup in it (labels cannot hold whitespace), and a value and help text with more. */
const EVIL_LABEL = 'evil.<img/src=x/onerror=window.__pwned=1>';
const EVIL_VALUE = '<script>window.__pwned=2</script><img src=x onerror="window.__pwned=3">';
const EVIL_HELP = '<img src=x onerror=window.__pwned=4> <b>bold</b>';

const WRITER = `
const Web = defineModel('Web', {
  hits: field.counter({ help: 'requests served', unit: 'requests' }),
  aaa_idle: field.counter({ help: 'never counts: its chart goes after those that move', unit: 'requests' }),
  temperature: field.gauge({ help: 'a gauge the test sets', unit: 'celsius' }),
  latency: field.timer({ help: 'request latency', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5] }),
  note: field.string({ size: 128, help: ${JSON.stringify(EVIL_HELP)} }),
}, { prefix: 'web.' });
const stats = Web.open({ path: env.STATS_DIR });
const evil = stats.add('unused', field.gauge({ label: ${JSON.stringify(EVIL_LABEL)}, help: ${JSON.stringify(EVIL_HELP)} }));
evil.set(7);
// The page's own order of sections: these fields first, then HTTP, then the runtime's.
const httpMetrics = mmstats.instrumentHttp({ stats });
// A real request, so the HTTP families have a series each.
const { createServer } = await import('node:http');
const server = createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', () =>
  fetch('http://127.0.0.1:' + server.address().port + '/').then((r) => r.text()).then(() => server.close()));
const runtime = mmstats.startRuntimeMetrics({ stats });
// Many charts in a section of their own (a second file of this process).
const bulk = openStats({ name: 'Bulk', path: env.STATS_DIR });
for (let i = 0; i < ${BULK}; i++) bulk.add('bulk.g' + String(i).padStart(2, '0'), field.gauge({ help: 'one of many' })).set(i);
stats.note.set(${JSON.stringify(EVIL_VALUE)});
// Steady traffic, so the rate and percentile charts have lines.
const timer = setInterval(() => { stats.hits.incr(5); stats.latency.record(0.002 + Math.random() * 0.03); }, 50);
on('set', (v) => { stats.temperature.set(v); });
on('stop', () => { clearInterval(timer); runtime.stop(); httpMetrics.stop(); bulk.remove(); stats.remove(); });
ready(stats.path);
`;

const LATE_WRITER = `
const stats = openStats({ name: 'Late', path: env.STATS_DIR });
const jobs = stats.add('late.jobs', field.counter({ help: 'jobs done by the late writer' }));
setInterval(() => jobs.incr(), 100);
on('stop', () => stats.remove());
ready(stats.path);
`;

let dir: string;
let serve: ServeProcess | undefined;
let context: BrowserContext | undefined;
let page: Page;
const writers: ScriptProcess[] = [];
/** Uncaught errors of the page's script: none is expected. */
const pageErrors: string[] = [];

/** The text of the value cell of `label` in the fields table ('' when not shown). */
function valueText(label: string): Promise<string> {
  return page.evaluate((l) => {
    for (const tr of document.querySelectorAll<HTMLTableRowElement>('#fields tr')) {
      if (tr.dataset.label === l) return tr.querySelector('td.value')?.textContent ?? '';
    }
    return '';
  }, label);
}

/** The pids in the writer list. */
function listedPids(): Promise<number[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('#writer-list .writer-meta')].map((el) => Number(/pid (\d+)/.exec(el.textContent ?? '')?.[1])),
  );
}

/** Poll a page-side condition (page.waitForFunction with a generous bound for loaded machines). */
async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  if (missing) return;
  dir = tempStatsDir();
  const w = runScript(WRITER, { env: { STATS_DIR: dir } });
  writers.push(w);
  await w.ready;
  serve = await startServe(['--port', '0', '--path', dir]);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-chromium-'));
  process.once('exit', () => fs.rmSync(profile, { recursive: true, force: true }));
  // launchPersistentContext passes the fresh profile as --user-data-dir.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1400, height: 1000 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => pageErrors.push(err.stack ?? err.message));
  await page.goto(serve.url, { timeout: 30_000 });
});

after(async () => {
  await context?.close();
  for (const w of writers) {
    // Only a writer still running can answer: a killed one has exitCode null too.
    if (w.child.exitCode === null && w.child.signalCode === null) {
      const bound = new Promise((r) => setTimeout(r, 5000).unref());
      await Promise.race([w.call('stop').catch(() => undefined), bound]);
      await Promise.race([w.end(), bound]);
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }
  }
  await serve?.stop();
});

test('the page loads its bundled script and styles from the server, with no request elsewhere', { skip: missing }, async () => {
  await until('the status to say live', async () => (await page.textContent('#status')) === 'live');
  const resources = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
  const origin = new URL(serve!.url).origin;
  assert.ok(resources.some((r) => r.endsWith('/dashboard/app.js')));
  assert.ok(resources.some((r) => r.endsWith('/dashboard/app.css')));
  for (const r of resources) assert.ok(r.startsWith(origin), `${r} is not served by mmstats`);
});

test('a value written by another process appears and follows its changes', { skip: missing }, async () => {
  await writers[0]!.call('set', 21.5);
  await until('the gauge to show 21.5', async () => (await valueText('web.temperature')).startsWith('21.5'));
  await writers[0]!.call('set', 4242);
  await until('the gauge to show 4,242', async () => (await valueText('web.temperature')).startsWith('4,242'));
  // The counter's chart draws a rate: its summary is a positive number per second.
  await until('the counter chart to show a rate', async () => {
    const summary = await page.evaluate(
      () =>
        [...document.querySelectorAll<HTMLElement>('.card')].find((c) => c.dataset.label === 'web.hits')?.querySelector('.card-summary')
          ?.textContent ?? '',
    );
    return /^[\d.,]+k? requests\/s$/.test(summary) && !summary.startsWith('0 ');
  });
  assert.deepEqual(pageErrors, []);
  const canvases = await page.evaluate(
    () => [...document.querySelectorAll<HTMLElement>('.card')].filter((c) => c.querySelector('canvas')).length,
  );
  assert.ok(canvases >= 3, `expected charts for the counter, the gauge and the timer, saw ${canvases}`);
  const timerSummary = await page.evaluate(
    () =>
      [...document.querySelectorAll<HTMLElement>('.card')].find((c) => c.dataset.label === 'web.latency')?.querySelector('.card-summary')
        ?.textContent ?? '',
  );
  assert.match(timerSummary, /^(p99 [\d.]+ ms|no recent observations)$/);
});

/** The status word of the writer rows of `pid` ('' when not listed). */
function statusOf(pid: number): Promise<string> {
  return page.evaluate((p) => {
    for (const li of document.querySelectorAll<HTMLElement>('#writer-list .writer')) {
      if (new RegExp(`pid ${p}\\b`).test(li.textContent ?? ''))
        return ['live', 'stale', 'closed', 'error'].find((c) => li.classList.contains(c)) ?? '?';
    }
    return '';
  }, pid);
}

test(
  'a writer that starts later appears without a reload, shows as stale when killed, and goes with its file',
  { skip: missing },
  async () => {
    await until('the first writer', async () => (await listedPids()).includes(writers[0]!.pid));
    const navigations: string[] = [];
    page.on('framenavigated', (f) => navigations.push(f.url()));
    const late = runScript(LATE_WRITER, { env: { STATS_DIR: dir } });
    writers.push(late);
    const file = (await late.ready) as string;
    await until('the late writer in the list', async () => (await statusOf(late.pid)) === 'live');
    await until('the late writer’s field', async () => /^\d/.test(await valueText('late.jobs')));
    // Killed: it cannot remove its file, which stays behind as stale.
    late.child.kill('SIGKILL');
    await late.exited;
    await until('the late writer to show as stale', async () => (await statusOf(late.pid)) === 'stale');
    fs.rmSync(file);
    await until('the late writer to leave the list', async () => !(await listedPids()).includes(late.pid));
    assert.deepEqual(navigations, [], 'the page must not reload');
  },
);

test('a file that is not a stats file shows as an unreadable row and the page goes on', { skip: missing }, async () => {
  const junk = path.join(dir, 'junk-9-0.mmstats');
  fs.writeFileSync(junk, '<b>not</b> a stats file');
  const errorText = () =>
    page.evaluate(() =>
      [...document.querySelectorAll('#writer-list .writer.error .writer-error')].map((e) => e.textContent ?? '').join('|'),
    );
  await until('the unreadable row', async () => /ERR_MMSTATS_NOT_STATS/.test(await errorText()));
  assert.equal(await page.evaluate(() => document.querySelectorAll('b').length), 0);
  await writers[0]!.call('set', 77);
  await until('values to keep updating', async () => (await valueText('web.temperature')).startsWith('77'));
  fs.rmSync(junk);
  await until('the unreadable row to go', async () => (await errorText()) === '');
});

test('labels, values and help text holding markup are shown as text and create no element', { skip: missing }, async () => {
  await until('the evil label', async () => (await valueText(EVIL_LABEL)) === '7');
  const found = await page.evaluate((label) => {
    const labelCell = [...document.querySelectorAll('#fields td.label')].find((td) => td.textContent === label);
    const valueCell = [...document.querySelectorAll<HTMLTableRowElement>('#fields tr')]
      .find((tr) => tr.dataset.label === 'web.note')
      ?.querySelector('td.value');
    return {
      label: labelCell?.textContent ?? null,
      labelChildren: labelCell?.children.length ?? -1,
      value: valueCell?.textContent ?? null,
      valueChildren: valueCell?.children.length ?? -1,
      imgs: document.querySelectorAll('img').length,
      bolds: document.querySelectorAll('b').length,
      scripts: [...document.querySelectorAll('script')].map((s) => s.getAttribute('src')),
      pwned: (window as unknown as { __pwned?: number }).__pwned ?? null,
    };
  }, EVIL_LABEL);
  assert.equal(found.label, EVIL_LABEL);
  assert.equal(found.labelChildren, 0);
  assert.equal(found.value, EVIL_VALUE);
  assert.equal(found.valueChildren, 0);
  assert.equal(found.imgs, 0);
  assert.equal(found.bolds, 0);
  assert.deepEqual(found.scripts, ['/dashboard/app.js']);
  assert.equal(found.pwned, null);
  // The chart card of the evil gauge shows its title as text too.
  const title = await page.evaluate(
    (label) =>
      [...document.querySelectorAll<HTMLElement>('.card')].find((c) => c.dataset.label === label)?.querySelector('h3')?.textContent ?? null,
    EVIL_LABEL,
  );
  assert.equal(title, EVIL_LABEL);
});

test('the prefix filter narrows the fields and charts, and a screenshot is saved', { skip: missing }, async () => {
  await page.fill('#filter', 'web.');
  await until('only web. fields', async () => {
    const labels = await page.evaluate(() => [...document.querySelectorAll('#fields td.label')].map((td) => td.textContent ?? ''));
    return labels.length > 0 && labels.every((l) => l.startsWith('web.'));
  });
  const cards = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('.card')].map((c) => c.dataset.label ?? ''));
  assert.ok(cards.length > 0 && cards.every((l) => l.startsWith('web.')), `cards: ${cards.join(', ')}`);
  assert.match(page.url(), /#filter=web\./);
  await page.fill('#filter', '');
  // Enough history for the lines to show, then the picture.
  await new Promise((r) => setTimeout(r, 3000));
  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  assert.ok(fs.statSync(SCREENSHOT).size > 10_000);
});

/** The sections of charts in page order, with the labels of the cards drawn in each. */
function sections(): Promise<{ key: string; open: boolean; cards: string[] }[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLDetailsElement>('#charts details.section')].map((d) => ({
      key: d.dataset.section ?? '',
      open: d.open,
      cards: [...d.querySelectorAll<HTMLElement>('.card')].map((c) => c.dataset.label ?? ''),
    })),
  );
}

/** A card's attribute or text, by label. */
function cardInfo(label: string): Promise<{ points: number; legend: string[]; summary: string } | null> {
  return page.evaluate((l) => {
    const card = [...document.querySelectorAll<HTMLElement>('.card')].find((c) => c.dataset.label === l);
    if (!card) return null;
    return {
      points: Number(card.dataset.points ?? 0),
      legend: [...card.querySelectorAll('.u-legend .u-series')].slice(1).map((s) => s.querySelector('.u-value')?.textContent ?? ''),
      summary: card.querySelector('.card-summary')?.textContent ?? '',
    };
  }, label);
}

test('charts come in sections: the program’s own first, then HTTP, then the runtime’s; idle charts last', { skip: missing }, async () => {
  await until('the runtime sections', async () => (await sections()).some((x) => x.key.startsWith('nodejs.')));
  const keys = (await sections()).map((x) => x.key);
  const rank = (k: string) => (k.startsWith('nodejs.') ? 2 : k === 'http' ? 1 : 0);
  assert.deepEqual(
    keys.map(rank),
    [...keys.map(rank)].sort((a, b) => a - b),
    `sections in order: ${keys.join(', ')}`,
  );
  assert.ok(keys.includes('web') && keys.includes('http'), keys.join(', '));
  assert.ok(keys.indexOf('nodejs.process') < keys.indexOf('nodejs.heap'), 'CPU and memory before the heap');
  await until('the idle counter after the busy one', async () => {
    const web = (await sections()).find((x) => x.key === 'web')?.cards ?? [];
    return web.includes('web.aaa_idle') && web.indexOf('web.aaa_idle') > web.indexOf('web.hits');
  });
});

test('no chart is hidden: a section past the page’s budget starts closed, says so, and opens on a click', { skip: missing }, async () => {
  const bulk = async () => (await sections()).find((x) => x.key === 'bulk');
  await until('the bulk section', async () => (await bulk()) !== undefined);
  assert.equal((await bulk())!.open, false, `${BULK} charts are past the budget: the section starts closed`);
  assert.deepEqual((await bulk())!.cards, [], 'a closed section draws nothing');
  const note = () => page.textContent('#chart-note');
  assert.match((await note()) ?? '', /\d+ more charts are in closed sections: open a section/);
  assert.match((await page.textContent('details[data-section="bulk"] summary')) ?? '', new RegExp(`${BULK} charts, closed`));
  await page.click('details[data-section="bulk"] summary');
  await until('every bulk chart drawn', async () => (await bulk())!.cards.length === BULK);
  // The choice is kept in the browser.
  await page.reload();
  await until('the bulk section open after a reload', async () => (await bulk())?.cards.length === BULK);
  await page.click('details[data-section="bulk"] summary');
  await until('the bulk section closed again', async () => (await bulk())?.open === false && (await bulk())!.cards.length === 0);
});

test('a pinned chart goes to the top and stays pinned after a reload', { skip: missing }, async () => {
  await until('the temperature chart', async () => (await cardInfo('web.temperature')) !== null);
  await page.click('.card[data-label="web.temperature"] .pin');
  await until('the pinned section first', async () => {
    const first = (await sections())[0];
    return first?.key === '★' && first.cards.join() === 'web.temperature';
  });
  assert.ok(!(await sections()).find((x) => x.key === 'web')!.cards.includes('web.temperature'), 'shown once, in Pinned');
  await page.reload();
  await until('still pinned after a reload', async () => (await sections())[0]?.cards.join() === 'web.temperature');
  await page.click('.card[data-label="web.temperature"] .pin');
  await until(
    'back in its section',
    async () => (await sections()).find((x) => x.key === 'web')?.cards.includes('web.temperature') ?? false,
  );
  assert.notEqual((await sections())[0]!.key, '★');
});

test('a page that reloads draws the server’s history at once, and the range picker is kept in the URL', { skip: missing }, async () => {
  // The server has ticked once a second since it started, well before this test.
  await page.reload();
  await until('the counter chart', async () => (await cardInfo('web.hits')) !== null);
  const first = (await cardInfo('web.hits'))!;
  assert.ok(first.points >= 8, `the first drawing after a reload has ${first.points} points`);
  // Legends show the latest values without hovering.
  assert.match(first.legend[0] ?? '', /^[\d.,]+k? requests\/s$/);
  const temp = (await cardInfo('web.temperature'))!;
  assert.ok(temp.legend.length > 0 && temp.legend.every((v) => v !== '–' && v !== ''), `legend: ${temp.legend.join(' | ')}`);
  await page.selectOption('#range', '1h');
  assert.match(page.url(), /range=1h/);
  await page.reload();
  await until('the range after a reload', async () => (await page.inputValue('#range')) === '1h');
  await page.selectOption('#range', '5m');
});

test('a filter that matches nothing says so', { skip: missing }, async () => {
  await page.fill('#filter', 'nosuch.');
  await until('the message', async () => /No field matches “nosuch\.”/.test((await page.textContent('#chart-note')) ?? ''));
  assert.equal(await page.evaluate(() => document.querySelectorAll('.card').length), 0);
  await page.fill('#filter', '');
  await until('charts back', async () => (await cardInfo('web.hits')) !== null);
});

test('at 420 px wide, the filter and the live badge stay on screen', { skip: missing }, async () => {
  await page.setViewportSize({ width: 420, height: 900 });
  try {
    await until('a narrow layout', async () => (await page.evaluate(() => window.innerWidth)) === 420);
    for (const id of ['#filter', '#status', '#range']) {
      const box = await page.locator(id).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 420 && box.width >= 40, `${id}: ${JSON.stringify(box)}`);
    }
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= 420), true, 'nothing scrolls sideways');
  } finally {
    await page.setViewportSize({ width: 1400, height: 1000 });
  }
});

test('the demo’s dashboard, pictured for the README', { skip: missing }, async () => {
  const demoDir = tempStatsDir('mmstats-demo-test-');
  const demo = spawn(process.execPath, [path.join(DIST, 'examples', 'demo.js')], {
    env: { ...process.env, MMSTATS_PATH: demoDir, MMSTATS_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((r) => demo.once('exit', r));
  try {
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      demo.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /Dashboard: (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      demo.once('exit', (code) => reject(new Error(`the demo exited (${code}): ${out}`)));
    });
    // Some history for the lines, kept by the server before the page opens.
    await new Promise((r) => setTimeout(r, 8000));
    const demoPage = await context!.newPage();
    try {
      await demoPage.setViewportSize({ width: 1280, height: 900 });
      await demoPage.goto(url);
      await until('the demo’s charts', async () => (await demoPage.locator('.card canvas').count()) >= 6);
      const keys = await demoPage.evaluate(() =>
        [...document.querySelectorAll<HTMLElement>('#charts details')].map((d) => d.dataset.section),
      );
      assert.ok(keys.indexOf('http') > 0, `the demo’s own fields (jobs, load) before HTTP: ${keys.join(', ')}`);
      await new Promise((r) => setTimeout(r, 1500));
      fs.mkdirSync(path.dirname(DEMO_SCREENSHOT), { recursive: true });
      await demoPage.screenshot({ path: DEMO_SCREENSHOT });
      assert.ok(fs.statSync(DEMO_SCREENSHOT).size > 20_000);
      if (process.env.MMSTATS_UPDATE_SCREENSHOT === '1') fs.copyFileSync(DEMO_SCREENSHOT, README_SCREENSHOT);
    } finally {
      await demoPage.close();
    }
  } finally {
    demo.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    if (demo.exitCode === null && demo.signalCode === null) demo.kill('SIGKILL');
    fs.rmSync(demoDir, { recursive: true, force: true });
  }
});

const FAMILY_WRITER = `
const Api = defineModel('Api', {
  requests: field.counter({ help: 'requests by method and status', unit: 'requests', labels: ['method', 'status'] }),
  latency: field.histogram({ help: 'latency by route', unit: 'seconds', buckets: [0.001, 0.01, 0.1, 1], labels: ['route'] }),
}, { prefix: 'api.' });
const s = Api.open({ path: env.STATS_DIR });
// Twelve label sets, the k-th counting k + 1 a tick: the ten busiest get lines, the two slowest are summed as other.
const sets = [];
for (const method of ['GET', 'POST', 'PUT']) for (const status of ['200', '404', '500', '503']) sets.push(s.requests.with(method, status));
const timer = setInterval(() => {
  sets.forEach((c, k) => c.incr(k + 1));
  s.latency.with('/fast').record(0.005);
  s.latency.with('/slow').record(0.5);
}, 100);
on('stop', () => { clearInterval(timer); s.remove(); });
ready(s.path);
`;

/** The legend names of a card, in order (without the time). */
function legendNames(label: string): Promise<string[]> {
  return page.evaluate(
    (l) =>
      [
        ...([...document.querySelectorAll<HTMLElement>('.card')]
          .find((c) => c.dataset.label === l)
          ?.querySelectorAll('.u-legend .u-series') ?? []),
      ]
        .slice(1)
        .map((s) => s.querySelector('.u-label')?.textContent ?? ''),
    label,
  );
}

test(
  'a family is one chart, a line per label set for the ten busiest and the rest as other; a label selector picks sets',
  { skip: missing },
  async () => {
    const fam = runScript(FAMILY_WRITER, { env: { STATS_DIR: dir } });
    writers.push(fam);
    await fam.ready;
    try {
      await until('the family chart with its lines', async () => (await legendNames('api.requests')).length === 11);
      const cards = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('.card')].map((c) => c.dataset.label ?? ''));
      assert.equal(cards.filter((c) => c.startsWith('api.requests')).length, 1, 'one chart for the family, not one per child');
      await until('the ranking by rate', async () => {
        const names = await legendNames('api.requests');
        return (
          names[0] === 'method=PUT, status=503' && names.at(-1) === 'other (2 label sets)' && !names.includes('method=GET, status=200')
        );
      });
      // The other line is the sum of the two slowest sets: 1 + 2 a tick of 100 ms, 30 requests/s.
      await until('other as the sum of the rest', async () => {
        const legend = (await cardInfo('api.requests'))!.legend;
        const other = Number(/^([\d.]+)/.exec(legend.at(-1) ?? '')?.[1]);
        return other > 15 && other < 45;
      });
      await page
        .locator('.card[data-label="api.requests"]')
        .screenshot({ path: path.join(path.dirname(SCREENSHOT), 'dashboard-family.png') });
      // A histogram family: each route's p99.
      await until('the latency family', async () => (await legendNames('api.latency')).sort().join() === 'route=/fast,route=/slow');
      await page.fill('#filter', 'api.{method="GET"}');
      await until('only the GET sets', async () => {
        const names = await legendNames('api.requests');
        return names.length === 4 && names.every((n) => n.startsWith('method=GET, '));
      });
      assert.equal(await cardInfo('api.latency'), null, 'the latency family has no method label');
      assert.match(page.url(), /filter=api\.%7Bmethod%3D%22GET%22%7D/);
      await page.fill('#filter', 'api.{status!=200, method=P*}');
      await until('POST and PUT sets but 200', async () => {
        const names = await legendNames('api.requests');
        return names.length === 6 && names.every((n) => /^method=P(OST|UT), status=(404|500|503)$/.test(n));
      });
      await page.fill('#filter', '');
    } finally {
      await fam.call('stop');
      await fam.end();
    }
  },
);

test('the page raised no error through all of the above', { skip: missing }, () => {
  assert.deepEqual(pageErrors, []);
});
