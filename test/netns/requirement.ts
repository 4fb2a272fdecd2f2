// The one rule for every test of test/netns/: they need root, `ip` and `iptables`. Where these
// are missing the tests are skipped with a message saying why, as the issue asks (a developer's
// machine without root); but in CI (CI set in the environment) a missing tool fails the suite:
// CI has them, so there the namespace tests must run.
import { execFileSync } from 'node:child_process';
import { netnsUnavailable } from './netns.js';

/** Why namespaces cannot be made here (no root, no tool, or a container that forbids them), or null. */
function whyNot(): string | null {
  const why = netnsUnavailable();
  if (why !== null) return why;
  // Root in a container without CAP_SYS_ADMIN has the tools but cannot use them: try once.
  const probe = `tsglan-${process.pid}-probe`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('ip', ['netns', 'del', probe], { stdio: ['ignore', 'ignore', 'pipe'] });
    return null;
  } catch (err) {
    return `\`ip netns add\` fails here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
}

/**
 * `test` where network namespaces can be used; else `test.skip`, after printing why. With CI
 * set, always `test`, and a failing beforeAll names what is missing.
 */
export function netnsTest(suite: string): typeof test {
  const why = whyNot();
  if (why === null) return test;
  if (process.env.CI) {
    beforeAll(() => {
      throw new Error(`${suite}: ${why}; CI is set, so this suite must run here, not be skipped`);
    });
    return test;
  }
  // Straight to stderr: jest shows no console output of a file whose tests were all skipped.
  process.stderr.write(`${suite}: SKIPPED, ${why} (with CI set this fails instead)\n`);
  return test.skip;
}
