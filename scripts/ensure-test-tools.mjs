// Before the tests: the network-namespace tests (test/netns/) need `ip` and `iptables`, and
// REDIS_PING's tests need `redis-server` (they start their own on a free loopback port), AUTH's
// X.509 tests `openssl` (node:crypto cannot make certificates). On a
// fresh Debian machine run as root (CI), install what is missing, quickly and idempotently;
// elsewhere say what the tests will need. Never fails the run by itself: the tests say why.
import { execFileSync } from 'node:child_process';

const have = (tool) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const missing = [['ip', 'iproute2'], ['iptables', 'iptables'], ['redis-server', 'redis-server'], ['openssl', 'openssl']].filter(([tool]) => !have(tool)).map(([, pkg]) => pkg);
if (missing.length === 0) process.exit(0);
if (process.getuid?.() !== 0 || !have('apt-get')) {
  console.warn(`ensure-test-tools: ${missing.join(', ')} missing; the network-namespace tests need ip and iptables (and root), REDIS_PING's tests redis-server, AUTH's openssl`);
  process.exit(0);
}
const apt = (args) => execFileSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
try {
  apt(['install', '-y', '-q', '--no-install-recommends', ...missing]);
} catch {
  // The package lists may be missing or stale on a fresh machine.
  apt(['update', '-q']);
  apt(['install', '-y', '-q', '--no-install-recommends', ...missing]);
}
