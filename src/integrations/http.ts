/**
 * HTTP server metrics with one call: requests by method, responses by status
 * class, durations, requests in flight and requests the client abandoned.
 *
 * ```ts
 * const server = http.createServer(handler);
 * const metrics = instrumentHttpServer(server, { stats });   // one server
 * // or: instrumentHttp()                                   // every node:http / node:https server
 * ```
 *
 * How requests are seen: through the `http.server.request.start` and
 * `http.server.response.finish` diagnostics channels, which node:http and
 * node:https publish for every server without wrapping anything; on a Node
 * without those channels, `instrumentHttpServer` falls back to a listener put
 * first on the server's `request` event. A request whose connection closes before
 * its response finished counts as aborted, not under a status class.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { now as clockNow } from '../platform/clock.js';
import { MmstatsError } from '../errors.js';
import type { Field, FieldSpec } from '../writer/field.js';
import { field } from '../writer/fields/index.js';
import type { CounterField, GaugeField } from '../writer/fields/scalar.js';
import type { TimerField } from '../writer/fields/timer.js';
import { openStats, type Stats } from '../writer/model.js';

/** Methods counted under their own label; any other method counts as `OTHER`. */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/** Options of {@link instrumentHttpServer} and {@link instrumentHttp}. */
export interface HttpMetricsOptions {
  /** Add the fields to these stats (which stay open after `stop`). Default: open a file of its own (class `Http`). */
  readonly stats?: Stats;
  /** Directory of the file of its own (default: MMSTATS_PATH, else the default stats directory). */
  readonly path?: string;
  /** File name template of the file of its own. */
  readonly filename?: string;
  /** Prefix of every label (default `http.`). */
  readonly prefix?: string;
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

/** Per-request state, on the response under a symbol: no map to clean up. */
const STARTED = Symbol('mmstats.http.started');
type Tracked = ServerResponse & { [STARTED]?: number };

class HttpInstrument implements HttpMetrics {
  readonly stats: Stats;
  readonly via: 'channel' | 'listener';
  private readonly own: boolean;
  private readonly requests: CounterField;
  private readonly byMethod = new Map<string, CounterField>();
  private readonly other: CounterField;
  private readonly byClass: CounterField[];
  private readonly otherClass: CounterField;
  private readonly aborted: CounterField;
  private readonly active: GaugeField;
  private readonly duration: TimerField;
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
    const add = <F extends Field>(name: string, make: (label: string) => FieldSpec<F>): F => this.stats.add(name, make(p + name));
    const counter = (name: string, help: string) => add(name, (label) => field.counter({ label, help, unit: 'requests' }));
    try {
      this.requests = counter('requests', 'requests received');
      for (const m of HTTP_METHODS) this.byMethod.set(m, counter(`requests.${m}`, `${m} requests received`));
      this.other = counter('requests.OTHER', 'requests with any other method');
      this.byClass = [1, 2, 3, 4, 5].map((c) => counter(`status.${c}XX`, `responses with a ${c}xx status`));
      this.otherClass = counter('status.other', 'responses with a status from 600 to 999');
      this.aborted = counter('aborted', 'requests whose connection closed before the response finished');
      this.active = add('active', (label) => field.gauge({ label, help: 'requests in flight', unit: 'requests' }));
      this.duration = add('duration', (label) =>
        field.timer({ label, help: 'time from request received to response finished', precision: 5, lowest: 1e-6, highest: 1e4 }),
      );
    } catch (err) {
      if (this.own) this.stats.remove();
      throw err;
    }
    this.detach = this.via === 'channel' ? this.subscribe() : this.listen(server!);
  }

  private subscribe(): () => void {
    const onStart = (msg: unknown) => {
      const m = msg as ServerMessage;
      if (this.server === undefined || m.server === this.server) this.start(m.request, m.response);
    };
    const onFinish = (msg: unknown) => {
      const m = msg as ServerMessage;
      if (this.server === undefined || m.server === this.server) this.finish(m.response);
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
      res.once('finish', () => this.finish(res));
    };
    server.prependListener('request', onRequest);
    return () => server.removeListener('request', onRequest);
  }

  private start(req: IncomingMessage, res: Tracked): void {
    if (this.stopped || res[STARTED] !== undefined) return;
    // Stats closed under the metrics: stop, never throw into the server.
    if (this.requests.closed) return this.stop();
    res[STARTED] = clockNow();
    this.requests.incr();
    (this.byMethod.get(req.method ?? '') ?? this.other).incr();
    this.active.incr();
    res.once('close', () => {
      // 'finish' comes before 'close' when the response completed.
      if (res[STARTED] === undefined || this.stopped) return;
      if (this.requests.closed) return this.stop();
      res[STARTED] = undefined;
      this.active.decr();
      this.aborted.incr();
    });
  }

  private finish(res: Tracked): void {
    const t0 = res[STARTED];
    if (t0 === undefined || this.stopped) return;
    if (this.requests.closed) return this.stop();
    res[STARTED] = undefined;
    this.active.decr();
    const c = Math.floor(res.statusCode / 100);
    (c >= 1 && c <= 5 ? this.byClass[c - 1]! : this.otherClass).incr();
    this.duration.record((clockNow() - t0) / 1000);
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
 * Count and time the requests of one node:http or node:https server. Labels
 * (prefix `http.` by default): `requests`, `requests.GET` ... `requests.OTHER`,
 * `status.1XX` ... `status.5XX`, `status.other`, `aborted`, `active`, `duration` (a timer in
 * seconds). See docs/RUNTIME.md.
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
 * alike). Same labels as {@link instrumentHttpServer}.
 */
export function instrumentHttp(options: Omit<HttpMetricsOptions, 'via'> = {}): HttpMetrics {
  return new HttpInstrument(undefined, { ...options, via: 'channel' });
}
