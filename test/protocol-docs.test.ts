import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// docs/protocols.md is generated from the protocol classes; this fails when a protocol or a
// property changes without the reference being regenerated (node scripts/protocol-docs.mjs).
test('docs/protocols.md matches the protocols in the code', async () => {
  const script = fileURLToPath(new URL('../scripts/protocol-docs.mjs', import.meta.url));
  await expect(promisify(execFile)(process.execPath, [script, '--check'], { timeout: 20_000 })).resolves.toBeDefined();
});
