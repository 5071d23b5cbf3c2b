// After tsc: make the CLI executable, so that npm's bin links (mmstats,
// slurpstats, pollstats, cleanstats, mmash) run it directly.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'src', 'tools', 'cli.js');
if (fs.existsSync(cli)) fs.chmodSync(cli, 0o755);

// A native source changed since the source build of the addon (a pull, a rebase): build
// it again, or the tests would run the old addon (node-gyp-build loads build/Release
// as it is). npm tells its scripts where its node-gyp is.
const addon = path.join(root, 'build', 'Release', 'mmstats_native.node');
const nodeGyp = process.env.npm_config_node_gyp;
if (nodeGyp && fs.existsSync(addon) && fs.existsSync(path.join(root, 'build', 'Makefile'))) {
  const built = fs.statSync(addon).mtimeMs;
  const changed = ['native/mmstats.c', 'binding.gyp'].filter((f) => fs.statSync(path.join(root, f)).mtimeMs > built);
  if (changed.length > 0) {
    process.stdout.write(`postbuild: ${changed.join(', ')} changed since the addon was built: building it again\n`);
    try {
      // A changed binding.gyp needs node-gyp's configure step again; a changed source only make.
      const command = changed.includes('binding.gyp') ? 'rebuild' : 'build';
      execFileSync(process.execPath, [nodeGyp, command], { cwd: root, stdio: 'pipe' });
    } catch (err) {
      process.stderr.write(`postbuild: building the addon failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
      process.exit(1);
    }
  }
}
