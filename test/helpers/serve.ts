/**
 * Test helpers for the server: `mmstats serve` (or `export`) as a real separate
 * process, its URL read from its first line, raw HTTP for requests that fetch
 * would normalise, and the process's open descriptors and mappings.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import readline from 'node:readline';
import { CLI } from './proc.js';

/** A running `mmstats serve`. */
export interface ServeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The base URL, e.g. `http://127.0.0.1:40123/`. */
  readonly url: string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Start `mmstats serve --port 0 ...args` and wait for its URL. `wrapper` runs it
 * through a command that execs it (`['prlimit', '--nofile=400:400']`).
 */
export async function startServe(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; wrapper?: readonly string[] } = {},
): Promise<ServeProcess> {
  const [command, ...prefix] = [...(options.wrapper ?? []), process.execPath];
  const child = spawn(command!, [...prefix, CLI, 'serve', ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed no URL: ${err}`)), options.timeoutMs ?? 20_000);
    readline.createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      const m = /https?:\/\/\S+/.exec(line);
      if (m) resolve(m[0]);
      else reject(new Error(`unexpected first line: ${line}`));
    });
    void exited.then((code) => reject(new Error(`serve exited (${code}): ${err}`)));
  });
  return {
    child,
    pid: child.pid!,
    url,
    stderr: () => err,
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** A raw GET with the path sent exactly as given (no URL normalisation). */
export function rawGet(base: string, rawPath: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: rawPath, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET a URL and parse its JSON body. */
export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) };
}

/** Number of open descriptors of a process (Linux /proc). */
export function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Number of mappings of a process whose path contains `needle` (Linux /proc). */
export function mappingCount(pid: number, needle: string): number {
  return fs
    .readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .filter((l) => l.includes(needle)).length;
}

/** Resident set size of a process in KiB (Linux /proc). */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** The path of a system program, or undefined when it is not installed. */
export function systemProgram(name: string): string | undefined {
  for (const dir of ['/usr/bin', '/usr/local/bin', '/bin']) {
    const p = `${dir}/${name}`;
    if (fs.existsSync(p)) return p;
  }
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}
