// Generates protobufjs static code (ES module + type declarations) from each package's .proto
// files. Runs before tsc and jest; the output is not committed (see .gitignore).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const targets = [
  // [package dir, proto files relative to src, output module name]
  ['packages/core', ['wire/wire.proto'], 'wire'],
  ['protocols', ['headers.proto'], 'headers'],
];

// pbts always writes `import Long = require("long")`; with --force-number no type uses Long, and
// `long` is no dependency of ours, so the line would break a consumer's type check (without
// skipLibCheck) of our published declarations. Drop it; fail loudly if Long is ever used.
function dropUnusedLong(dts) {
  const text = readFileSync(dts, 'utf8');
  const out = text.replace(/^import Long = require\("long"\);\r?\n/m, '');
  if (/\bLong\b/.test(out)) throw new Error(`gen-proto: ${dts} uses Long: add "long" to the package's dependencies`);
  if (out !== text) writeFileSync(dts, out);
}

function newer(out, inputs) {
  if (!existsSync(out)) return false;
  const t = statSync(out).mtimeMs;
  return inputs.every((f) => statSync(f).mtimeMs < t) && statSync(fileURLToPath(import.meta.url)).mtimeMs < t;
}

for (const [pkg, protos, name] of targets) {
  const src = join(root, pkg, 'src');
  const inputs = protos.map((p) => join(src, p)).filter((p) => existsSync(p));
  if (inputs.length === 0) continue;
  const genDir = join(src, 'generated');
  const js = join(genDir, `${name}.js`);
  const dts = join(genDir, `${name}.d.ts`);
  if (!newer(dts, inputs)) {
    mkdirSync(genDir, { recursive: true });
    // A protobufjs root of each package's own: with the shared "default" root, the second module
    // loaded replaced the first one's `tsgroups` namespace, and the first could no longer decode
    // its nested types (PING's data went missing once core's wire module was loaded too).
    execFileSync(bin('pbjs'), ['-t', 'static-module', '-w', 'es6', '--root', `tsgroups_${name}`, '--force-number', '--no-create', '--no-verify',
      '--no-convert', '--no-delimited', '--no-typeurl', '--no-service', '-o', js, ...inputs], { stdio: 'inherit' });
    execFileSync(bin('pbts'), ['--no-comments', '-o', dts, js], { stdio: 'inherit' });
    dropUnusedLong(dts);
    console.log(`gen-proto: ${relative(root, js)}`);
  }
  // tsc does not copy .js sources: place the generated module next to the compiled code.
  const distGen = join(root, pkg, 'dist', 'generated');
  mkdirSync(distGen, { recursive: true });
  for (const f of readdirSync(genDir)) copyFileSync(join(genDir, f), join(distGen, f));
}
