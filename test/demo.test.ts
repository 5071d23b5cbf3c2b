/**
 * `npm start`'s demo as a user runs it: a separate process that prints the
 * dashboard's URL, serves growing counts from its main thread and two worker
 * threads, and removes its files on Ctrl-C.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { test } from 'node:test';
import { defaultStatsDir } from '../src/platform/paths.js';
import { DIST, runCli, tempStatsDir, waitFor } from './helpers/proc.js';
import { getJson } from './helpers/serve.js';

const DEMO = path.join(DIST, 'examples', 'demo.js');

interface FieldRow {
  readonly label: string;
  readonly kind: string;
  readonly value: unknown;
  readonly writers: number;
  readonly summary?: { readonly count?: number };
}

/** waitFor for a check that answers a value or undefined: resolves with the value. */
async function poll<T>(check: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  return (await waitFor(check, ms, what)) as T;
}

async function fieldsOf(url: string): Promise<Map<string, FieldRow>> {
  const { status, body } = await getJson(`${url}api/fields`);
  assert.equal(status, 200);
  return new Map((body.fields as FieldRow[]).map((f) => [f.label, f]));
}

test('the demo serves its dashboard, counts grow in all three threads, and Ctrl-C removes its files', async () => {
  const dir = tempStatsDir();
  const child = spawn(process.execPath, [DEMO], {
    env: { ...process.env, MMSTATS_PATH: dir, MMSTATS_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the demo printed no dashboard URL: ${out}${err}`)), 30_000);
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        out += line + '\n';
        const m = /^Dashboard: (http:\/\/\S+)$/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      void exited.then((code) => reject(new Error(`the demo exited (${code}): ${err}`)));
    });

    // The service (main thread) and the two load generators (worker threads), all alive.
    const writers = await poll(
      async () => {
        const { body } = await getJson(`${url}api/writers`);
        const rows = body.writers as { pid: number; tid: number; alive: boolean }[];
        return rows.length === 3 && rows.every((w) => w.alive && w.pid === child.pid) ? rows : undefined;
      },
      20_000,
      'three live writers',
    );
    assert.deepEqual(writers.map((w) => w.tid).sort(), [0, 1, 2]);

    const first = await poll(
      async () => {
        const f = await fieldsOf(url);
        return Number(f.get('http.requests')?.value) > 0 && Number(f.get('load.sent')?.value) > 0 ? f : undefined;
      },
      20_000,
      'the first requests',
    );
    assert.equal(first.get('load.sent')!.writers, 2, 'both workers send load');
    for (const label of [
      'http.in_flight',
      'http.latency',
      'http.response_bytes',
      'http.last_path',
      'load.latency',
      // Runtime metrics and HTTP instrumentation are on: CPU, memory, the event loop, requests.
      'nodejs.process.cpu.total',
      'nodejs.heap.used',
      'nodejs.eventloop.delay',
    ]) {
      assert.ok(first.has(label), `the demo publishes ${label}`);
    }
    const later = await poll(
      async () => {
        const f = await fieldsOf(url);
        return Number(f.get('http.requests')!.value) > Number(first.get('http.requests')!.value) + 20 &&
          Number(f.get('load.sent')!.value) > Number(first.get('load.sent')!.value) + 20
          ? f
          : undefined;
      },
      20_000,
      'the counts to grow',
    );
    assert.ok((later.get('http.latency')!.summary?.count ?? 0) > 0, 'the latency timer has observations');
    // The demo's own families (responses by status class, answers by status code) and HTTP
    // instrumentation's (a series per method, and status code and route), once requests have finished.
    for (const family of [
      'http.responses{status_class="2xx"}',
      'load.answers{status="200"}',
      'web.server.requests{',
      'web.server.request.duration{',
    ]) {
      assert.ok(
        [...later.keys()].some((l) => l.startsWith(family)),
        `the demo publishes ${family}...}`,
      );
    }

    // The dashboard page itself is served.
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script type="module" src="\/dashboard\/app\.js"><\/script>/);
    assert.ok(fs.readdirSync(dir).filter((n) => n.endsWith('.mmstats')).length === 3);

    child.kill('SIGINT');
    assert.equal(await exited, 0, err);
    await waitFor(() => out.includes('stopped, stats files removed'), 5000, 'the demo to say it stopped');
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => n.endsWith('.mmstats')),
      [],
    );
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

/** The environment a new user has: none of mmstats' variables set. */
function freshEnv(): NodeJS.ProcessEnv {
  // Empty is unset for mmstats, and survives the helpers' merge with this process's environment.
  return { ...process.env, MMSTATS_PATH: '', MMSTATS_GLOB: '', MMSTATS_FILES: '' };
}

test("the README's quick start word for word: npm start's demo, then slurp in another shell with no settings, shows its data", async () => {
  const readme = fs.readFileSync(path.join(DIST, '..', 'README.md'), 'utf8');
  // The commands the quick start gives, as a user copies them.
  assert.match(readme, /^npm start +# /m);
  assert.match(readme, /^node dist\/src\/tools\/cli\.js slurp +# /m);
  const child = spawn(process.execPath, [DEMO], { env: { ...freshEnv(), MMSTATS_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor(() => out.includes('Dashboard: '), 30_000, 'the demo to start');
    const mine = new RegExp(`^==> (\\S+/demo-Service-${child.pid}-0\\.mmstats)$`, 'm');
    const slurp = await waitFor(
      async () => {
        const r = await runCli(['slurp'], { env: freshEnv() });
        return mine.test(r.stdout) && /^http\.requests +[1-9]/m.test(r.stdout) ? r : undefined;
      },
      20_000,
      "slurp to show the demo's service and its requests",
    );
    assert.equal(slurp!.code === 0 || slurp!.code === 1, true, slurp!.stderr);
    const file = mine.exec(slurp!.stdout)![1]!;
    assert.equal(path.dirname(file), defaultStatsDir(freshEnv()), 'the default stats directory');
    assert.match(slurp!.stdout, new RegExp(`demo-Load-${child.pid}-\\d+\\.mmstats`), 'the worker threads too');
    // The demo's labelled family, as slurp prints it: one line per label set, with its value.
    const jobs = await waitFor(
      async () => {
        const r = await runCli(['slurp', '--prefix', 'jobs.', file]);
        const done = new Set([...r.stdout.matchAll(/^jobs\.finished\{kind="(\w+)",outcome="done"\} +[1-9]/gm)].map((m) => m[1]));
        return done.size === 3 ? r.stdout : undefined;
      },
      20_000,
      'slurp to show background jobs of each kind done',
    );
    const lines = jobs!.split('\n').filter((l) => l.startsWith('jobs.'));
    for (const line of lines.filter((l) => l.startsWith('jobs.finished'))) {
      assert.match(line, /^jobs\.finished\{kind="(reindex|thumbnail|email)",outcome="(done|failed|retried)"\} +[1-9]\d* jobs$/);
    }
    assert.equal(
      lines.filter((l) => /^jobs\.duration\{kind="(reindex|thumbnail|email)"\} +count=[1-9]/.test(l)).length,
      3,
      'durations by kind',
    );
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.equal(fs.existsSync(file), false, 'Ctrl-C removed its files');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

test('a reader that finds no files says where it looked', async () => {
  const empty = tempStatsDir();
  const slurp = await runCli(['slurp'], { env: { ...freshEnv(), MMSTATS_PATH: empty } });
  assert.equal(slurp.code, 0);
  assert.equal(slurp.stdout, '');
  assert.match(slurp.stderr, new RegExp(`no stats files in ${empty}/\\*\\.mmstats \\(MMSTATS_PATH\\)`));
  const given = await runCli(['slurp', '--path', empty]);
  assert.match(given.stderr, new RegExp(`no stats files in ${empty}$`, 'm'));
});
