// Copies the repository's stacks/*.xml into this package's stacks/ folder, which the package
// ships ("files") and resolves bare stack names against (new Channel('udp.xml')). Run by the
// workspace build and before `pnpm pack`; the copies are not committed (see .gitignore).
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(pkg, '..', '..', 'stacks');
const to = join(pkg, 'stacks');

if (!existsSync(from)) {
  // Outside the repository (a package built elsewhere) there is nothing to copy from.
  if (existsSync(to)) process.exit(0);
  console.error(`copy-stacks: neither ${from} nor ${to} exists`);
  process.exit(1);
}
const names = readdirSync(from).filter((f) => f.endsWith('.xml'));
// Start clean so a stack removed from the repository is not shipped from an old copy.
rmSync(to, { recursive: true, force: true });
mkdirSync(to, { recursive: true });
for (const name of names) copyFileSync(join(from, name), join(to, name));
