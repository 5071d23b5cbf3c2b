/**
 * Node runtime metrics with one call: event loop, heap, GC, CPU, memory, handles.
 *
 * ```ts
 * const rt = startRuntimeMetrics();          // its own stats file, `nodejs.*` fields
 * // or: startRuntimeMetrics({ stats })       // fields added to stats you already have
 * rt.stop();                                 // every timer and observer released
 * ```
 *
 * Every figure is refreshed on one unref'd interval (default 1 s), so the metrics
 * never keep a process alive. What is per thread and what is per process is kept
 * apart: heap, GC, event loop and active resources belong to the thread that
 * started the metrics (a worker thread has its own V8 heap and its own loop), and
 * are published in that thread's file; process-wide figures (CPU, RSS, file
 * descriptors) are published by the main thread only, so that adding up the files
 * of a process never counts them twice. Heap spaces, GC kinds and active resource
 * types are labels of one family each (`{space}`, `{kind}`, `{type}`), not fields
 * of their own. docs/RUNTIME.md lists every label.
 */
import fs from 'node:fs';
import { constants as perfConstants, monitorEventLoopDelay, performance, PerformanceObserver, type ELDHistogram } from 'node:perf_hooks';
import v8 from 'node:v8';
import { isMainThread } from 'node:worker_threads';
import { MmstatsError } from '../errors.js';
import * as native from '../native/index.js';
import type { Field, FieldSpec } from '../writer/field.js';
import { field } from '../writer/fields/index.js';
import type { Family } from '../writer/family.js';
import type { HistogramField } from '../writer/fields/histogram.js';
import type { CounterField, GaugeField } from '../writer/fields/scalar.js';
import { openStats, type Stats } from '../writer/model.js';

/** Options of {@link startRuntimeMetrics}. */
export interface RuntimeMetricsOptions {
  /** Add the fields to these stats (which stay open after `stop`). Default: open a file of its own (class `Runtime`). */
  readonly stats?: Stats;
  /** Directory of the file of its own (default: MMSTATS_PATH, else the default stats directory). */
  readonly path?: string;
  /** File name template of the file of its own (default: MMSTATS_FILES, else the default template). */
  readonly filename?: string;
  /** Prefix of every label (default `nodejs.`). */
  readonly prefix?: string;
  /** Refresh interval in milliseconds (default 1000). */
  readonly intervalMs?: number;
  /** Sampling resolution of the event-loop delay monitor in milliseconds (default 10). */
  readonly eventLoopResolutionMs?: number;
  /**
   * Publish the process-wide figures (CPU, RSS, file descriptors, start time).
   * Default: only in the main thread, so they are published once per process.
   */
  readonly processMetrics?: boolean;
  /** Observe garbage collections (default true). */
  readonly gc?: boolean;
}

/** Runtime metrics being published. */
export interface RuntimeMetrics extends Disposable {
  /** The stats the metrics are published in. */
  readonly stats: Stats;
  /** Refresh every figure now (the interval does this on its own). */
  refresh(): void;
  /**
   * Stop: clear the interval, disable the event-loop monitor, disconnect the GC
   * observer, and remove the file if the metrics opened their own. Idempotent.
   */
  stop(): void;
}

/** GC kinds as `PerformanceEntry.detail.kind` reports them, named as in the `kind` label. */
const GC_KINDS: ReadonlyMap<number, string> = new Map([
  [perfConstants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);

/** The histogram of event-loop delays: 100 µs to about 100 s, 6% buckets (precision 4). */
const DELAY_HISTOGRAM = { lowest: 1e-4, highest: 100, precision: 4 } as const;
/** The histogram of GC pauses: 10 µs to about 10 s. */
const GC_HISTOGRAM = { lowest: 1e-5, highest: 10, precision: 4 } as const;
/**
 * Percentiles asked of the delay monitor besides the ones it reports on its own
 * (0, 50, 75, 87.5 ... 100): each call walks the monitor's HDR histogram, so they
 * are few; these split the lower half into deciles.
 */
const EXTRA_PERCENTILES = [10, 20, 30, 40];

const NS = 1e-9;

/** The `space` label of a V8 heap space: its name without the `_space` suffix (`old`, `new`, `code` ...). */
function spaceName(name: string): string {
  return name.replace(/_space$/, '');
}

/**
 * Virtual memory and data segment sizes in bytes from Linux `/proc/self/statm`
 * (cheaper to read than `/proc/self/status`), or undefined elsewhere.
 */
function procStatm(): { virtual: number; data: number } | undefined {
  try {
    const f = fs.readFileSync('/proc/self/statm', 'latin1').split(' ');
    const page = native.pageSize();
    const virtual = Number(f[0]) * page;
    const data = Number(f[5]) * page;
    return Number.isFinite(virtual) && Number.isFinite(data) ? { virtual, data } : undefined;
  } catch {
    return undefined;
  }
}

function openFds(): number | undefined {
  try {
    // The listing holds the descriptor readdir itself opened: not one of the process's own.
    return fs.readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}

function maxFds(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'latin1'));
    return m && m[1] !== 'unlimited' ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

class Runtime implements RuntimeMetrics {
  readonly stats: Stats;
  private readonly own: boolean;
  private readonly p: string;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private eld: ELDHistogram | undefined;
  private gcObserver: PerformanceObserver | undefined;
  private elu = performance.eventLoopUtilization();
  private readonly resolutionMs: number;
  private stopped = false;

  // Per thread.
  private readonly delay: HistogramField;
  private readonly delayGauges: Record<'min' | 'max' | 'mean' | 'stddev' | 'p50' | 'p90' | 'p99', GaugeField>;
  private readonly lag: GaugeField;
  private readonly utilization: GaugeField;
  private readonly heap: Record<'used' | 'total' | 'limit' | 'external' | 'arrayBuffers' | 'malloced', GaugeField>;
  private readonly spaceFamilies: Record<'size' | 'used' | 'available', Family<GaugeField, readonly ['space']>>;
  private readonly spaces = new Map<string, { size: GaugeField; used: GaugeField; available: GaugeField }>();
  private readonly gcPauses = new Map<number, HistogramField>();
  private readonly resources: Family<GaugeField, readonly ['type']>;
  private readonly resourceTypes = new Map<string, GaugeField>();
  // Per process (main thread by default).
  private readonly proc:
    | {
        cpuUser: CounterField;
        cpuSystem: CounterField;
        cpuTotal: CounterField;
        rss: GaugeField;
        fds?: GaugeField;
        maxFds?: GaugeField;
        virtual?: GaugeField;
        data?: GaugeField;
      }
    | undefined;

  constructor(options: RuntimeMetricsOptions) {
    const intervalMs = options.intervalMs ?? 1000;
    if (!(Number.isFinite(intervalMs) && intervalMs >= 10))
      throw new RangeError(`intervalMs must be a number of milliseconds >= 10, not ${intervalMs}`);
    this.resolutionMs = options.eventLoopResolutionMs ?? 10;
    if (!(Number.isInteger(this.resolutionMs) && this.resolutionMs >= 1)) {
      throw new RangeError(`eventLoopResolutionMs must be a whole number of milliseconds >= 1, not ${this.resolutionMs}`);
    }
    if (options.stats && 'creator' in options.stats.storage) {
      throw new MmstatsError(
        'ERR_MMSTATS_UNSUPPORTED',
        'runtime metrics are per thread: give them stats of this thread, not shared stats',
        {
          path: options.stats.path,
        },
      );
    }
    this.own = options.stats === undefined;
    this.stats = options.stats ?? openStats({ name: 'Runtime', path: options.path, filename: options.filename });
    this.p = options.prefix ?? 'nodejs.';
    try {
      const g = (name: string, help: string, unit: string) => this.add(name, (label) => field.gauge({ label, help, unit }));
      const t = ' (this thread: a worker thread has its own)';
      this.delay = this.add('eventloop.delay', (label) =>
        field.histogram({ ...DELAY_HISTOGRAM, label, unit: 'seconds', help: `event-loop delay beyond schedule, every sample${t}` }),
      );
      this.delayGauges = {
        min: g('eventloop.delay.min', `smallest event-loop delay in the last interval${t}`, 'seconds'),
        max: g('eventloop.delay.max', `largest event-loop delay in the last interval${t}`, 'seconds'),
        mean: g('eventloop.delay.mean', `mean event-loop delay in the last interval${t}`, 'seconds'),
        stddev: g('eventloop.delay.stddev', `standard deviation of the event-loop delay in the last interval${t}`, 'seconds'),
        p50: g('eventloop.delay.p50', `median event-loop delay in the last interval${t}`, 'seconds'),
        p90: g('eventloop.delay.p90', `90th percentile of the event-loop delay in the last interval${t}`, 'seconds'),
        p99: g('eventloop.delay.p99', `99th percentile of the event-loop delay in the last interval${t}`, 'seconds'),
      };
      this.lag = g('eventloop.lag', `time a setImmediate callback waited, sampled once per interval${t}`, 'seconds');
      this.utilization = g('eventloop.utilization', `share of the last interval the event loop was busy, 0 to 1${t}`, 'ratio');
      this.heap = {
        used: g('heap.used', `V8 heap in use${t}`, 'bytes'),
        total: g('heap.total', `V8 heap allocated${t}`, 'bytes'),
        limit: g('heap.limit', `V8 heap size limit${t}`, 'bytes'),
        external: g('heap.external', `memory of C++ objects bound to JavaScript objects${t}`, 'bytes'),
        arrayBuffers: g('heap.array_buffers', `memory of ArrayBuffers and SharedArrayBuffers${t}`, 'bytes'),
        malloced: g('heap.malloced', `memory V8 allocated with malloc${t}`, 'bytes'),
      };
      const bySpace = (part: string, help: string) =>
        this.add(`heap.space.${part}`, (label) => field.gauge({ label, help: help + t, unit: 'bytes', labels: ['space'] }));
      this.spaceFamilies = {
        size: bySpace('size', 'size of each V8 heap space'),
        used: bySpace('used', 'bytes in use in each V8 heap space'),
        available: bySpace('available', 'bytes available in each V8 heap space'),
      };
      for (const s of v8.getHeapSpaceStatistics()) this.space(s.space_name);
      if (options.gc ?? true) {
        const gc = this.add('gc.duration', (label) =>
          field.histogram({ ...GC_HISTOGRAM, label, unit: 'seconds', help: `garbage collection pauses by kind${t}`, labels: ['kind'] }),
        );
        for (const [kind, name] of GC_KINDS) this.gcPauses.set(kind, gc.with(name));
      }
      this.resources = this.add('active.resources', (label) =>
        field.gauge({
          label,
          help: `resources keeping the event loop alive, by type (process.getActiveResourcesInfo)${t}`,
          unit: 'resources',
          labels: ['type'],
        }),
      );
      if (options.processMetrics ?? isMainThread) {
        const pt = ' (the whole process)';
        const c = (name: string, help: string) => this.add(name, (label) => field.counter({ label, help: help + pt, unit: 'seconds' }));
        this.proc = {
          cpuUser: c('process.cpu.user', 'CPU time in user mode'),
          cpuSystem: c('process.cpu.system', 'CPU time in system mode'),
          cpuTotal: c('process.cpu.total', 'CPU time, user and system'),
          rss: g('process.rss', `resident set size${pt}`, 'bytes'),
        };
        this.add('process.start_time', (label) =>
          field.static.float64(Date.now() / 1000 - process.uptime(), {
            label,
            help: `process start time, Unix time${pt}`,
            unit: 'seconds',
          }),
        );
        if (openFds() !== undefined) this.proc.fds = g('process.open_fds', `open file descriptors${pt}`, 'descriptors');
        if (maxFds() !== undefined) {
          this.proc.maxFds = g('process.max_fds', `soft limit on open file descriptors${pt}`, 'descriptors');
          this.proc.maxFds.set(maxFds()!);
        }
        if (procStatm() !== undefined) {
          this.proc.virtual = g('process.virtual_memory', `virtual memory size${pt}`, 'bytes');
          this.proc.data = g('process.heap', `data segment size (VmData)${pt}`, 'bytes');
        }
      }
    } catch (err) {
      if (this.own) this.stats.remove();
      throw err;
    }

    this.eld = monitorEventLoopDelay({ resolution: this.resolutionMs });
    this.eld.enable();
    if (options.gc ?? true) {
      this.gcObserver = new PerformanceObserver((list) => {
        if (this.stopped) return;
        if (this.resources.closed) return this.stop(); // the stats were closed under the metrics
        for (const e of list.getEntries()) {
          const kind = (e as { detail?: { kind?: number } }).detail?.kind;
          if (kind !== undefined) this.gcPauses.get(kind)?.record(e.duration / 1000);
        }
      });
      this.gcObserver.observe({ entryTypes: ['gc'] });
    }
    this.refresh();
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  /** Add a field labelled with the metrics' own prefix, whatever the prefix of the stats. */
  private add<F extends Field>(name: string, make: (label: string) => FieldSpec<F>): F {
    return this.stats.add(name, make(this.p + name));
  }

  private space(raw: string) {
    let s = this.spaces.get(raw);
    if (!s) {
      const name = spaceName(raw);
      const f = this.spaceFamilies;
      s = { size: f.size.with(name), used: f.used.with(name), available: f.available.with(name) };
      this.spaces.set(raw, s);
    }
    return s;
  }

  /**
   * The interval's work runs in the check phase (setImmediate), and its wait for
   * that phase is the loop lag, as prom-client measures it. Resetting the delay
   * monitor drops its sample in flight (Node clears the monitor's previous sample
   * time): the one that would measure whatever blocked the loop since the monitor
   * last sampled. The lag measured that block too, so it stands in for the dropped
   * sample; without it a block ending in an I/O callback just before the check
   * phase would never reach the histogram.
   */
  private tick(): void {
    if (this.immediate !== undefined) return;
    const t0 = performance.now();
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      if (this.stopped) return;
      try {
        const lagMs = performance.now() - t0;
        this.lag.set(lagMs / 1000);
        this.refreshAll(lagMs);
      } catch (err) {
        // Stats closed under the metrics (e.g. by their owner): stop rather than throw from a timer.
        if (err instanceof MmstatsError && err.code === 'ERR_MMSTATS_CLOSED') this.stop();
        else throw err;
      }
    });
    this.immediate.unref();
  }

  refresh(): void {
    this.refreshAll(undefined);
  }

  private refreshAll(lagMs: number | undefined): void {
    if (this.stopped) return;
    this.refreshEventLoop(lagMs);
    const h = v8.getHeapStatistics();
    this.heap.used.set(h.used_heap_size);
    this.heap.total.set(h.total_heap_size);
    this.heap.limit.set(h.heap_size_limit);
    this.heap.malloced.set(h.malloced_memory);
    const m = process.memoryUsage();
    this.heap.external.set(m.external);
    this.heap.arrayBuffers.set(m.arrayBuffers);
    for (const s of v8.getHeapSpaceStatistics()) {
      const f = this.space(s.space_name);
      f.size.set(s.space_size);
      f.used.set(s.space_used_size);
      f.available.set(s.space_available_size);
    }
    this.refreshResources();
    const pr = this.proc;
    if (pr) {
      const cpu = process.cpuUsage();
      pr.cpuUser.value = cpu.user / 1e6;
      pr.cpuSystem.value = cpu.system / 1e6;
      pr.cpuTotal.value = (cpu.user + cpu.system) / 1e6;
      pr.rss.set(m.rss);
      if (pr.fds) pr.fds.set(openFds() ?? 0);
      const st = pr.virtual ? procStatm() : undefined;
      if (st) {
        pr.virtual!.set(st.virtual);
        pr.data!.set(st.data);
      }
    }
  }

  /** `lagMs`: the loop lag just measured, standing in for the monitor sample the reset drops. */
  private refreshEventLoop(lagMs: number | undefined): void {
    const elu = performance.eventLoopUtilization();
    this.utilization.set(performance.eventLoopUtilization(elu, this.elu).utilization || 0);
    this.elu = elu;
    const h = this.eld;
    // The dropped sample's delay beyond schedule, when the loop lagged by more than the resolution.
    const extra = lagMs !== undefined && lagMs > this.resolutionMs ? (lagMs - this.resolutionMs) / 1000 : undefined;
    if (extra !== undefined) this.delay.record(extra);
    if (h && h.count > 0) {
      // The monitor measures the time between its samples: the delay is what exceeds the resolution.
      const res = this.resolutionMs * 1e6;
      const d = (ns: number) => Math.max(0, ns - res) * NS;
      const g = this.delayGauges;
      g.min.set(d(h.min));
      g.max.set(Math.max(d(h.max), extra ?? 0));
      g.mean.set(d(h.mean));
      g.stddev.set(h.stddev * NS);
      g.p50.set(d(h.percentile(50)));
      g.p90.set(d(h.percentile(90)));
      g.p99.set(d(h.percentile(99)));
      // Rebuild the interval's samples from the monitor's percentiles (HDR, 3 significant
      // digits): the samples between two percentiles are recorded at the upper one's value,
      // so the histogram in the file holds every sample since the start, none lower than it was.
      const points = new Map<number, number>(h.percentiles);
      for (const p of EXTRA_PERCENTILES) points.set(p, h.percentile(p));
      const n = h.count;
      let done = 0;
      for (const [p, v] of [...points].sort((x, y) => x[0] - y[0])) {
        const upto = p >= 100 ? n : Math.round((n * p) / 100);
        const delay = d(v);
        for (; done < upto; done++) this.delay.record(delay);
      }
      h.reset();
    }
  }

  private refreshResources(): void {
    const counts = new Map<string, number>();
    for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
    for (const [type, n] of counts) {
      let f = this.resourceTypes.get(type);
      if (!f) {
        f = this.resources.with(type);
        this.resourceTypes.set(type, f);
      }
      f.set(n);
    }
    // A type no longer seen has none left: its series stays, at 0, so a graph does not break off.
    for (const [type, f] of this.resourceTypes) if (!counts.has(type)) f.set(0);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.eld?.disable();
    this.eld = undefined;
    this.gcObserver?.disconnect();
    this.gcObserver = undefined;
    if (this.own) this.stats.remove();
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}

/**
 * Start publishing Node runtime metrics: event-loop delay (a histogram and
 * last-interval percentiles), event-loop utilisation, V8 heap and heap spaces
 * (`{space}`), GC pauses (`{kind}`), active resources (`{type}`), and (main
 * thread) CPU, RSS and file descriptors. See docs/RUNTIME.md for every label and unit.
 *
 * ```ts
 * const rt = startRuntimeMetrics({ intervalMs: 5000 });
 * process.on('SIGTERM', () => rt.stop());
 * ```
 */
export function startRuntimeMetrics(options: RuntimeMetricsOptions = {}): RuntimeMetrics {
  return new Runtime(options);
}
