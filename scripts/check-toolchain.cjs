#!/usr/bin/env node
// Run at install by node-gyp-build, only when no prebuilt binary in prebuilds/
// fits this machine, just before it builds the addon from source: if a tool
// node-gyp needs is missing, say so in a few lines instead of node-gyp's
// fifty, and fail the install.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

/** Whether `name` (or an absolute path) is an executable file on PATH. */
function onPath(name) {
  const dirs = path.isAbsolute(name) ? [''] : (process.env.PATH || '').split(path.delimiter).filter(Boolean);
  return dirs.some((dir) => {
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The first word of a command such as CC="ccache gcc". */
const command = (value) => value.trim().split(/\s+/)[0];

const missing = [];
const cc = process.env.CC ? [command(process.env.CC)] : ['cc', 'gcc', 'clang'];
if (!cc.some(onPath)) missing.push(`a C compiler (${cc.join(', ')})`);
if (!['make', 'gmake'].some(onPath)) missing.push('make');
const python = process.env.PYTHON || process.env.npm_config_python;
const pythons = python ? [command(python)] : ['python3', 'python'];
if (!pythons.some(onPath)) missing.push(`Python 3 (${pythons.join(', ')})`);

if (missing.length > 0) {
  const target = `${process.platform}-${process.arch}`;
  process.stderr.write(
    `mmstats: no prebuilt binary fits ${target}, so the native addon must be built from source,\n` +
      `but ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not on PATH.\n` +
      'Install them (Debian/Ubuntu: apt-get install build-essential python3; Alpine: apk add build-base python3;\n' +
      'macOS: xcode-select --install), then run: npm rebuild mmstats\n',
  );
  process.exit(1);
}
