/**
 * HTTP server metrics with one call, named and labelled as OpenTelemetry's HTTP
 * semantic conventions say (docs/RUNTIME.md, "HTTP server"):
 *
 * - `http.server.request.duration`: a histogram in seconds, labelled
 *   `http_request_method`, `http_response_status_code` and `http_route`;
 * - `http.server.requests`: requests received, by `http_request_method`;
 * - `http.server.active_requests`: requests in flight, by `http_request_method`;
 * - `http.server.aborted_requests`: requests whose connection closed before the
 *   response finished, by `http_request_method`.
 *
 * ```ts
 * const server = http.createServer(handler);
 * const metrics = instrumentHttpServer(server, { stats });   // one server
 * // or: instrumentHttp()                                   // every node:http / node:https server
 * ```
 *
 * The label names are OpenTelemetry's attribute names with dots as underscores (a
 * label name is an identifier), as OpenTelemetry's own Prometheus exporter writes
 * them. The route is never the raw URL path: it is what `setRoute(req, '/users/:id')`
 * gave, else the route pattern Express (`req.baseUrl + req.route.path`) or Fastify
 * (`request.routeOptions.url`) matched, else the empty string, which Prometheus
 * treats as no label at all.
 *
 * How requests are seen: through the `http.server.request.start` and
 * `http.server.response.finish` diagnostics channels, which node:http and
 * node:https publish for every server without wrapping anything; on a Node
 * without those channels, `instrumentHttpServer` falls back to a listener put
 * first on the server's `request` event. A request whose connection closes before
 * its response finished counts as aborted, and is not timed.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { now as clockNow } from '../platform/clock.js';
import { MmstatsError } from '../errors.js';
import type { Field, FieldSpec } from '../writer/field.js';
import { field } from '../writer/fields/index.js';
import type { HistogramField } from '../writer/fields/histogram.js';
import type { CounterField, GaugeField } from '../writer/fields/scalar.js';
import type { Family } from '../writer/family.js';
import { openStats, type Stats } from '../writer/model.js';

/**
 * Methods that keep their name in `http_request_method` (RFC 9110's and PATCH, as
 * OpenTelemetry lists them); any other method is `_OTHER`, so a client cannot make
 * series up by inventing methods.
 */
export const HTTP_METHODS = ['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE'] as const;

/** The label names of the HTTP metrics: OpenTelemetry's attribute names with `_` for `.`. */
export const HTTP_LABELS = {
  method: 'http_request_method',
  status: 'http_response_status_code',
  route: 'http_route',
} as const;

/** OpenTelemetry's advisory bucket bounds of `http.server.request.duration`, in seconds. */
export const HTTP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] as const;

/** Options of {@link instrumentHttpServer} and {@link instrumentHttp}. */
export interface HttpMetricsOptions {
  /** Add the fields to these stats (which stay open after `stop`). Default: open a file of its own (class `Http`). */
  readonly stats?: Stats;
  /** Directory of the file of its own (default: MMSTATS_PATH, else the default stats directory). */
  readonly path?: string;
  /** File name template of the file of its own. */
  readonly filename?: string;
  /** Prefix of every label (default `http.`: `http.server.request.duration` ...). */
  readonly prefix?: string;
  /** Most label sets of each family (default 2000); past it, updates go to one overflow series. */
  readonly maxSeries?: number;
  /**
   * How requests are observed: `'channel'` (diagnostics_channel), `'listener'` (a
   * first `request` listener; `instrumentHttpServer` only), or `'auto'` (default:
   * the channels where this Node has them).
   */
  readonly via?: 'auto' | 'channel' | 'listener';
}

/** HTTP metrics being published. */
export interface HttpMetrics extends Disposable {
  /** The stats the metrics are published in. */
  readonly stats: Stats;
  /** How requests are observed. */
  readonly via: 'channel' | 'listener';
  /** Stop observing; remove the file if the metrics opened their own. Idempotent. */
  stop(): void;
}

const START = 'http.server.request.start';
const FINISH = 'http.server.response.finish';
/** Fastify 5 publishes this tracing channel before a route's handler runs, with the matched route. */
const FASTIFY_HANDLER = 'tracing:fastify.request.handler:start';

/**
 * Whether this Node publishes the HTTP server diagnostics channels (added in
 * Node 18.6 and 16.17; every Node this package supports has them).
 */
export function hasHttpServerChannels(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 18 || (major === 18 && minor >= 6) || (major === 16 && minor >= 17);
}

interface ServerMessage {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly server: Server;
}

/** Per-request state, on the request and response under symbols: no map to clean up. */
const STARTED = Symbol('mmstats.http.started');
const METHOD = Symbol('mmstats.http.method');
const ROUTE = Symbol('mmstats.http.route');
type Tracked = ServerResponse & { [STARTED]?: number; [METHOD]?: string };
type Routed = IncomingMessage & { [ROUTE]?: string };

/** What Express 5 leaves on its request: the mount path matched and the route that handled it. */
interface ExpressRequest {
  readonly baseUrl?: unknown;
  readonly route?: { readonly path?: unknown } | null;
}

/**
 * Name the route of a request for the HTTP metrics' `http_route` label: the
 * route's template (`'/users/:id'`), never the path the client sent, which would
 * make one series per URL. Wins over what Express or Fastify matched; call it any
 * time before the response finishes.
 *
 * ```ts
 * server.on('request', (req, res) => {
 *   if (req.url?.startsWith('/users/')) setRoute(req, '/users/:id');
 * });
 * ```
 */
export function setRoute(req: IncomingMessage, route: string): void {
  if (typeof route !== 'string') throw new TypeError(`setRoute needs the route template as a string, not ${typeof route}`);
  (req as Routed)[ROUTE] = route;
}

/** The route template of a request: set by the application, else by Express's router, else none (''). */
export function routeOf(req: IncomingMessage): string {
  const set = (req as Routed)[ROUTE];
  if (set !== undefined) return set;
  const route = (req as IncomingMessage & ExpressRequest).route;
  const path = route?.path;
  if (typeof path === 'string') {
    // The mount path of the router that matched (app.use('/api', router)): '' at the top.
    const base = (req as IncomingMessage & ExpressRequest).baseUrl;
    return typeof base === 'string' ? base + path : path;
  }
  return '';
}

const KNOWN_METHODS: ReadonlySet<string> = new Set(HTTP_METHODS);

function methodLabel(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : '_OTHER';
}

/** The one Fastify subscriber, shared by every instrumentation: it names the route on the raw request. */
let fastifyUsers = 0;
const onFastifyHandler = (msg: unknown) => {
  const m = msg as { request?: { raw?: IncomingMessage; routeOptions?: { url?: unknown } }; route?: { url?: unknown } };
  const raw = m.request?.raw;
  const url = m.request?.routeOptions?.url ?? m.route?.url;
  if (raw && typeof url === 'string' && (raw as Routed)[ROUTE] === undefined) (raw as Routed)[ROUTE] = url;
};
function watchFastify(): () => void {
  if (fastifyUsers++ === 0) diagnosticsChannel.subscribe(FASTIFY_HANDLER, onFastifyHandler);
  return () => {
    if (--fastifyUsers === 0) diagnosticsChannel.unsubscribe(FASTIFY_HANDLER, onFastifyHandler);
  };
}

const [M, S, R] = [HTTP_LABELS.method, HTTP_LABELS.status, HTTP_LABELS.route];

class HttpInstrument implements HttpMetrics {
  readonly stats: Stats;
  readonly via: 'channel' | 'listener';
  private readonly own: boolean;
  private readonly duration: Family<HistogramField, readonly [typeof M, typeof S, typeof R]>;
  private readonly requests: Family<CounterField, readonly [typeof M]>;
  private readonly active: Family<GaugeField, readonly [typeof M]>;
  private readonly aborted: Family<CounterField, readonly [typeof M]>;
  private readonly detach: () => void;
  private stopped = false;

  constructor(
    private readonly server: Server | undefined,
    options: HttpMetricsOptions,
  ) {
    const via = options.via ?? 'auto';
    if (via !== 'auto' && via !== 'channel' && via !== 'listener') {
      throw new RangeError(`via must be 'auto', 'channel' or 'listener', not ${JSON.stringify(via)}`);
    }
    if (via === 'listener' && !server) throw new RangeError("via: 'listener' needs a server: use instrumentHttpServer(server, ...)");
    if (via === 'channel' && !hasHttpServerChannels()) {
      throw new MmstatsError('ERR_MMSTATS_UNSUPPORTED', `Node ${process.versions.node} has no HTTP server diagnostics channels`);
    }
    this.via = via === 'listener' || (via === 'auto' && !hasHttpServerChannels()) ? 'listener' : 'channel';
    if (!server && this.via === 'listener') {
      throw new MmstatsError(
        'ERR_MMSTATS_UNSUPPORTED',
        'instrumentHttp() needs the HTTP server diagnostics channels; use instrumentHttpServer(server)',
      );
    }
    this.own = options.stats === undefined;
    this.stats = options.stats ?? openStats({ name: 'Http', path: options.path, filename: options.filename });
    const p = options.prefix ?? 'http.';
    // Passed on only when given, so each family keeps the library's default otherwise.
    const limit = options.maxSeries === undefined ? {} : { maxSeries: options.maxSeries };
    const add = <F extends Field>(name: string, make: (label: string) => FieldSpec<F>): F => this.stats.add(name, make(p + name));
    try {
      this.duration = add('server.request.duration', (label) =>
        field.histogram({
          label,
          help: 'duration of HTTP server requests, from request received to response finished',
          unit: 'seconds',
          buckets: [...HTTP_DURATION_BUCKETS],
          labels: [M, S, R],
          ...limit,
        }),
      );
      const byMethod = [M] as const;
      this.requests = add('server.requests', (label) =>
        field.counter({
          label,
          help: 'HTTP requests received',
          unit: 'requests',
          labels: byMethod,
          ...limit,
        }),
      );
      this.active = add('server.active_requests', (label) =>
        field.gauge({
          label,
          help: 'HTTP requests in flight',
          unit: 'requests',
          labels: byMethod,
          ...limit,
        }),
      );
      this.aborted = add('server.aborted_requests', (label) =>
        field.counter({
          label,
          help: 'HTTP requests whose connection closed before the response finished',
          unit: 'requests',
          labels: byMethod,
          ...limit,
        }),
      );
    } catch (err) {
      if (this.own) this.stats.remove();
      throw err;
    }
    const unwatch = watchFastify();
    const detach = this.via === 'channel' ? this.subscribe() : this.listen(server!);
    this.detach = () => {
      detach();
      unwatch();
    };
  }

  private subscribe(): () => void {
    const onStart = (msg: unknown) => {
      const m = msg as ServerMessage;
      if (this.server === undefined || m.server === this.server) this.start(m.request, m.response);
    };
    const onFinish = (msg: unknown) => {
      const m = msg as ServerMessage;
      if (this.server === undefined || m.server === this.server) this.finish(m.request, m.response);
    };
    diagnosticsChannel.subscribe(START, onStart);
    diagnosticsChannel.subscribe(FINISH, onFinish);
    return () => {
      diagnosticsChannel.unsubscribe(START, onStart);
      diagnosticsChannel.unsubscribe(FINISH, onFinish);
    };
  }

  private listen(server: Server): () => void {
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      this.start(req, res);
      res.once('finish', () => this.finish(req, res));
    };
    server.prependListener('request', onRequest);
    return () => server.removeListener('request', onRequest);
  }

  private start(req: IncomingMessage, res: Tracked): void {
    if (this.stopped || res[STARTED] !== undefined) return;
    // Stats closed under the metrics: stop, never throw into the server.
    if (this.requests.closed) return this.stop();
    const method = methodLabel(req.method);
    res[STARTED] = clockNow();
    res[METHOD] = method;
    this.requests.with(method).incr();
    this.active.with(method).incr();
    res.once('close', () => {
      // 'finish' comes before 'close' when the response completed.
      if (res[STARTED] === undefined || this.stopped) return;
      if (this.requests.closed) return this.stop();
      res[STARTED] = undefined;
      this.active.with(method).decr();
      this.aborted.with(method).incr();
    });
  }

  private finish(req: IncomingMessage, res: Tracked): void {
    const t0 = res[STARTED];
    if (t0 === undefined || this.stopped) return;
    if (this.requests.closed) return this.stop();
    res[STARTED] = undefined;
    const method = res[METHOD]!;
    this.duration.with(method, res.statusCode, routeOf(req)).record((clockNow() - t0) / 1000);
    this.active.with(method).decr();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.detach();
    if (this.own) this.stats.remove();
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}

/**
 * Count and time the requests of one node:http or node:https server (Express
 * and Fastify apps included): `http.server.request.duration` by method, status
 * code and route, and `http.server.requests`, `http.server.active_requests` and
 * `http.server.aborted_requests` by method (prefix `http.` by default). See
 * docs/RUNTIME.md.
 *
 * ```ts
 * const server = http.createServer(app);
 * const metrics = instrumentHttpServer(server, { prefix: 'web.' });
 * server.on('close', () => metrics.stop());
 * ```
 */
export function instrumentHttpServer(server: Server, options: HttpMetricsOptions = {}): HttpMetrics {
  if (server === null || typeof server !== 'object' || typeof (server as Server).prependListener !== 'function') {
    throw new TypeError('instrumentHttpServer needs a node:http or node:https server');
  }
  return new HttpInstrument(server, options);
}

/**
 * Count and time the requests of every node:http and node:https server in this
 * process (through diagnostics_channel: servers created before or after the call
 * alike). Same families as {@link instrumentHttpServer}.
 */
export function instrumentHttp(options: Omit<HttpMetricsOptions, 'via'> = {}): HttpMetrics {
  return new HttpInstrument(undefined, { ...options, via: 'channel' });
}
