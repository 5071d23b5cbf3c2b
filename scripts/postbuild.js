// After tsc: make the CLI executable, so that npm's bin links (mmstats,
// slurpstats, pollstats, cleanstats, mmash) run it directly.
import fs from 'node:fs';

const cli = new URL('../dist/src/tools/cli.js', import.meta.url);
if (fs.existsSync(cli)) fs.chmodSync(cli, 0o755);
