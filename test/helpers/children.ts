import type { ChildProcess } from 'node:child_process';

/** SIGKILLs every child still running and waits until each has exited; empties the list. */
export async function killChildren(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
}
