/**
 * The live dashboard, mounted on the `mmstats serve` server: `/` (the page),
 * `/dashboard/*` (its bundled script and styles, built by
 * scripts/build-dashboard.js into dist/dashboard/) and `/api/stream` (Server-Sent
 * Events, one `update` per tick, see protocol.ts).
 *
 * Everything is served locally; the page's Content-Security-Policy allows only
 * its own script and styles, so even a bug in the page could not load markup
 * or scripts named by a stats file.
 */
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FilePoller, UpdateEncoder, type ReadResult } from './stream.js';

/** A route handler, as the server calls it (its third argument, the route context, is not needed). */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * What the dashboard needs from the server it is mounted on: a subset of the
 * server's `App` (src/tools/server/server.ts), so the server's app fits as is.
 */
export interface DashboardHost {
  /** Register `handler` for GET (and HEAD) requests under `pathPrefix`; the longest prefix wins. */
  addRoute(method: string, pathPrefix: string, handler: DashboardHandler): void;
  /** The stats paths the server reads (directories, globs or files). */
  readonly paths?: readonly string[];
  /** The server's store; its `readAll()` (snapshots and errors, cached briefly) is read each tick. */
  readonly store?: unknown;
}

/** Options of the dashboard. */
export interface DashboardOptions {
  /** Milliseconds between updates on `/api/stream` (default 1000, at least 100). */
  readonly intervalMs?: number;
  /** Where the built assets are (default: dist/dashboard beside this module's build). */
  readonly assetsDir?: string;
}

/** The directory scripts/build-dashboard.js writes to: dist/dashboard. */
export const DEFAULT_ASSETS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'dashboard');

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Bytes of unsent updates a stream may hold before ticks are skipped for it. */
const MAX_BUFFERED = 1 << 20;

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

/** Load the built assets once: a fixed set of names, so no request path ever reaches the file system. */
function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return assets;
  }
  for (const name of names) {
    const type = CONTENT_TYPES[path.extname(name)];
    if (!type) continue;
    try {
      const st = fs.lstatSync(path.join(dir, name));
      if (st.isFile()) assets.set(name, { body: fs.readFileSync(path.join(dir, name)), type });
    } catch {
      // Unreadable: not served.
    }
  }
  return assets;
}

/**
 * The source of ticks: the server store when it can give snapshots, else our own
 * poller over the server's paths.
 */
interface TickSource {
  read(): ReadResult;
  close(): void;
}

function tickSource(host: DashboardHost): TickSource {
  const store = host.store as { readAll?: () => ReadResult } | undefined;
  if (store && typeof store.readAll === 'function') {
    return { read: () => store.readAll!(), close: () => undefined };
  }
  return new FilePoller(host.paths ?? []);
}

/**
 * One shared tick for every open stream: the files are read once per tick,
 * whatever the number of pages watching.
 */
class Broadcaster {
  private readonly clients = new Set<{ res: ServerResponse; encoder: UpdateEncoder }>();
  private timer: NodeJS.Timeout | undefined;
  private source: TickSource | undefined;

  constructor(
    private readonly host: DashboardHost,
    private readonly intervalMs: number,
  ) {}

  add(res: ServerResponse): void {
    const client = { res, encoder: new UpdateEncoder() };
    this.clients.add(client);
    res.on('close', () => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.stop();
    });
    // The first update goes out at once, so the page fills without waiting a tick.
    this.send(this.read(), [client]);
    if (!this.timer) {
      this.timer = setInterval(() => this.send(this.read(), [...this.clients]), this.intervalMs);
      this.timer.unref();
    }
  }

  private read(): { t: number; result: ReadResult } {
    this.source ??= tickSource(this.host);
    const t = Date.now();
    try {
      return { t, result: this.source.read() };
    } catch (err) {
      // A failure of the whole read (not of one file) shows as one error row.
      return { t, result: { snapshots: [], errors: [{ path: (this.host.paths ?? []).join(', '), error: err as Error }] } };
    }
  }

  private send(tick: { t: number; result: ReadResult }, clients: Iterable<{ res: ServerResponse; encoder: UpdateEncoder }>): void {
    for (const c of clients) {
      if (c.res.writableEnded || c.res.destroyed) continue;
      // A page that does not keep up skips ticks rather than piling them up in memory.
      if (c.res.writableLength > MAX_BUFFERED) continue;
      const update = c.encoder.encode(tick.t, this.host.paths ?? [], tick.result);
      c.res.write(`event: update\ndata: ${JSON.stringify(update)}\n\n`);
    }
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.source?.close();
    this.source = undefined;
  }
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
  res.end(text + '\n');
}

/** The server's own 404 shape, for paths under `/` that nothing else serves. */
function sendJson404(res: ServerResponse, pathname: string): void {
  res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS });
  res.end(JSON.stringify({ error: `no route for ${pathname}` }) + '\n');
}

function pathnameOf(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return '';
  }
}

/**
 * Mount the dashboard on a server: `GET /` (the page), `GET /dashboard/<asset>`
 * and `GET /api/stream` (Server-Sent Events, an `update` at least once a second).
 */
export function mountDashboard(host: DashboardHost, options: DashboardOptions = {}): void {
  const assets = loadAssets(options.assetsDir ?? DEFAULT_ASSETS_DIR);
  const broadcaster = new Broadcaster(host, Math.max(100, options.intervalMs ?? 1000));
  const missing = 'the dashboard is not built: run `npm run build` (scripts/build-dashboard.js writes dist/dashboard/)';

  const serveAsset = (name: string, res: ServerResponse, head: boolean) => {
    const asset = assets.get(name);
    if (!asset) {
      sendText(res, assets.size === 0 ? 503 : 404, assets.size === 0 ? missing : 'not found');
      return;
    }
    res.writeHead(200, {
      'content-type': asset.type,
      'content-length': asset.body.length,
      'cache-control': name === 'index.html' ? 'no-cache' : 'public, max-age=300',
      ...SECURITY_HEADERS,
    });
    res.end(head ? undefined : asset.body);
  };

  // GET routes answer HEAD too (the server's rule); the asset names are a fixed set.
  host.addRoute('GET', '/', (req, res) => {
    const p = pathnameOf(req);
    if (p === '/' || p === '/index.html') serveAsset('index.html', res, req.method === 'HEAD');
    else sendJson404(res, p);
  });
  host.addRoute('GET', '/dashboard/', (req, res) => {
    serveAsset(pathnameOf(req).slice('/dashboard/'.length), res, req.method === 'HEAD');
  });

  host.addRoute('GET', '/api/stream', (req, res) => {
    if (pathnameOf(req) !== '/api/stream') {
      sendText(res, 404, 'not found');
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...SECURITY_HEADERS,
    });
    res.write('retry: 2000\n\n');
    req.socket.setKeepAlive(true);
    req.socket.setNoDelay(true);
    broadcaster.add(res);
  });
}
