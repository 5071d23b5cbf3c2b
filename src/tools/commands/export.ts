/**
 * `mmstats export --textfile DIR`: the stats as a node_exporter textfile-collector
 * file (`DIR/mmstats.prom`), written atomically, once or on an interval.
 *
 * The file is written under a temporary name in DIR that the collector ignores
 * (it reads `*.prom` only), flushed, and renamed over the old one, so node_exporter
 * reads either the previous file or the new one, never a half-written file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Exit, UsageError, numberOption, parse } from '../args.js';
import { MetricsRenderer } from '../server/prometheus.js';
import { StatsStore } from '../server/store.js';
import { EXPOSITION_HELP, EXPOSITION_OPTIONS, expositionConfig, serveConfig } from './serve.js';

/** One line for `mmstats --help`. */
export const summary = 'write a Prometheus textfile-collector file, once or on an interval';

const HELP = `Usage: mmstats export --textfile DIR [--interval SECONDS] [--path DIR]...

Write every stats file's values to DIR/mmstats.prom in the Prometheus text
format, for node_exporter's textfile collector
(--collector.textfile.directory=DIR). The file is replaced atomically.

Options:
  --textfile DIR      the collector's directory (must exist)
  --name NAME         file name in DIR (default mmstats.prom; must end in .prom)
  --interval SECONDS  rewrite every SECONDS (fractions allowed) until SIGINT or
                      SIGTERM; without it, write once and exit
  --path DIR          a stats directory; repeat for several (env MMSTATS_PATH,
                      a colon-separated list; default the per-user directory)
  --glob PATTERN      file names to read in each directory (default *.mmstats)
${EXPOSITION_HELP}  -h, --help          show this help

Files that cannot be read appear as mmstats_file_error series and comments,
and on stderr once each.
`;

/** Write `text` to `file` atomically: a temporary file in the same directory, fsync, rename. */
export function writeAtomic(file: string, text: string | Uint8Array): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o644);
  try {
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Run `mmstats export`. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    textfile: { type: 'string' },
    name: { type: 'string' },
    interval: { type: 'string' },
    path: { type: 'string', multiple: true },
    glob: { type: 'string' },
    ...EXPOSITION_OPTIONS,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return Exit.OK;
  }
  if (values.textfile === undefined) throw new UsageError('--textfile DIR is required');
  const name = values.name ?? 'mmstats.prom';
  if (!name.endsWith('.prom') || name.includes('/') || name.startsWith('.')) {
    throw new UsageError(`--name must be a plain file name ending in .prom, not ${JSON.stringify(name)}`);
  }
  const intervalS = values.interval === undefined ? undefined : numberOption('--interval', values.interval, 0, 0.01);
  const cfg = serveConfig({ path: [...(values.path ?? []), ...positionals] });
  const dir = values.textfile;
  try {
    if (!fs.statSync(dir).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    process.stderr.write(`mmstats export: --textfile ${dir}: ${(err as Error).message}\n`);
    return Exit.FAILURE;
  }
  const target = path.join(dir, name);
  // One renderer for every rewrite: counter totals of each label set never go backwards.
  const renderer = new MetricsRenderer(expositionConfig(values));
  const store = new StatsStore({ paths: cfg.paths, pattern: values.glob, cacheMs: 0, rescanMs: 0 });
  const reported = new Set<string>();
  const once = (): boolean => {
    const view = store.read();
    for (const e of view.errors) {
      const key = `${e.path}\0${e.error.code}`;
      if (reported.has(key) || e.error.code === 'ERR_MMSTATS_INITIALISING') continue;
      reported.add(key);
      process.stderr.write(`mmstats export: ${e.error.message}\n`);
    }
    try {
      writeAtomic(target, renderer.render(view));
      return true;
    } catch (err) {
      process.stderr.write(`mmstats export: cannot write ${target}: ${(err as Error).message}\n`);
      return false;
    }
  };
  try {
    if (intervalS === undefined) return once() ? Exit.OK : Exit.FAILURE;
    let ok = once();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        ok = once() && ok;
      }, intervalS * 1000);
      const stop = () => {
        clearInterval(timer);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    return ok ? Exit.OK : Exit.FAILURE;
  } finally {
    store.close();
  }
}
