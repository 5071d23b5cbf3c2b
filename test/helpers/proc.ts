/**
 * Test helpers: a private stats directory, and a real writer (or any script) in a
 * separate Node process that the test drives over stdin/stdout. Use these instead
 * of re-writing process plumbing in each test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The compiled package root (dist/), to import from child processes. */
export const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** URL of the compiled public entry point. */
export const ENTRY_URL = pathToFileURL(path.join(DIST, 'src', 'index.js')).href;
/** The compiled CLI. */
export const CLI = path.join(DIST, 'src', 'tools', 'cli.js');

const tempDirs = new Set<string>();
let tempDirsHooked = false;

/** A fresh stats directory, mode 0700, removed at process exit. */
export function tempStatsDir(prefix = 'mmstats-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o700);
  // One exit listener for all of them: a test file may make dozens.
  if (!tempDirsHooked) {
    tempDirsHooked = true;
    process.once('exit', () => tempDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  }
  tempDirs.add(dir);
  return dir;
}

const liveChildren = new Set<ChildProcess>();
let liveChildrenHooked = false;

/** Kill a child still running when the test process exits, so no test leaves a process behind. */
function reapAtExit(child: ChildProcess): void {
  // One listener for the whole test file, however often the set empties and fills again.
  if (!liveChildrenHooked) {
    liveChildrenHooked = true;
    process.once('exit', () => liveChildren.forEach((c) => c.kill('SIGKILL')));
  }
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

/** A script running in its own Node process. */
export interface ScriptProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** What the script passed to `ready(...)`. */
  readonly ready: Promise<any>;
  /** Call a handler the script registered with `on(name, fn)`; resolves with its result. */
  call(name: string, ...args: unknown[]): Promise<any>;
  /** Close stdin: the script ends normally (its stats files are removed unless kept). */
  end(): Promise<number | null>;
  /** Resolves with the exit code (or null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Everything the script wrote to stderr so far. */
  stderr(): string;
}

const PRELUDE = (entry: string) => `
import * as mmstats from ${JSON.stringify(entry)};
const { defineModel, openStats, field, StatsReader } = mmstats;
const env = process.env;
const handlers = new Map();
const on = (name, fn) => handlers.set(name, fn);
const ready = (value) => process.stdout.write(JSON.stringify({ ready: value ?? null }) + '\\n');
const send = (msg) => process.stdout.write(JSON.stringify({ msg }) + '\\n');
import { createInterface } from 'node:readline';
createInterface({ input: process.stdin }).on('line', async (line) => {
  const { id, name, args } = JSON.parse(line);
  try {
    const fn = handlers.get(name);
    if (!fn) throw new Error('no handler ' + name);
    const result = await fn(...args);
    process.stdout.write(JSON.stringify({ id, result: result === undefined ? null : result }, (k, v) => typeof v === 'bigint' ? v.toString() : v) + '\\n');
  } catch (err) {
    process.stdout.write(JSON.stringify({ id, error: String(err && err.stack || err) }) + '\\n');
  }
}).on('close', () => { if (!globalThis.keepRunning) process.exit(0); });
`;

/**
 * Start `body` (an ES module body) in a new Node process. In scope: `mmstats`,
 * `defineModel`, `openStats`, `field`, `StatsReader`, `env`, `on(name, fn)`,
 * `ready(value)`, `send(msg)`. The process exits when stdin closes.
 */
export function runScript(body: string, options: { env?: NodeJS.ProcessEnv; argv?: string[] } = {}): ScriptProcess {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-script-')), 'writer.mjs');
  fs.writeFileSync(file, PRELUDE(ENTRY_URL) + body);
  const child = spawn(process.execPath, [file, ...(options.argv ?? [])], {
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  reapAtExit(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let resolveReady!: (v: unknown) => void;
  let rejectReady!: (e: Error) => void;
  const readyP = new Promise((res, rej) => ((resolveReady = res), (rejectReady = rej)));
  readyP.catch(() => undefined);
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    let m: any;
    try {
      m = JSON.parse(line);
    } catch {
      return;
    }
    if ('ready' in m) resolveReady(m.ready);
    else if (m.id !== undefined) {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.error) p?.reject(new Error(m.error));
      else p?.resolve(m.result);
    }
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
      rejectReady(new Error(`script exited (${code}) before ready: ${err}`));
      for (const p of pending.values()) p.reject(new Error(`script exited (${code}): ${err}`));
      resolve(code);
    }),
  );
  return {
    child,
    pid: child.pid!,
    ready: readyP,
    exited,
    stderr: () => err,
    call(name, ...args) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.stdin!.write(JSON.stringify({ id, name, args }) + '\n');
      });
    },
    end() {
      child.stdin!.end();
      return exited;
    },
  };
}

/** Wait until `check` returns a truthy value (polling), or fail after `ms`. */
export async function waitFor<T>(check: () => T | Promise<T>, ms = 5000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What a finished command printed, and how it ended. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A command started with {@link startCli}: its output so far, and its end. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves when it exits. */
  readonly exited: Promise<CliResult>;
}

/**
 * Start the compiled CLI (`node dist/src/tools/cli.js ...args`) without waiting for
 * it. `env` is added to this process's environment; `script` runs it under another
 * script path (e.g. a symlink named `slurpstats`).
 */
export function startCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; script?: string } = {}): CliProcess {
  const child = spawn(process.execPath, [options.script ?? CLI, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  reapAtExit(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout: out, stderr: err })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Run the compiled CLI to its end (killed after `timeoutMs`). */
export async function runCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; script?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const p = startCli(args, options);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  try {
    return await p.exited;
  } finally {
    clearTimeout(timer);
  }
}
