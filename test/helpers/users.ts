/**
 * Test helpers for attacks between local users: other real, unprivileged users
 * (made by `.ci/run` with useradd), and this package's runtime copied where they
 * can run it. The test process must be root to act as them.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DIST } from './proc.js';

/** A local user the tests act as. */
export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** The unprivileged users `.ci/run` creates. */
export const ATTACKER = 'mmstats-attacker';
export const VICTIM = 'mmstats-victim';

/**
 * The users `names`, or why a test cannot act as them (a skip message): it must
 * run as root, and the users must exist.
 */
export function testUsers(...names: string[]): TestUser[] | string {
  if (process.getuid?.() !== 0) return `needs root to act as the users ${names.join(', ')} (CI runs as root; .ci/run creates them)`;
  const users: TestUser[] = [];
  for (const name of names) {
    const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (uid.status !== 0 || gid.status !== 0) return `needs the user ${name}: useradd --system --no-create-home ${name} (as .ci/run does)`;
    users.push({ name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) });
  }
  return users;
}

let packageCopy: string | undefined;

/**
 * A copy of the built package's runtime (package.json, binding.gyp, dist/src, the native addon,
 * the runtime dependencies) in a directory every user can read, so that another
 * user runs exactly this code whatever the permissions of the checkout. Removed
 * at exit.
 */
export function publicPackage(): string {
  if (packageCopy) return packageCopy;
  const root = path.dirname(DIST);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-pkg-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  for (const f of ['package.json', 'binding.gyp']) fs.copyFileSync(path.join(root, f), path.join(dir, f));
  fs.cpSync(path.join(DIST, 'src'), path.join(dir, 'dist', 'src'), { recursive: true });
  for (const sub of ['build/Release', 'prebuilds']) {
    const from = path.join(root, sub);
    if (fs.existsSync(from))
      fs.cpSync(from, path.join(dir, sub), { recursive: true, filter: (f) => !f.includes('.deps') && !f.includes('obj.target') });
  }
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    fs.cpSync(path.join(root, 'node_modules', dep), path.join(dir, 'node_modules', dep), { recursive: true });
  }
  spawnSync('chmod', ['-R', 'a+rX', dir]);
  packageCopy = dir;
  return dir;
}

/** What a command run as another user printed, and how it ended. */
export interface UserRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Run `node <args>` as `user` (its uid and gid, no supplementary groups), in the
 * public copy of the package, with a clean environment (`env` added), killed
 * after `timeoutMs`.
 */
export function runAs(user: TestUser, args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<UserRun> {
  const pkg = publicPackage();
  const child = spawn(process.execPath, args, {
    cwd: pkg,
    uid: user.uid,
    gid: user.gid,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** The CLI of the public copy, for `runAs(user, [cli(), 'slurp', ...])`. */
export function cli(): string {
  return path.join(publicPackage(), 'dist', 'src', 'tools', 'cli.js');
}

/** Write `body` (an ES module importing the package as `mmstats`) to a file every user can read; returns its path. */
export function publicScript(body: string): string {
  const file = path.join(publicPackage(), `script-${Math.random().toString(36).slice(2)}.mjs`);
  const entry = path.join(publicPackage(), 'dist', 'src', 'index.js');
  fs.writeFileSync(file, `import * as mmstats from ${JSON.stringify(entry)};\n${body}`, { mode: 0o644 });
  return file;
}
