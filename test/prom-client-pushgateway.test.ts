/**
 * Pushgateway against Debian's real prometheus-pushgateway: pushAdd (POST), push
 * (PUT) and delete with groupings, gzip, and the error of a refused push, each
 * compared with what prom-client's own Pushgateway makes the gateway store.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as mine from '../src/integrations/prom-client/index.js';
import { systemProgram } from './helpers/serve.js';
import { tempStatsDir } from './helpers/proc.js';

// The drop-in publishes its metrics in a file: this test's own directory, not the user's.
process.env.MMSTATS_PATH = tempStatsDir();

const theirs = createRequire(import.meta.url)('prom-client');
const binary = systemProgram('prometheus-pushgateway');

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The gateway's stored samples of one group (`job` and `instance` labels), without its own push_time metrics. */
async function stored(url: string, job: string, instance: string): Promise<string[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.includes(`job="${job}"`) && l.includes(`instance="${instance}"`) && !/^push_(time|failure_time)_seconds/.test(l))
    .map((l) => l.replace(`job="${job}"`, 'job="J"'))
    .sort();
}

/** The same program for both libraries: a registry, then pushAdd, push, pushAdd gzip, delete. */
async function program(client: any, url: string, job: string): Promise<string[][]> {
  const reg = new client.Registry();
  const c = new client.Counter({ name: 'jobs_done_total', help: 'jobs', labelNames: ['kind'], registers: [reg] });
  const g = new client.Gauge({ name: 'last_run_seconds', help: 'duration', registers: [reg] });
  const h = new client.Histogram({ name: 'item_seconds', help: 'items', buckets: [0.1, 1], registers: [reg] });
  c.inc({ kind: 'a' }, 3);
  c.inc({ kind: 'b "quoted"' });
  g.set(12.5);
  h.observe(0.05);
  h.observe(2);
  const gw = new client.Pushgateway(url, {}, reg);
  const groupings = { instance: 'host-1 a' };
  const seen: string[][] = [];
  await gw.pushAdd({ jobName: job, groupings });
  seen.push(await stored(url, job, 'host-1 a'));
  // PUT replaces the whole group: only the gauge stays.
  const only = new client.Registry();
  new client.Gauge({ name: 'last_run_seconds', help: 'duration', registers: [only] }).set(1);
  await new client.Pushgateway(url, {}, only).push({ jobName: job, groupings });
  seen.push(await stored(url, job, 'host-1 a'));
  // POST replaces the metrics of the same names only; gzip-compressed.
  c.inc({ kind: 'a' });
  await new client.Pushgateway(url, { headers: { 'Content-Encoding': 'gzip' } }, reg).pushAdd({ jobName: job, groupings });
  seen.push(await stored(url, job, 'host-1 a'));
  await gw.delete({ jobName: job, groupings });
  seen.push(await stored(url, job, 'host-1 a'));
  return seen;
}

describe(
  'Pushgateway against a real prometheus-pushgateway',
  { skip: binary ? false : 'prometheus-pushgateway is not installed: apt-get install prometheus-pushgateway' },
  () => {
    let gateway: ChildProcess;
    let url: string;

    before(async () => {
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      gateway = spawn(binary!, [`--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          if ((await fetch(`${url}/-/ready`)).ok) break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error('the pushgateway did not start');
        await new Promise((r) => setTimeout(r, 100));
      }
    });

    after(() => {
      gateway?.kill();
    });

    test('pushAdd, push, gzip and delete with groupings store what prom-client stores', async () => {
      const expected = await program(theirs, url, 'theirs');
      const actual = await program(mine, url, 'mine');
      assert.deepEqual(actual, expected);
      // And what a user checks: the samples are there, then gone.
      assert.ok(actual[0]!.includes('jobs_done_total{instance="host-1 a",job="J",kind="a"} 3'), actual[0]!.join('\n'));
      assert.ok(actual[0]!.includes('item_seconds_bucket{instance="host-1 a",job="J",le="1"} 1'));
      assert.deepEqual(
        actual[1]!.filter((l) => !l.startsWith('#')),
        ['last_run_seconds{instance="host-1 a",job="J"} 1'],
      );
      assert.ok(actual[2]!.includes('jobs_done_total{instance="host-1 a",job="J",kind="a"} 4'));
      assert.deepEqual(actual[3], []);
    });

    test('a push the gateway refuses rejects with the error prom-client gives', async () => {
      // The same name as a counter in another group is inconsistent: the gateway answers 400.
      const reg = new mine.Registry();
      new mine.Gauge({ name: 'jobs_done_total', help: 'jobs', registers: [reg] }).set(1);
      const theirReg = new theirs.Registry();
      new theirs.Counter({ name: 'jobs_done_total', help: 'jobs', registers: [theirReg] }).inc();
      await new theirs.Pushgateway(url, {}, theirReg).pushAdd({ jobName: 'keep' });
      const mineErr = await new mine.Pushgateway(url, {}, reg).pushAdd({ jobName: 'clash' }).then(
        () => 'ok',
        (e: Error) => e.message,
      );
      const theirsErr = await new theirs.Pushgateway(
        url,
        {},
        (() => {
          const r = new theirs.Registry();
          new theirs.Gauge({ name: 'jobs_done_total', help: 'jobs', registers: [r] }).set(1);
          return r;
        })(),
      )
        .pushAdd({ jobName: 'clash' })
        .then(
          () => 'ok',
          (e: Error) => e.message,
        );
      // The gateway words the clash from whichever side it checks first: compare up to the metric.
      const head =
        /^push failed with status 400, pushed metrics are invalid or inconsistent with existing metrics: collected metric "jobs_done_total"/;
      assert.match(mineErr, head);
      assert.match(theirsErr, head);
      assert.throws(() => new mine.Pushgateway(url).pushAdd({} as any), /^Error: Missing jobName parameter$/);
    });
  },
);
