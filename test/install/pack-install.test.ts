// The packages as a user gets them: `pnpm pack` each workspace package the facade needs (and the
// CLI), `npm install` the tarballs into an empty folder outside the workspace, and use them from
// there: a 3-member cluster on the shipped loopback.xml (found by name), udp.xml and the default
// stack resolved by name, Channel.fromXml, the `tsgroups` command, and a strict TypeScript
// consumer type-checked WITHOUT skipLibCheck. Assumes dist/ is built (`pnpm test` builds first);
// npm install reads the public registry for the third-party dependencies.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Workspace packages, dependencies first; the app installs all of their tarballs. */
const PACKAGES = ['packages/core', 'protocols', 'packages/blocks', 'packages/tsgroups', 'packages/cli'];
const PUBLISHED = ['@tsgroups/core', '@tsgroups/protocols', '@tsgroups/blocks', 'tsgroups', '@tsgroups/cli'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (killed after `timeoutMs`); never rejects: the caller asserts. */
function run(cmd: string, args: string[], cwd: string, timeoutMs: number, env = cleanEnv()): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err && code === -1 ? `\n${err.message}` : '') });
    });
  });
}

/** The environment without what `pnpm test` sets for its own scripts, so npm acts as for a user. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_package_|npm_lifecycle_|npm_config_user_agent$|PNPM_|pnpm_)/i.test(k)) continue;
    env[k] = v;
  }
  env.npm_config_update_notifier = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_audit = 'false';
  env.TSGROUPS_LOG = 'error';
  return env;
}

function expectOk(r: Run, what: string): void {
  if (r.code !== 0) throw new Error(`${what} exited with ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

/** The program a user would write: everything comes from `import ... from 'tsgroups'`. */
const CLUSTER_SCRIPT = `
import { Channel, shippedStackNames } from 'tsgroups';

const PER_SENDER = 20;
const out = { names: shippedStackNames(), received: {} };

// Names resolve to the stacks inside the installed package, whatever the working directory.
const udp = new Channel('udp.xml');
const dflt = new Channel();
out.udp = { source: udp.getProtocolStack().source, spec: udp.getProtocolStack().printProtocolSpec() };
out.dflt = { source: dflt.getProtocolStack().source, spec: dflt.getProtocolStack().printProtocolSpec() };
await udp.close();
await dflt.close();
try {
  new Channel('no-such-stack.xml');
} catch (err) {
  out.notFound = { code: err.code, message: err.message };
}

// Three members: two on the shipped loopback.xml by name, one from XML text.
const members = [
  new Channel('loopback.xml').setName('A'),
  new Channel('loopback.xml').setName('B'),
  Channel.fromXml('<config><SHARED_LOOPBACK/><SHARED_LOOPBACK_PING/><GMS/></config>', 'inline').setName('C'),
];
out.inlineSource = members[2].getProtocolStack().source;
const deadline = Date.now() + 30000;
const until = async (cond, what) => {
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 5));
  }
};
try {
  for (const ch of members) {
    out.received[ch.getName()] = [];
    ch.on('message', (msg) => out.received[ch.getName()].push(msg.getObject()));
  }
  const cluster = 'pack-install-' + process.pid;
  for (const ch of members) await ch.connect(cluster);
  await until(() => members.every((ch) => ch.getView()?.size() === 3), 'one view of 3');
  out.view = members[0].getView().getMembers().map(String);
  for (let i = 0; i < PER_SENDER; i++) {
    for (const ch of members) await ch.send(null, { from: ch.getName(), i });
  }
  await until(() => members.every((ch) => out.received[ch.getName()].length >= 3 * PER_SENDER), 'every message');
} finally {
  for (const ch of members) await ch.close();
}
console.log(JSON.stringify(out));
`;

/** A consumer's TypeScript; `tsc` checks it and, without skipLibCheck, every declaration it reaches. */
const CONSUMER_TS = `
import {
  Channel,
  ConfigError,
  type ErrorCode,
  type Message,
  type ProtocolStack,
  type Receiver,
  shippedStackNames,
  stackFromXml,
  TsgroupsError,
  type View,
} from 'tsgroups';

const receiver: Receiver = {
  receive(msg: Message): void {
    const value: unknown = msg.getObject();
    console.log(msg.getSrc(), value);
  },
  viewAccepted(view: View): void {
    console.log(view.getMembers().length);
  },
};

export async function main(): Promise<string[]> {
  const ch: Channel = new Channel('loopback.xml').setReceiver(receiver);
  const stack: ProtocolStack = stackFromXml('<config><SHARED_LOOPBACK/><SHARED_LOOPBACK_PING/><GMS/></config>', { source: 'mine' });
  const other = Channel.fromXml('<config><SHARED_LOOPBACK/><SHARED_LOOPBACK_PING/><GMS/></config>');
  ch.on('view', (v: View) => console.log(v.size()));
  await ch.connect('typed');
  await ch.send(null, { hello: 'world' });
  await ch.close();
  await other.close();
  const notFound: ErrorCode = 'ERR_CONFIG_STACK_NOT_FOUND';
  try {
    new Channel(stack);
  } catch (err) {
    if (err instanceof ConfigError && err.code === notFound) console.log(err.source, err.element);
    else if (err instanceof TsgroupsError) console.log(err.code);
  }
  // @ts-expect-error a number is no stack: the declarations are real, not \`any\`
  new Channel(42);
  return shippedStackNames();
}
`;

describe('installed from packed tarballs with plain npm', () => {
  let dir = '';
  let app = '';
  let installed: Run | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsgroups-pack-install-'));
    const tarballs = join(dir, 'tarballs');
    app = join(dir, 'app');
    mkdirSync(tarballs);
    mkdirSync(app);
    for (const pkg of PACKAGES) {
      expectOk(await run(npx, ['-y', 'pnpm@10', 'pack', '--pack-destination', tarballs], join(root, pkg), 120_000), `pnpm pack in ${pkg}`);
    }
    const files = readdirSync(tarballs).filter((f) => f.endsWith('.tgz'));
    expect(files).toHaveLength(PACKAGES.length);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'tsgroups-consumer', private: true, type: 'module' }));
    // @types/node as the workspace has it: our declarations use Node's types, as any Node library's do.
    const typesNode = JSON.parse(readFileSync(join(root, 'node_modules/@types/node/package.json'), 'utf8')).version as string;
    installed = await run(npm, ['install', ...files.map((f) => join(tarballs, f)), `@types/node@${typesNode}`], app, 180_000);
    expectOk(installed, 'npm install');
  }, 240_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a 3-member cluster on stacks found by name, and Channel.fromXml, from outside the workspace', async () => {
    writeFileSync(join(app, 'cluster.mjs'), CLUSTER_SCRIPT);
    const r = await run(process.execPath, ['cluster.mjs'], app, 60_000);
    expectOk(r, 'cluster.mjs');
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      names: string[];
      udp: { source: string; spec: string };
      dflt: { source: string; spec: string };
      notFound: { code: string; message: string };
      inlineSource: string;
      view: string[];
      received: Record<string, { from: string; i: number }[]>;
    };
    expect(out.names).toEqual(expect.arrayContaining(['udp.xml', 'tcp.xml', 'tcp-file.xml', 'tcp-redis.xml', 'tcp-dns.xml', 'udp-secure.xml', 'tcp-secure.xml', 'loopback.xml', 'sequencer.xml']));
    const shipped = realpathSync(join(app, 'node_modules/tsgroups/stacks'));
    expect(realpathSync(out.udp.source)).toBe(join(shipped, 'udp.xml'));
    expect(out.udp.spec.split(' -> ')[0]).toBe('UDP');
    expect(out.dflt).toEqual(out.udp); // new Channel() is udp.xml
    expect(out.notFound.code).toBe('ERR_CONFIG_STACK_NOT_FOUND');
    expect(out.notFound.message).toContain('udp.xml');
    expect(out.inlineSource).toBe('inline');
    expect(out.view).toEqual(['A', 'B', 'C']);
    for (const name of ['A', 'B', 'C']) {
      const got = out.received[name]!;
      expect(got).toHaveLength(60);
      for (const from of ['A', 'B', 'C']) {
        // every multicast of every member, once, in the order it was sent
        expect(got.filter((m) => m.from === from).map((m) => m.i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      }
    }
  }, 90_000);

  test('the tsgroups command runs from the installed CLI package', async () => {
    const bin = join(app, 'node_modules/.bin', process.platform === 'win32' ? 'tsgroups.cmd' : 'tsgroups');
    const r = await run(bin, ['demo', '--in-process', '--members', '3', '--messages', '2'], app, 60_000);
    expectOk(r, 'tsgroups demo --in-process');
    expect(r.stdout).toContain('demo: OK');
  }, 90_000);

  test('a strict TypeScript consumer type-checks without skipLibCheck', async () => {
    writeFileSync(join(app, 'consumer.ts'), CONSUMER_TS);
    const compilerOptions = {
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: false,
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      target: 'ES2022',
      lib: ['ES2022'],
      types: ['node'],
      noEmit: true,
    };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
    // The workspace's TypeScript (the version we build with); it resolves everything from the app.
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const r = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], app, 120_000);
    expectOk(r, 'tsc --noEmit');
  }, 150_000);

  test('published declarations import only node builtins and their own package dependencies', () => {
    // npm hoists transitive packages, which hides an undeclared import (as `long` was) that a
    // strict layout (pnpm, Yarn PnP) turns into a type error; so check the specifiers directly.
    const builtins = new Set(builtinModules);
    const problems: string[] = [];
    for (const name of PUBLISHED) {
      const pkgDir = join(app, 'node_modules', name);
      const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
        peerDependencies?: Record<string, string>;
      };
      const allowed = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
      for (const file of readdirSync(pkgDir, { recursive: true }) as string[]) {
        if (!file.endsWith('.d.ts')) continue;
        // without comments: a doc comment may show an import that is no import
        const text = readFileSync(join(pkgDir, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
        for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*|import\s+)["']([^"']+)["']/g)) {
          const spec = m[1]!;
          if (spec.startsWith('.')) continue;
          if (spec.startsWith('node:') || builtins.has(spec)) continue;
          const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
          if (!allowed.has(pkg)) problems.push(`${name}/${file} imports ${spec}, not a dependency of ${name}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
