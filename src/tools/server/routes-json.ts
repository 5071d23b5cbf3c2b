/**
 * The JSON API and `/metrics`.
 *
 * The original mmash's routes, same shapes:
 * - `GET /stats/` → `{"stats": [every label, sorted]}`
 * - `GET /stats/<name>` → `{label: [one value per file]}` for each label starting
 *   with `<name>` (`?exact=1`: equal to it); `?glob=` restricts the files (a file
 *   name glob); `?aggr=` reduces each list: avg, one, max, min, sum, nonzero-min,
 *   nonzero-avg (histograms and timers are merged bucket by bucket instead).
 * - `GET /files/`, `GET /files/<glob>` → `{"files": [paths]}`, plus `errors`: the
 *   files that could not be read, one row each.
 *
 * Richer routes for the dashboard and scripts:
 * - `GET /api/writers` → `{"writers": [...]}`: identity, liveness, or the error.
 * - `GET /api/fields?prefix=&gauge=&glob=` → `{"fields": [...]}`: each field
 *   combined over writers (aggregate.ts rules), per-writer values, percentiles.
 * - `GET /api/files/<name>` → one file's snapshot.
 * - `GET /api/status` → what the server serves and holds open.
 * - `GET /metrics` → Prometheus text format, or OpenMetrics when asked (Accept).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { REDUCTIONS, mergeHistograms, reduce, type GaugeMode, type Reduction } from '../../reader/aggregate.js';
import type { HistogramValue } from '../../reader/reader.js';
import { HttpError, sendJson, sendJsonList, sendText, type Handler, type RouteContext } from './http.js';
import { MetricsRenderer, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, wantsOpenMetrics, type ExpositionOptions } from './prometheus.js';
import { checkName, resolveInside, UnsafeInput } from './safe-path.js';
import { isHistogram, jsonValue, writerRow, type FileRow, type StatsStore } from './store.js';
import { summarizeHistogram } from './summary.js';

const GAUGE_MODES: readonly GaugeMode[] = ['sum', 'max', 'min', 'avg', 'latest'];

function param(ctx: RouteContext, name: string): string | undefined {
  const v = ctx.url.searchParams.get(name);
  return v === null ? undefined : v;
}

/** The `glob` query parameter, checked; undefined when absent. */
function globParam(ctx: RouteContext): string | undefined {
  const glob = param(ctx, 'glob');
  if (glob === undefined) return undefined;
  try {
    return checkName(glob, 'glob');
  } catch (err) {
    throw new HttpError(400, (err as UnsafeInput).message);
  }
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** The rows a `glob` selects; 404 when a glob matches no file at all. */
function selectFiles(ctx: RouteContext, glob: string | undefined): FileRow[] {
  const rows = ctx.store.files(glob);
  if (glob !== undefined && rows.length === 0) throw new HttpError(404, `no stats file matches ${JSON.stringify(glob)}`);
  return rows;
}

/** Everything after the route's own segment, as one name (labels may hold `/`). */
function rest(ctx: RouteContext, skip: number): string {
  return ctx.segments.slice(skip).join('/');
}

function aggregateValues(values: unknown[], aggr: Reduction): unknown {
  const hist = values.filter(isHistogram) as HistogramValue[];
  if (hist.length > 0 && hist.length === values.length) {
    const merged = mergeHistograms(hist);
    return merged ? { ...(jsonValue(merged) as object), summary: summarizeHistogram(merged) } : null;
  }
  const nums: number[] = [];
  for (const v of values) {
    if (typeof v === 'number') nums.push(v);
    else if (typeof v === 'bigint') nums.push(Number(v));
    else if (typeof v === 'boolean') nums.push(v ? 1 : 0);
  }
  if (nums.length === values.length) return jsonValue(reduce(nums, aggr));
  // Text and structs cannot be averaged: `one` still gives the first value.
  return aggr === 'one' && values.length > 0 ? jsonValue(values[0]) : null;
}

const statsIndex: Handler = (_req, res, ctx) => {
  const glob = globParam(ctx);
  const labels = new Set<string>();
  for (const r of selectFiles(ctx, glob)) for (const f of r.snapshot?.fields ?? []) labels.add(f.label);
  sendJson(res, 200, { stats: [...labels].sort() });
};

const stats: Handler = (req, res, ctx) => {
  const name = rest(ctx, 1);
  if (name === '') return statsIndex(req, res, ctx);
  const glob = globParam(ctx);
  const exact = truthy(param(ctx, 'exact'));
  const aggrRaw = param(ctx, 'aggr');
  if (aggrRaw !== undefined && !(REDUCTIONS as readonly string[]).includes(aggrRaw)) {
    throw new HttpError(400, `aggr must be one of ${REDUCTIONS.join(', ')}, not ${JSON.stringify(aggrRaw)}`);
  }
  const lists = new Map<string, unknown[]>();
  for (const r of selectFiles(ctx, glob)) {
    for (const f of r.snapshot?.fields ?? []) {
      if (exact ? f.label !== name : !f.label.startsWith(name)) continue;
      let list = lists.get(f.label);
      if (!list) lists.set(f.label, (list = []));
      list.push(f.value);
    }
  }
  const out: Record<string, unknown> = {};
  for (const label of [...lists.keys()].sort()) {
    const values = lists.get(label)!;
    out[label] = aggrRaw === undefined ? values.map(jsonValue) : aggregateValues(values, aggrRaw as Reduction);
  }
  sendJson(res, 200, out);
};

const files: Handler = (_req, res, ctx) => {
  const sub = ctx.segments.slice(1).filter((s, i, a) => s !== '' || i < a.length - 1);
  if (sub.length > 1) throw new HttpError(400, 'a files glob is a file name pattern, not a path');
  let glob: string | undefined;
  if (sub.length === 1) {
    try {
      glob = checkName(sub[0]!, 'glob');
    } catch (err) {
      throw new HttpError(400, (err as UnsafeInput).message);
    }
  }
  const rows = selectFiles(ctx, glob);
  sendJson(res, 200, {
    files: rows.map((r) => r.path),
    errors: rows.flatMap((r) => (r.error ? [{ path: r.path, ...r.error }] : [])),
  });
};

const writers: Handler = (_req, res, ctx) => {
  const glob = globParam(ctx);
  const view = ctx.store.read();
  sendJson(res, 200, { writers: selectFiles(ctx, glob).map(writerRow), skipped: view.skipped });
};

const fields: Handler = (_req, res, ctx) => {
  const glob = globParam(ctx);
  const gaugeRaw = param(ctx, 'gauge') ?? 'sum';
  if (!(GAUGE_MODES as readonly string[]).includes(gaugeRaw)) {
    throw new HttpError(400, `gauge must be one of ${GAUGE_MODES.join(', ')}, not ${JSON.stringify(gaugeRaw)}`);
  }
  if (glob !== undefined) selectFiles(ctx, glob);
  return sendJsonList(res, 200, 'fields', ctx.store.fields({ prefix: param(ctx, 'prefix') ?? '', gauge: gaugeRaw as GaugeMode, glob }));
};

const oneFile: Handler = (_req, res, ctx) => {
  const name = rest(ctx, 2);
  if (ctx.segments.length !== 3)
    throw new HttpError(name === '' ? 404 : 400, name === '' ? 'name a file: /api/files/<name>' : 'a file name, not a path');
  let file: string | undefined;
  try {
    file = resolveInside(ctx.store.dirs, name);
  } catch (err) {
    throw new HttpError(400, (err as UnsafeInput).message);
  }
  const row = file === undefined ? undefined : ctx.store.file(name);
  if (!row) throw new HttpError(404, `no stats file ${JSON.stringify(name)}`);
  if (row.error) {
    sendJson(res, 200, { path: row.path, name: row.name, error: row.error });
    return;
  }
  const s = row.snapshot!;
  const fieldRows = (function* () {
    for (const f of s.fields) {
      yield { ...f, value: jsonValue(f.value), ...(isHistogram(f.value) ? { summary: summarizeHistogram(f.value) } : {}) };
    }
  })();
  const head = { path: row.path, name: row.name, format: s.format, writer: writerRow(row), generation: s.generation };
  return sendJsonList(res, 200, 'fields', fieldRows, head);
};

const status: Handler = (_req, res, ctx) => {
  const view = ctx.store.read();
  sendJson(res, 200, {
    paths: ctx.store.paths,
    dirs: ctx.store.dirs,
    files: view.files.length,
    errors: view.errors.length,
    skipped: view.skipped,
    openReaders: ctx.store.openReaders,
    maxOpen: ctx.store.maxOpenReaders,
  });
};

/**
 * The `/metrics` handler: one renderer per format, each keeping its plan and counter
 * totals from scrape to scrape. With `warm`, the text format's plan is made now from
 * a read of every file, so that the first scrape costs about what the next ones do.
 */
function metricsRoute(options: ExpositionOptions, warm?: StatsStore): Handler {
  const renderers = { text: new MetricsRenderer(options), openMetrics: new MetricsRenderer({ ...options, openMetrics: true }) };
  if (warm) renderers.text.render(warm.read());
  return (req, res, ctx) => {
    const om = wantsOpenMetrics(req.headers.accept);
    const body = (om ? renderers.openMetrics : renderers.text).render(ctx.store.read());
    sendText(res, 200, body, om ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE);
  };
}

const index: Handler = (_req: IncomingMessage, res: ServerResponse, ctx) => {
  if (ctx.segments.length !== 1 || ctx.segments[0] !== '') throw new HttpError(404, `no route for /${ctx.segments.join('/')}`);
  const labels = new Set<string>();
  for (const r of ctx.store.read().files) for (const f of r.snapshot?.fields ?? []) labels.add(f.label);
  sendJson(res, 200, {
    stats: [...labels].sort(),
    routes: [
      '/stats/',
      '/stats/<name>',
      '/files/',
      '/files/<glob>',
      '/api/writers',
      '/api/fields',
      '/api/files/<name>',
      '/api/status',
      '/metrics',
    ],
  });
};

/**
 * The JSON and metrics routes, as [method, prefix, handler]; `exposition` configures
 * `/metrics`. With `warm`, every file of that store is opened and read, and the
 * `/metrics` plan made, before this returns.
 */
export function jsonRoutes(exposition: ExpositionOptions = {}, warm?: StatsStore): [string, string, Handler][] {
  return [
    ['GET', '/', index],
    ['GET', '/stats', stats],
    ['GET', '/files', files],
    ['GET', '/api/writers', writers],
    ['GET', '/api/fields', fields],
    ['GET', '/api/files', oneFile],
    ['GET', '/api/status', status],
    ['GET', '/metrics', metricsRoute(exposition, warm)],
  ];
}
