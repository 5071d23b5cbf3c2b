#!/usr/bin/env node
/**
 * `npm run prebuilds` (and so `npm pack`, through prepack): the prebuilt Node-API
 * binaries shipped in prebuilds/, made by prebuildify. Each is built in a scratch copy
 * of the native source, so the working tree's own build/ is left alone.
 *
 * - This machine's platform (linux-x64 in CI): built and loaded here.
 * - linux-arm64, from linux-x64: cross-compiled with Debian's gcc-aarch64-linux-gnu,
 *   then loaded and exercised under qemu-user by Debian's arm64 `nodejs` (fetched
 *   with apt-get into ~/.cache/mmstats/arm64-node). Only a binary that passes is
 *   shipped. Without those tools no arm64 binary is made, a warning says so, and
 *   arm64 installs build from source. `.ci/run` installs the tools.
 *
 * Node-API headers are the same on every architecture: node-gyp takes them from this
 * Node.js installation when it has them, as it does for the source build.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const prebuildify = path.join(root, 'node_modules', 'prebuildify', 'bin.js');
const ARM64_TOOLS = ['aarch64-linux-gnu-gcc', 'aarch64-linux-gnu-strip', 'qemu-aarch64', 'apt-get', 'dpkg'];
const ARM64_INSTALL = 'apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user';

function say(text) {
  process.stdout.write(`prebuilds: ${text}\n`);
}

function onPath(name) {
  return (process.env.PATH || '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The environment for node-gyp: this Node's own headers when it has them (no download). */
function buildEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  const prefix = path.dirname(path.dirname(process.execPath));
  if (!env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;
  return env;
}

/** Build with prebuildify in a scratch copy; return the path of the binary it made. */
function build(arch, extraArgs, env) {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `mmstats-prebuild-${arch}-`));
  try {
    for (const entry of ['package.json', 'binding.gyp', 'native'])
      fs.cpSync(path.join(root, entry), path.join(scratch, entry), { recursive: true });
    execFileSync(process.execPath, [prebuildify, '--napi', '--strip', '--tag-libc', '--arch', arch, ...extraArgs], {
      cwd: scratch,
      env,
      stdio: 'inherit',
    });
    const dir = `${process.platform}-${arch}`;
    const [binary] = fs.readdirSync(path.join(scratch, 'prebuilds', dir));
    const target = path.join(root, 'prebuilds', dir, binary);
    fs.rmSync(path.dirname(target), { recursive: true, force: true });
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(path.join(scratch, 'prebuilds', dir, binary), target);
    return target;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** Exercises every native function: the same script on this machine and under qemu. */
const SMOKE = `
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const addon = { exports: {} };
process.dlopen(addon, process.argv[2]);
const n = addon.exports;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-smoke-'));
try {
  const file = path.join(dir, 'smoke');
  const fd = fs.openSync(file, 'w+');
  n.allocate(fd, 0, 8192);
  assert.equal(fs.fstatSync(fd).size, 8192);
  const buffer = n.map(fd, 8192, true);
  new Float64Array(buffer)[1] = 42.5;
  n.sync(buffer, false);
  assert.equal(fs.readFileSync(file).readDoubleLE(8), 42.5);
  assert.equal(n.lockExclusive(fd), true);
  const other = fs.openSync(file, 'r');
  assert.equal(n.isLockedByOther(other), true);
  assert.equal(n.threadId(), process.pid);
  assert.ok(n.pageSize() >= 4096);
  n.readClock();
  assert.ok(new Float64Array(n.clockBuffer)[0] > 0);
  assert.equal(n.faultCount(buffer), 0);
  n.unmap(buffer);
  assert.equal(buffer.byteLength, 0);
  fs.closeSync(other);
  fs.closeSync(fd);
  process.stdout.write('native smoke test passed on ' + process.arch + ', Node.js ' + process.version + '\\n');
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
`;

/** Run SMOKE on `addon` with `command args` (a node, or qemu running one). */
function smokeTest(command, args, addon) {
  const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-smoke-script-')), 'smoke.cjs');
  fs.writeFileSync(script, SMOKE);
  try {
    return spawnSync(command, [...args, script, addon], { encoding: 'utf8', timeout: 300_000 });
  } finally {
    fs.rmSync(path.dirname(script), { recursive: true, force: true });
  }
}

/** Debian's arm64 nodejs and its libraries, unpacked (not installed) into a cache folder. */
function arm64Node() {
  const cache = path.join(os.homedir(), '.cache', 'mmstats', 'arm64-node');
  const sysroot = path.join(cache, 'root');
  const node = path.join(sysroot, 'usr', 'bin', 'node');
  if (fs.existsSync(node)) return { sysroot, node };
  fs.rmSync(cache, { recursive: true, force: true });
  for (const dir of ['lists/partial', 'archives/partial', 'debs']) fs.mkdirSync(path.join(cache, dir), { recursive: true });
  fs.writeFileSync(path.join(cache, 'status'), '');
  // A private apt state for arm64 only: the machine's own apt setup is not touched.
  const apt = [
    '-o',
    'APT::Architecture=arm64',
    '-o',
    'APT::Architectures::=arm64',
    '-o',
    `Dir::State::Lists=${path.join(cache, 'lists')}`,
    '-o',
    `Dir::Cache=${cache}`,
    '-o',
    `Dir::State::status=${path.join(cache, 'status')}`,
    '-o',
    'Debug::NoLocking=1',
  ];
  const run = (cmd, args) =>
    execFileSync(cmd, args, { cwd: path.join(cache, 'debs'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  say('fetching Debian arm64 nodejs for the qemu smoke test');
  run('apt-get', [...apt, '-qq', 'update']);
  const depends = run('apt-cache', [
    ...apt,
    'depends',
    '--recurse',
    '--no-recommends',
    '--no-suggests',
    '--no-conflicts',
    '--no-breaks',
    '--no-replaces',
    '--no-enhances',
    'nodejs',
  ]);
  const packages = [...new Set(depends.split('\n').filter((line) => /^[a-z0-9]/.test(line)))];
  run('apt-get', [...apt, '-qq', 'download', ...packages]);
  for (const deb of fs.readdirSync(path.join(cache, 'debs'))) run('dpkg', ['-x', deb, sysroot]);
  return { sysroot, node };
}

// This machine's own platform.
const native = build(process.arch, [], buildEnv());
const local = smokeTest(process.execPath, [], native);
if (local.status !== 0) {
  process.stderr.write(local.stdout + local.stderr);
  process.exit(1);
}
say(`${path.relative(root, native)}: ${local.stdout.trim()}`);

// linux-arm64, cross-compiled and checked under qemu; never shipped unchecked.
if (process.platform === 'linux' && process.arch === 'x64') {
  const arm64Dir = path.join(root, 'prebuilds', 'linux-arm64');
  fs.rmSync(arm64Dir, { recursive: true, force: true });
  const missing = ARM64_TOOLS.filter((tool) => !onPath(tool));
  if (missing.length > 0) {
    say(`WARNING: no linux-arm64 binary (${missing.join(', ')} missing; ${ARM64_INSTALL}); arm64 installs will build from source`);
  } else {
    const cross = { CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-gcc', LINK: 'aarch64-linux-gnu-gcc' };
    const binary = build('arm64', ['--strip-bin', 'aarch64-linux-gnu-strip'], buildEnv(cross));
    const { sysroot, node } = arm64Node();
    const result = smokeTest('qemu-aarch64', ['-L', sysroot, node], binary);
    if (result.status !== 0 || !/passed on arm64/.test(result.stdout)) {
      fs.rmSync(arm64Dir, { recursive: true, force: true });
      process.stderr.write(
        `prebuilds: the linux-arm64 binary failed its smoke test under qemu; not shipped\n${result.stdout}${result.stderr}\n`,
      );
      process.exit(1);
    }
    say(`${path.relative(root, binary)}: ${result.stdout.trim()} (qemu-user)`);
  }
}
