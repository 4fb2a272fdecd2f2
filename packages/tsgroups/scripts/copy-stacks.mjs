// Copies the repository's stacks/*.xml into this package's stacks/ folder, which the package
// ships ("files") and resolves bare stack names against (new Channel('udp.xml')). Run by the
// workspace build (`pnpm gen`) and before `pnpm pack`; the copies are not committed (see
// .gitignore). Tests may read the folder while this runs (the pack test runs it beside them):
// a file is only replaced when it changed, by an atomic rename, never truncated in place.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
mkdirSync(to, { recursive: true });
for (const name of names) {
  const text = readFileSync(join(from, name));
  const target = join(to, name);
  if (existsSync(target) && readFileSync(target).equals(text)) continue;
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, target);
}
// A stack removed from the repository is not shipped from an old copy.
for (const name of readdirSync(to)) if (name.endsWith('.xml') && !names.includes(name)) rmSync(join(to, name), { force: true });
