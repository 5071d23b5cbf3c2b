// After tsc: make the CLI executable, so that npm's bin links (mmstats,
// slurpstats, pollstats, cleanstats, mmash) run it directly.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'tools', 'cli.js');
if (fs.existsSync(cli)) fs.chmodSync(cli, 0o755);
