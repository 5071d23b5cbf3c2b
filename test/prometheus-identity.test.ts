import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { baseUnit, metricName } from '../src/tools/server/prometheus.js';
import { CLI, ENTRY_URL, runScript, tempStatsDir, waitFor, type ScriptProcess } from './helpers/proc.js';
import { startServe, systemProgram } from './helpers/serve.js';

/** A service's model with camelCase names, a timer in milliseconds, and runtime metrics in the same file. */
const WRITER = `
const Api = defineModel('Api', {
  requestCount: field.counter({ help: 'requests served' }),
  inFlight: field.gauge({ help: 'requests in flight' }),
  latencyMs: field.timer({ unit: 'milliseconds', help: 'request latency' }),
}, { prefix: 'api.' });
const s = Api.open({ path: env.DIR });
const rt = mmstats.startRuntimeMetrics({ stats: s, intervalMs: 100 });
on('serve', (n, inFlight, ms) => { s.requestCount.incr(n); s.inFlight.set(inFlight); s.latencyMs.record(ms); rt.refresh(); });
ready(s.path);
`;

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

/** Sample lines of a metric name (exact name, any labels). */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
}

function valueOf(line: string | undefined): number | undefined {
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Two writer processes of the model Api: 3 and 4 requests, 2 and 5 in flight, 10 and 30 ms. */
async function twoWriters(): Promise<{ dir: string; w1: ScriptProcess; w2: ScriptProcess }> {
  const dir = tempStatsDir();
  const w1 = runScript(WRITER, { env: { DIR: dir } });
  const w2 = runScript(WRITER, { env: { DIR: dir } });
  await Promise.all([w1.ready, w2.ready]);
  await w1.call('serve', 3, 2, 10);
  await w2.call('serve', 4, 5, 30);
  return { dir, w1, w2 };
}

describe('/metrics: writer labels, identity and names', () => {
  test('names the library makes are snake_case in base units', () => {
    assert.equal(metricName('api.requestCount'), 'api_request_count');
    assert.equal(metricName('nodejs.active.resources.TCPSocketWrap'), 'nodejs_active_resources_tcp_socket_wrap');
    assert.equal(metricName('http2Stream'), 'http2_stream');
    assert.equal(metricName('web.status.2XX'), 'web_status_2xx');
    assert.equal(metricName('cache-hits::total'), 'cache_hits_total');
    assert.equal(metricName('9lives'), '_9lives');
    assert.deepEqual(
      ['milliseconds', 'KiB', 'percent', 'descriptors', 'requests', 'seconds'].map((u) => baseUnit(u).suffix),
      ['seconds', 'bytes', 'ratio', '', '', 'seconds'],
    );
  });

  test('by default writers of one program and model are one series: counters summed and never backwards, gauges summed, histograms merged; identity fields left out; promtool-clean', async (t) => {
    const { dir, w1, w2 } = await twoWriters();
    const srv = await startServe(['--port', '0', '--path', dir]);
    let w3: ScriptProcess | undefined;
    try {
      const text = await scrape(srv.url);
      const sel = '{cmd="writer",model="Api"}';
      assert.deepEqual(samples(text, 'api_request_count_total'), [`api_request_count_total${sel} 7`]);
      assert.deepEqual(samples(text, 'api_in_flight'), [`api_in_flight${sel} 7`]);
      assert.equal(valueOf(samples(text, 'api_latency_seconds_count')[0]), 2);
      assert.ok(Math.abs(valueOf(samples(text, 'api_latency_seconds_sum')[0])! - 0.04) < 1e-12, text);
      // The timer's bounds are shown in seconds: the 10 ms and 30 ms samples fall at or below 0.05 s.
      const buckets = samples(text, 'api_latency_seconds_bucket');
      const at = (le: number) => valueOf(buckets.filter((l) => Number(/le="([^"]+)"/.exec(l)![1]) <= le).at(-1));
      assert.equal(at(0.005), 0);
      assert.equal(at(0.02), 1);
      assert.equal(at(1), 2);
      assert.deepEqual(samples(text, 'mmstats_writer_alive'), [`mmstats_writer_alive${sel} 2`]);
      for (const id of ['sys_pid', 'sys_tid', 'sys_uid', 'sys_gid', 'sys_program_info', 'sys_model_info']) {
        assert.equal(samples(text, id).length, 0, `${id} is identity, not a measurement`);
      }
      assert.ok(!/pid=|tid=/.test(text), 'no pid or tid label unless asked');
      assert.ok(
        !/[a-z][A-Z]/.test(
          text
            .split('\n')
            .filter((l) => !l.startsWith('#'))
            .map((l) => l.split('{')[0])
            .join('\n'),
        ),
        'no camelCase name',
      );
      const promtool = systemProgram('promtool');
      if (!promtool) t.diagnostic('promtool is not installed (apt-get install prometheus): names not checked by it');
      else {
        const check = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
        assert.equal(check.status, 0, check.stdout + check.stderr);
        assert.equal((check.stdout + check.stderr).trim(), '', 'promtool has nothing to say about any name, runtime metrics included');
      }

      // A writer leaves and another starts from zero: the total of the label set never goes backwards.
      await w1.end();
      await waitFor(async () => valueOf(samples(await scrape(srv.url), 'mmstats_writer_alive')[0]) === 1, 10_000, 'one writer left');
      assert.equal(valueOf(samples(await scrape(srv.url), 'api_request_count_total')[0]), 7);
      w3 = runScript(WRITER, { env: { DIR: dir } });
      await w3.ready;
      await w3.call('serve', 1, 0, 1);
      await waitFor(async () => valueOf(samples(await scrape(srv.url), 'mmstats_writer_alive')[0]) === 2, 10_000, 'the new writer');
      assert.equal(valueOf(samples(await scrape(srv.url), 'api_request_count_total')[0]), 8);
    } finally {
      await srv.stop();
      await Promise.all([w1.end(), w2.end(), w3?.end()]);
    }
  });

  test('--writer-labels pid --identity-fields: one series per process, and the identity fields as series', async () => {
    const { dir, w1, w2 } = await twoWriters();
    const srv = await startServe(['--port', '0', '--path', dir, '--writer-labels', 'pid', '--identity-fields']);
    try {
      const text = await scrape(srv.url);
      assert.deepEqual(
        samples(text, 'api_request_count_total').sort(),
        [`api_request_count_total{pid="${w1.pid}"} 3`, `api_request_count_total{pid="${w2.pid}"} 4`].sort(),
      );
      assert.ok(samples(text, 'sys_pid').includes(`sys_pid{pid="${w1.pid}"} ${w1.pid}`), text);
      assert.ok(samples(text, 'sys_model_info').includes(`sys_model_info{pid="${w1.pid}",value="Api"} 1`), text);
    } finally {
      await srv.stop();
      await Promise.all([w1.end(), w2.end()]);
    }
    const bad = spawnSync(process.execPath, [CLI, 'serve', '--writer-labels', 'cmd,uid'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--writer-labels: unknown label "uid"/);
  });

  test('a worker thread running another script is labelled with the program and its own model, from its file', async () => {
    const dir = tempStatsDir();
    const work = tempStatsDir('mmstats-worker-script-');
    const workerFile = path.join(work, 'load-generator.mjs');
    fs.writeFileSync(
      workerFile,
      `import { defineModel, field } from ${JSON.stringify(ENTRY_URL)};
import { parentPort } from 'node:worker_threads';
const Load = defineModel('Load', { sent: field.counter() }, { prefix: 'load.' });
const s = Load.open({ path: process.env.DIR });
s.sent.incr(5);
parentPort.postMessage('ready');
parentPort.on('message', () => { s.remove(); parentPort.close(); });
`,
    );
    const w = runScript(
      `
      import { Worker } from 'node:worker_threads';
      const Service = defineModel('Service', { served: field.counter() }, { prefix: 'svc.' });
      const s = Service.open({ path: env.DIR });
      s.served.incr(2);
      const worker = new Worker(env.WORKER_FILE);
      await new Promise((resolve) => worker.once('message', resolve));
      on('stop', () => new Promise((resolve) => { worker.once('exit', resolve); worker.postMessage('stop'); }));
      ready(null);
      `,
      { env: { DIR: dir, WORKER_FILE: workerFile } },
    );
    await w.ready;
    const srv = await startServe(['--port', '0', '--path', dir]);
    try {
      const rows = ((await (await fetch(`${srv.url}api/writers`)).json()) as { writers: { cmd: string; model: string; tid: number }[] })
        .writers;
      assert.deepEqual(rows.map((r) => [r.cmd, r.model, r.tid > 0]).sort(), [
        ['writer', 'Load', true],
        ['writer', 'Service', false],
      ]);
      const text = await scrape(srv.url);
      assert.deepEqual(samples(text, 'load_sent_total'), ['load_sent_total{cmd="writer",model="Load"} 5']);
      assert.deepEqual(samples(text, 'svc_served_total'), ['svc_served_total{cmd="writer",model="Service"} 2']);
      assert.ok(!text.includes('writer-Load'), 'the file name is not parsed for identity');
    } finally {
      await srv.stop();
      await w.call('stop');
      await w.end();
    }
  });

  test("--stale-after: a dead writer's series leave /metrics after the grace period; without one they stay", async () => {
    const dir = tempStatsDir();
    const w = runScript(WRITER, { env: { DIR: dir } });
    const live = runScript(WRITER.replace("'Api'", "'Other'"), { env: { DIR: dir } });
    await Promise.all([w.ready, live.ready]);
    await w.call('serve', 3, 1, 5);
    const quick = await startServe(['--port', '0', '--path', dir, '--stale-after', '1s']);
    const never = await startServe(['--port', '0', '--path', dir, '--stale-after', 'never']);
    try {
      const before = await scrape(quick.url);
      assert.equal(samples(before, 'api_request_count_total').length, 2, before);
      w.child.kill('SIGKILL'); // no cleanup: the file stays, its writer gone
      await w.exited;
      // Seen gone first (alive 0), then left out once the grace period has passed.
      await waitFor(
        async () => samples(await scrape(quick.url), 'mmstats_writer_alive').includes('mmstats_writer_alive{cmd="writer",model="Api"} 0'),
        10_000,
        'the writer seen gone',
      );
      await waitFor(async () => samples(await scrape(quick.url), 'api_request_count_total').length === 1, 10_000, 'the series to leave');
      const text = await scrape(quick.url);
      assert.equal(samples(text, 'mmstats_writer_alive').length, 1, text);
      assert.ok(samples(text, 'mmstats_writer_alive')[0]!.includes('model="Other"'));
      assert.ok(text.includes('mmstats_files 2\n'), 'the file is still there, and counted');
      assert.equal(valueOf(samples(await scrape(never.url), 'api_request_count_total')[0]), 3, 'never: the last values stay');
    } finally {
      await Promise.all([quick.stop(), never.stop()]);
      await live.end();
    }
  });
});
