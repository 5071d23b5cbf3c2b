/**
 * Dashboards built for prom-client's default metrics work unchanged on
 * mmstats/prom-client: every query of Grafana's "NodeJS Application Dashboard"
 * (grafana.com dashboard 11159, the usual one for prom-client's
 * `collectDefaultMetrics()`), taken as is from its JSON
 * (test/fixtures/grafana/nodejs-application-dashboard-11159.json, from
 * github.com/Tmw/coinflip-busybox grafana/dashboards/nodejs-application-dashboard.json),
 * runs against a real Prometheus scraping a real app two ways: its own in-process
 * `/metrics` route and `mmstats serve` reading its file. Each query answers, for
 * each instance the dashboard's variable lists and for all of them, with values a
 * user would believe.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { DIST, runScript, tempStatsDir, waitFor } from './helpers/proc.js';
import { instantQuery, labelValues, prometheusOrSkip, startPrometheus } from './helpers/prometheus.js';
import { startServe } from './helpers/serve.js';

const DROP_IN = pathToFileURL(path.join(DIST, 'src', 'integrations', 'prom-client', 'index.js')).href;
const DASHBOARD = path.join(DIST, '..', 'test', 'fixtures', 'grafana', 'nodejs-application-dashboard-11159.json');

interface Dashboard {
  variables: { instance: { query: string; multi: boolean; includeAll: boolean } };
  panels: { title: string; targets: { legendFormat: string; expr: string }[] }[];
}

/** An app written for prom-client: default metrics, and its own /metrics route. */
const APP = `
const client = await import(${JSON.stringify(DROP_IN)});
const http = await import('node:http');
client.collectDefaultMetrics();
const server = http.createServer(async (req, res) => {
  res.setHeader('Content-Type', client.register.contentType);
  res.end(await client.register.metrics());
});
server.listen(0, '127.0.0.1', () => ready(server.address().port));
`;

/**
 * The value of a multi-value variable as Grafana writes it into a Prometheus query
 * (its Prometheus data source's interpolation): each value regex-escaped for a
 * string literal, several values joined as `(a|b)`.
 */
function grafanaRegexValue(values: readonly string[]): string {
  const escaped = values.map((v) => v.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&'));
  return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
}

/** A panel's expression with `$instance` (or `${instance}`) replaced by the selected instances. */
function interpolate(expr: string, instances: readonly string[]): string {
  const value = grafanaRegexValue(instances);
  return expr.replace(/\$\{instance\}|\$instance\b/g, () => value);
}

type Answers = Map<string, { metric: Record<string, string>; value: number }[]>;

/** Every target of the dashboard with the instances selected, keyed by legend; undefined while any misses an instance. */
async function runDashboard(base: string, dashboard: Dashboard, instances: readonly string[]): Promise<Answers | undefined> {
  const answers: Answers = new Map();
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) {
      const promql = interpolate(target.expr, instances);
      const r = await instantQuery(base, promql);
      assert.equal(r.status, 'success', `${panel.title}: ${promql}: ${r.error}`);
      if (r.result.length === 0) return undefined;
      // Aggregations by version or in total drop the instance label; the others answer for each instance.
      const seen = new Set(r.result.map((row) => row.metric.instance));
      if (!/^sum\(/.test(target.expr) && instances.some((i) => !seen.has(i))) return undefined;
      answers.set(`${panel.title} / ${target.legendFormat}`, r.result);
    }
  }
  return answers;
}

/** The single value of an answer for one instance. */
function valueOf(answers: Answers, key: string, instance: string): number {
  const rows = answers.get(key)!.filter((r) => r.metric.instance === instance);
  assert.equal(rows.length, 1, `${key} for ${instance}: ${JSON.stringify(answers.get(key))}`);
  return rows[0]!.value;
}

test(
  "Grafana's NodeJS Application Dashboard (11159): every query answers from a real Prometheus, for the app's own route and for mmstats serve",
  { timeout: 120_000 },
  async (t) => {
    const prometheus = prometheusOrSkip(t);
    if (!prometheus) return;
    const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
    assert.equal(dashboard.panels.length, 9);
    const dir = tempStatsDir();
    const app = runScript(APP, { env: { MMSTATS_PATH: dir } });
    const port = (await app.ready) as number;
    const srv = await startServe(['--port', '0', '--path', dir]);
    const own = `127.0.0.1:${port}`;
    const served = new URL(srv.url).host;
    const prom = await startPrometheus(prometheus, [own, served]);
    try {
      // The dashboard's variable: label_values(nodejs_version_info, instance).
      const m = /^label_values\((\w+), (\w+)\)$/.exec(dashboard.variables.instance.query)!;
      const instances = (await waitFor(
        async () => {
          const v = await labelValues(prom.base, m[2]!, m[1]!);
          return v.length === 2 ? v : undefined;
        },
        60_000,
        `both instances in label_values (log: ${prom.log()})`,
      ))!;
      assert.deepEqual([...instances].sort(), [own, served].sort());

      // "All" selected (the variable's includeAll), then each instance on its own. The
      // rates need two scrapes of each target: wait until every query answers.
      for (const selected of [instances, [own], [served]]) {
        const answers = (await waitFor(() => runDashboard(prom.base, dashboard, selected), 60_000, `every query for ${selected}`))!;
        for (const [key, rows] of answers) {
          const seen = new Set(rows.map((r) => r.metric.instance));
          // Aggregations by version or in total drop the instance label.
          if (!key.startsWith('Node.js Version') && !key.startsWith('Process Restart Times'))
            assert.deepEqual([...seen].sort(), [...selected].sort(), key);
          for (const r of rows) assert.ok(Number.isFinite(r.value), `${key}: ${JSON.stringify(r)}`);
        }
        // Node.js Version: one version, this Node's, one series per instance summed.
        const versions = answers.get('Node.js Version / {{version}}')!;
        assert.deepEqual(
          versions.map((r) => [r.metric.version, r.value]),
          [[process.version, selected.length]],
        );
        // No restart in the last minute.
        assert.deepEqual(
          answers.get('Process Restart Times / {{instance}}')!.map((r) => r.value),
          [0],
        );
        for (const instance of selected) {
          // CPU in percent of one core: not negative, at most every core (a rate over values
          // refreshed once a second may count up to two refreshes in one scrape interval).
          for (const key of ['Process CPU Usage / User CPU - {{instance}}', 'Process CPU Usage / Sys CPU - {{instance}}']) {
            const cpu = valueOf(answers, key, instance);
            assert.ok(cpu >= 0 && cpu <= 200 * os.availableParallelism(), `${key} of ${instance}: ${cpu}`);
          }
          const lag = valueOf(answers, 'Event Loop Lag / {{instance}}', instance);
          assert.ok(lag >= 0 && lag < 10, `event loop lag of ${instance}: ${lag}`);
          const rss = valueOf(answers, 'Process Memory Usage / Process Memory - {{instance}}', instance);
          const heapTotal = valueOf(answers, 'Process Memory Usage / Heap Total - {{instance}}', instance);
          const heapUsed = valueOf(answers, 'Process Memory Usage / Heap Used - {{instance}}', instance);
          const external = valueOf(answers, 'Process Memory Usage / External Memory - {{instance}}', instance);
          assert.ok(heapUsed > 0 && heapUsed < heapTotal, `heap used ${heapUsed} of ${heapTotal} (${instance})`);
          assert.ok(heapTotal < rss && rss < 8 * 2 ** 30, `heap total ${heapTotal}, resident ${rss} (${instance})`);
          assert.ok(external > 0 && external < rss, `external ${external} (${instance})`);
          // The app's listening server is an active handle.
          assert.ok(valueOf(answers, 'Active Handlers/Requests Total / Active Handler - {{instance}}', instance) >= 1);
          assert.ok(valueOf(answers, 'Active Handlers/Requests Total / Active Request - {{instance}}', instance) >= 0);
          // Heap spaces: V8's, each space's used part within its total.
          const bySpace = (key: string) =>
            new Map(
              answers
                .get(key)!
                .filter((r) => r.metric.instance === instance)
                .map((r) => [r.metric.space!, r.value]),
            );
          const spaceTotal = bySpace('Heap Total Detail / Heap Total - {{instance}} - {{space}}');
          const spaceUsed = bySpace('Heap Used Detail / Heap Used - {{instance}} - {{space}}');
          const spaceAvailable = bySpace('Heap Available Detail / Heap Used - {{instance}} - {{space}}');
          for (const space of ['new', 'old', 'code', 'large_object']) {
            assert.ok(spaceTotal.has(space) && spaceUsed.has(space) && spaceAvailable.has(space), `space ${space} of ${instance}`);
          }
          for (const [space, total] of spaceTotal) {
            assert.ok(spaceUsed.get(space)! <= total, `space ${space}: used ${spaceUsed.get(space)} of ${total} (${instance})`);
            assert.ok(spaceAvailable.get(space)! >= 0, `space ${space} available (${instance})`);
          }
          assert.ok(spaceUsed.get('old')! > 0, `old space used (${instance})`);
        }
      }
    } finally {
      await prom.stop();
      await srv.stop();
      await app.end();
    }
  },
);
