/**
 * prom-client's default metrics, under its exact names, help texts, labels and
 * aggregators (lib/metrics/*.js of prom-client 15), so that dashboards built for
 * them work unchanged.
 *
 * prom-client computes them in `collect` callbacks, when its registry is scraped.
 * Here the same callbacks also run on an unref'd interval (every second), so that
 * a reader of the file (`mmstats serve`) sees fresh values with the app doing
 * nothing at scrape time. The event-loop figures (min, max, mean, stddev,
 * percentiles) therefore cover the time since the last refresh, not since the last
 * scrape.
 */
import fs from 'node:fs';
import { constants as perfConstants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import { Counter } from './counter.js';
import { Gauge } from './gauge.js';
import { Histogram } from './histogram.js';
import type { Registry } from './registry.js';
import type { RegistryContentType } from './types.js';

export interface DefaultMetricsCollectorConfiguration<T extends RegistryContentType> {
  register?: Registry<T>;
  prefix?: string;
  gcDurationBuckets?: number[];
  eventLoopMonitoringPrecision?: number;
  labels?: object;
}

type Config = {
  register?: Registry<any>;
  prefix?: string;
  gcDurationBuckets?: number[];
  eventLoopMonitoringPrecision?: number;
  labels?: object;
};
type Collect = () => void;

/** How often the collect callbacks also run on their own (milliseconds). */
const REFRESH_MS = 1000;

const startInSeconds = Math.round(Date.now() / 1000 - process.uptime());

function memoryUsage(): NodeJS.MemoryUsage | undefined {
  try {
    return process.memoryUsage();
  } catch {
    return undefined;
  }
}

function countByConstructor(list: any[]): Record<string, number> {
  const data: Record<string, number> = {};
  for (const el of list) {
    if (!el || typeof el.constructor === 'undefined') continue;
    data[el.constructor.name] = (data[el.constructor.name] ?? 0) + 1;
  }
  return data;
}

function updateByType(gauge: Gauge<string>, data: Record<string, number>, labels: object): void {
  gauge.reset();
  for (const key in data) gauge.set(Object.assign({ type: key }, labels || {}), data[key]!);
}

function countStrings(list: string[]): Record<string, number> {
  const data: Record<string, number> = {};
  for (const r of list) data[r] = (data[r] ?? 0) + 1;
  return data;
}

/**
 * A `{type}` gauge and its `_total`, as prom-client makes them for active handles,
 * requests and resources: both read the same list at collect time.
 */
function activeByType<T>(
  c: Config,
  refresh: Collect[],
  m: { name: string; help: string; totalHelp: string; list: () => T[]; countByType: (list: T[]) => Record<string, number> },
): void {
  const { registers, prefix, labels, labelNames } = common(c);
  const byType: Gauge<string> = new Gauge({
    name: prefix + m.name,
    help: m.help,
    labelNames: ['type', ...labelNames],
    registers,
    collect: (): void => updateByType(byType, m.countByType(m.list()), labels),
  });
  const total: Gauge<string> = new Gauge({
    name: prefix + m.name + '_total',
    help: m.totalHelp,
    registers,
    labelNames,
    collect: (): void => total.set(labels, m.list().length),
  });
  refresh.push(byType.collect as Collect, total.collect as Collect);
}

let maxFds: number | undefined;
function readMaxFds(): number | undefined {
  if (maxFds === undefined) {
    try {
      for (const line of fs.readFileSync('/proc/self/limits', 'utf8').split('\n')) {
        if (line.startsWith('Max open files')) {
          maxFds = Number(line.split(/  +/)[1]);
          break;
        }
      }
    } catch {
      return undefined;
    }
  }
  return maxFds;
}

function procStatus(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of fs.readFileSync('/proc/self/status', 'utf8').split('\n')) {
    if (!['VmSize', 'VmRSS', 'VmData'].some((v) => line.startsWith(v))) continue;
    const [key, raw] = line.split(':');
    const value = raw!.trim();
    out[key!] = Number(value.substr(0, value.length - 3)) * 1024;
  }
  return out;
}

const GC_KINDS: string[] = [];
GC_KINDS[perfConstants.NODE_PERFORMANCE_GC_MAJOR] = 'major';
GC_KINDS[perfConstants.NODE_PERFORMANCE_GC_MINOR] = 'minor';
GC_KINDS[perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL] = 'incremental';
GC_KINDS[perfConstants.NODE_PERFORMANCE_GC_WEAKCB] = 'weakcb';

/** Each default metric group, by prom-client's name for it. */
const groups: Record<string, (c: Config, refresh: Collect[]) => void> = {
  processCpuTotal(c, refresh) {
    const { registers, prefix, labels, labelNames } = common(c);
    let last = process.cpuUsage();
    const collect = (): void => {
      const now = process.cpuUsage();
      const user = now.user - last.user;
      const system = now.system - last.system;
      last = now;
      userC.inc(labels, user / 1e6);
      systemC.inc(labels, system / 1e6);
      totalC.inc(labels, (user + system) / 1e6);
    };
    const userC = new Counter({
      name: prefix + 'process_cpu_user_seconds_total',
      help: 'Total user CPU time spent in seconds.',
      registers,
      labelNames,
      collect,
    });
    const systemC = new Counter({
      name: prefix + 'process_cpu_system_seconds_total',
      help: 'Total system CPU time spent in seconds.',
      registers,
      labelNames,
    });
    const totalC = new Counter({
      name: prefix + 'process_cpu_seconds_total',
      help: 'Total user and system CPU time spent in seconds.',
      registers,
      labelNames,
    });
    refresh.push(collect);
  },
  processStartTime(c, refresh) {
    const { registers, prefix, labels, labelNames } = common(c);
    const collect = (): void => g.set(labels, startInSeconds);
    const g: Gauge<string> = new Gauge({
      name: prefix + 'process_start_time_seconds',
      help: 'Start time of the process since unix epoch in seconds.',
      registers,
      labelNames,
      aggregator: 'omit',
      collect,
    });
    refresh.push(collect);
  },
  osMemoryHeap(c, refresh) {
    const { registers, prefix, labels, labelNames } = common(c);
    if (process.platform !== 'linux') {
      const collect = (): void => {
        const m = memoryUsage();
        if (m) rss.set(labels, m.rss);
      };
      const rss: Gauge<string> = new Gauge({
        name: prefix + 'process_resident_memory_bytes',
        help: 'Resident memory size in bytes.',
        registers,
        labelNames,
        collect,
      });
      refresh.push(collect);
      return;
    }
    const collect = (): void => {
      try {
        const s = procStatus();
        rss.set(labels, s.VmRSS!);
        virtual.set(labels, s.VmSize!);
        heap.set(labels, s.VmData!);
      } catch {
        // as prom-client: no /proc, no values
      }
    };
    const rss: Gauge<string> = new Gauge({
      name: prefix + 'process_resident_memory_bytes',
      help: 'Resident memory size in bytes.',
      registers,
      labelNames,
      collect,
    });
    const virtual: Gauge<string> = new Gauge({
      name: prefix + 'process_virtual_memory_bytes',
      help: 'Virtual memory size in bytes.',
      registers,
      labelNames,
    });
    const heap: Gauge<string> = new Gauge({
      name: prefix + 'process_heap_bytes',
      help: 'Process heap size in bytes.',
      registers,
      labelNames,
    });
    refresh.push(collect);
  },
  processOpenFileDescriptors(c, refresh) {
    if (process.platform !== 'linux') return;
    const { registers, prefix, labels, labelNames } = common(c);
    const collect = (): void => {
      try {
        // Minus the descriptor readdirSync itself used (as prom-client).
        g.set(labels, fs.readdirSync('/proc/self/fd').length - 1);
      } catch {
        // no /proc
      }
    };
    const g: Gauge<string> = new Gauge({
      name: prefix + 'process_open_fds',
      help: 'Number of open file descriptors.',
      registers,
      labelNames,
      collect,
    });
    refresh.push(collect);
  },
  processMaxFileDescriptors(c, refresh) {
    if (readMaxFds() === undefined) return;
    const { registers, prefix, labels, labelNames } = common(c);
    const collect = (): void => g.set(labels, maxFds!);
    const g: Gauge<string> = new Gauge({
      name: prefix + 'process_max_fds',
      help: 'Maximum number of open file descriptors.',
      registers,
      labelNames,
      collect,
    });
    refresh.push(collect);
  },
  eventLoopLag(c, refresh) {
    const { registers, prefix, labels, labelNames } = common(c);
    const h = monitorEventLoopDelay({ resolution: c.eventLoopMonitoringPrecision });
    h.enable();
    const report = (start: [number, number]) => {
      const d = process.hrtime(start);
      lag.set(labels, (d[0] * 1e9 + d[1]) / 1e9);
    };
    const collect = (): void => {
      setImmediate(report, process.hrtime());
      lagMin.set(labels, h.min / 1e9);
      lagMax.set(labels, h.max / 1e9);
      lagMean.set(labels, h.mean / 1e9);
      lagStddev.set(labels, h.stddev / 1e9);
      lagP50.set(labels, h.percentile(50) / 1e9);
      lagP90.set(labels, h.percentile(90) / 1e9);
      lagP99.set(labels, h.percentile(99) / 1e9);
      h.reset();
    };
    const gauge = (name: string, help: string, aggregator: 'average' | 'min' | 'max', collect?: Collect) =>
      new Gauge({ name: prefix + name, help, registers, labelNames, aggregator, collect });
    const lag = gauge('nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds.', 'average', collect);
    const lagMin = gauge('nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.', 'min');
    const lagMax = gauge('nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.', 'max');
    const lagMean = gauge('nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.', 'average');
    const lagStddev = gauge('nodejs_eventloop_lag_stddev_seconds', 'The standard deviation of the recorded event loop delays.', 'average');
    const lagP50 = gauge('nodejs_eventloop_lag_p50_seconds', 'The 50th percentile of the recorded event loop delays.', 'average');
    const lagP90 = gauge('nodejs_eventloop_lag_p90_seconds', 'The 90th percentile of the recorded event loop delays.', 'average');
    const lagP99 = gauge('nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the recorded event loop delays.', 'average');
    refresh.push(collect);
  },
  processResources(c, refresh) {
    activeByType(c, refresh, {
      name: 'nodejs_active_resources',
      help: 'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.',
      totalHelp: 'Total number of active resources.',
      list: () => process.getActiveResourcesInfo(),
      countByType: countStrings,
    });
  },
  processHandles(c, refresh) {
    const p = process as any;
    if (typeof p._getActiveHandles !== 'function') return;
    activeByType(c, refresh, {
      name: 'nodejs_active_handles',
      help: 'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.',
      totalHelp: 'Total number of active handles.',
      list: () => p._getActiveHandles(),
      countByType: countByConstructor,
    });
  },
  processRequests(c, refresh) {
    const p = process as any;
    if (typeof p._getActiveRequests !== 'function') return;
    activeByType(c, refresh, {
      name: 'nodejs_active_requests',
      help: 'Number of active libuv requests grouped by request type. Every request type is C++ class name.',
      totalHelp: 'Total number of active requests.',
      list: () => p._getActiveRequests(),
      countByType: countByConstructor,
    });
  },
  heapSizeAndUsed(c, refresh) {
    const { registers, prefix, labels, labelNames } = common(c);
    const collect = (): void => {
      const m = memoryUsage();
      if (!m) return;
      total.set(labels, m.heapTotal);
      used.set(labels, m.heapUsed);
      if (m.external !== undefined) external.set(labels, m.external);
    };
    const total: Gauge<string> = new Gauge({
      name: prefix + 'nodejs_heap_size_total_bytes',
      help: 'Process heap size from Node.js in bytes.',
      registers,
      labelNames,
      collect,
    });
    const used: Gauge<string> = new Gauge({
      name: prefix + 'nodejs_heap_size_used_bytes',
      help: 'Process heap size used from Node.js in bytes.',
      registers,
      labelNames,
    });
    const external: Gauge<string> = new Gauge({
      name: prefix + 'nodejs_external_memory_bytes',
      help: 'Node.js external memory size in bytes.',
      registers,
      labelNames,
    });
    refresh.push(collect);
  },
  heapSpacesSizeAndUsed(c, refresh) {
    const { registers, prefix, labels } = common(c);
    const labelNames = ['space', ...Object.keys(labels)];
    const gauges: Record<string, Gauge<string>> = {};
    for (const t of ['total', 'used', 'available']) {
      gauges[t] = new Gauge({
        name: `${prefix}nodejs_heap_space_size_${t}_bytes`,
        help: `Process heap space size ${t} from Node.js in bytes.`,
        labelNames,
        registers,
      });
    }
    const collect = (): void => {
      for (const space of v8.getHeapSpaceStatistics()) {
        const name = space.space_name.substr(0, space.space_name.indexOf('_space'));
        gauges.total!.set({ space: name, ...labels }, space.space_size);
        gauges.used!.set({ space: name, ...labels }, space.space_used_size);
        gauges.available!.set({ space: name, ...labels }, space.space_available_size);
      }
    };
    gauges.total!.collect = collect;
    refresh.push(collect);
  },
  version(c, refresh) {
    const { registers, prefix, labels, labelNames } = common(c);
    const [major, minor, patch] = process.version.slice(1).split('.').map(Number);
    const g: Gauge<string> = new Gauge({
      name: prefix + 'nodejs_version_info',
      help: 'Node.js version info.',
      labelNames: ['version', 'major', 'minor', 'patch', ...labelNames],
      registers,
      aggregator: 'first',
      collect: (): void =>
        // prom-client takes label values as arguments; the user's default labels are a handful.
        // eslint-disable-next-line no-restricted-syntax
        g.labels(process.version, major as any, minor as any, patch as any, ...(Object.values(labels) as string[])).set(1),
    });
    refresh.push(g.collect as Collect);
  },
  gc(c) {
    const { registers, prefix, labels, labelNames } = common(c);
    const h = new Histogram({
      name: prefix + 'nodejs_gc_duration_seconds',
      help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
      labelNames: ['kind', ...labelNames],
      enableExemplars: false,
      buckets: c.gcDurationBuckets ? c.gcDurationBuckets : [0.001, 0.01, 0.1, 1, 2, 5],
      registers,
    });
    const obs = new PerformanceObserver((list) => {
      const entry = list.getEntries()[0] as any;
      const kind = entry.detail ? GC_KINDS[entry.detail.kind] : GC_KINDS[entry.kind];
      h.observe(Object.assign({ kind }, labels), entry.duration / 1000);
    });
    obs.observe({ entryTypes: ['gc'] });
  },
};
if (typeof process.getActiveResourcesInfo !== 'function') delete groups.processResources;

function common(c: Config) {
  const labels = (c.labels ? c.labels : {}) as Record<string, string>;
  return { registers: c.register ? [c.register] : undefined, prefix: c.prefix ? c.prefix : '', labels, labelNames: Object.keys(labels) };
}

const refreshers = new Set<Collect[]>();
let timer: NodeJS.Timeout | undefined;

function refreshAll(): void {
  for (const list of refreshers) for (const f of list) f();
}

/** Publish prom-client's default metrics (and keep them fresh in the file every second). */
export const collectDefaultMetrics: {
  <T extends RegistryContentType>(config?: DefaultMetricsCollectorConfiguration<T>): void;
  metricsList: string[];
} = Object.assign(
  (config?: DefaultMetricsCollectorConfiguration<any>): void => {
    if (config !== null && config !== undefined && typeof config !== 'object')
      throw new TypeError('config must be null, undefined, or an object');
    const c: Config = { eventLoopMonitoringPrecision: 10, ...config };
    const list: Collect[] = [];
    for (const [name, group] of Object.entries(groups)) {
      const first = list.length;
      group(c, list);
      // Into the file at once, so that a reader (mmstats serve, clusterMetrics()) need not
      // wait for the first refresh; but the event-loop figures cover a span of time (and
      // prom-client's first scrape reports the lag still unset): they wait for it.
      if (name !== 'eventLoopLag') for (let i = first; i < list.length; i++) list[i]!();
    }
    refreshers.add(list);
    if (timer === undefined) {
      timer = setInterval(refreshAll, REFRESH_MS);
      timer.unref();
    }
  },
  { metricsList: Object.keys(groups) },
);
