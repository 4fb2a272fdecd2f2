// Child processes of the benchmarks: each runs in a process group of its own, and it and every
// process it started (member processes, JVMs, also those under `timeout`, which makes a group of
// its own) are killed together: when it ends, when its time is up, and when the benchmark exits,
// fails or is interrupted (SIGINT, SIGTERM).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const groups = new Set();

/** SIGKILLs `pid`, its process group and all its descendants (collected first, then killed). */
function killGroup(pid) {
  const tree = descendants(pid);
  for (const p of [-pid, ...tree]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** The parent of every process, from /proc. */
function parents() {
  const ppid = new Map();
  let pids = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return ppid;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // After the command name in parentheses (which may hold spaces): state, ppid, pgrp ...
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ppid.set(Number(pid), Number(fields[1]));
    } catch {
      // the process is gone
    }
  }
  return ppid;
}

/** `root` and every process below it. */
export function descendants(root) {
  const ppid = parents();
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, parent] of ppid) if (parent === tree[i]) tree.push(pid);
  return tree;
}

/** Kills every child group still alive. */
export function killAllChildren() {
  for (const pid of groups) killGroup(pid);
  groups.clear();
}

process.on('exit', killAllChildren);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}, killing the child processes\n`);
    killAllChildren();
    process.exit(130);
  });
}
process.on('uncaughtException', (err) => {
  process.stderr.write(`bench: ${err?.stack ?? err}\n`);
  killAllChildren();
  process.exit(1);
});

/**
 * Starts `cmd args` in a process group of its own, with pipes for stdin, stdout and stderr; it and
 * its descendants are killed with the others when the benchmark ends. The caller waits for it.
 */
export function spawnTracked(cmd, args, { env, cwd } = {}) {
  const child = spawn(cmd, args, { env: env ?? process.env, cwd, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  groups.add(child.pid);
  child.stdin.on('error', () => undefined); // EPIPE once it exited
  child.once('close', () => {
    killGroup(child.pid);
    groups.delete(child.pid);
  });
  return child;
}

/**
 * Runs `cmd args` in a process group of its own and collects its output. Resolves when it exits
 * (or, after `timeoutMs`, once its group was killed) with `{ code, signal, stdout, stderr,
 * timedOut, peakRssKiB }`; `peakRssKiB` is the largest VmHWM of it or any process below it, sampled
 * every `sampleMs` while it ran, when `sampleRss` is set. `onStderr` sees each chunk of stderr.
 */
export function runChild(cmd, args, { env, cwd, timeoutMs = 600_000, sampleRss = false, sampleMs = 200, onStderr, stdin } = {}) {
  return new Promise((resolve) => {
    const child = spawnTracked(cmd, args, { env, cwd });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let peakRssKiB = 0;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      onStderr?.(String(d));
    });
    child.stdin.end(stdin ?? '');
    const sample = () => {
      for (const kib of treeHwmKiB(child.pid)) peakRssKiB = Math.max(peakRssKiB, kib);
    };
    const sampler = sampleRss ? setInterval(sample, sampleMs) : undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs);
    child.on('error', (err) => {
      stderr += `\n${err.message}`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (sampler) clearInterval(sampler);
      // spawnTracked's own close handler (registered first) killed whatever was left below it.
      resolve({ code, signal, stdout, stderr, timedOut, peakRssKiB });
    });
  });
}

/** VmHWM (peak resident set, KiB) of `root` and of every process below it, read from /proc. */
export function treeHwmKiB(root) {
  const out = [];
  for (const pid of descendants(root)) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) out.push(Number(m[1]));
    } catch {
      // the process is gone
    }
  }
  return out;
}

/** The last line of `text` that parses as JSON, or undefined. */
export function lastJsonLine(text) {
  const lines = text.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return JSON.parse(lines[i]);
    } catch {
      // not JSON
    }
  }
  return undefined;
}

/** The last `n` lines of `text`, for error messages. */
export function tail(text, n = 5) {
  return text.trim().split('\n').slice(-n).join(' | ');
}
