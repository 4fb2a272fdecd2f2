import type { Channel } from './channel.js';
import { ScopedLogger } from './logger.js';
import type { ChannelListener } from './receiver.js';

export interface CloseOnSignalsOptions {
  /** The signals that close the channels. Default `['SIGTERM', 'SIGINT']`. */
  signals?: readonly NodeJS.Signals[];
  /**
   * The longest wait for the channels to close, in ms; past it the process ends anyway.
   * Default 10,000.
   */
  timeoutMs?: number;
}

const log = new ScopedLogger('closeOnSignals');

/**
 * Makes SIGTERM and SIGINT (Ctrl-C) leave the cluster gracefully: on the signal, `channels` are
 * closed (each sends its LEAVE, so the others install a view without it at once instead of
 * suspecting it after the failure-detection timeout), and then the process ends as the signal
 * would have ended it: the signal is raised again with the handlers removed, so a parent or a
 * shell sees "killed by SIGTERM" (exit status 143; 130 for SIGINT). If the process has handlers
 * of its own for that signal, the process is left to them instead. A second signal while
 * closing ends the process at once.
 *
 * The handlers are removed when the returned function is called, or when every channel has
 * been closed some other way.
 */
export function closeOnSignals(channels: Channel | readonly Channel[], options: CloseOnSignalsOptions = {}): () => void {
  const list: readonly Channel[] = Array.isArray(channels) ? channels : [channels as Channel];
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const timeoutMs = options.timeoutMs ?? 10_000;
  let closing = false;
  let removed = false;
  let open = list.filter((c) => !c.isClosed()).length;

  const remove = (): void => {
    if (removed) return;
    removed = true;
    for (const s of signals) process.off(s, onSignal);
    for (const c of list) c.removeChannelListener(listener);
  };

  const listener: ChannelListener = {
    channelClosed: () => {
      if (--open <= 0 && !closing) remove();
    },
  };

  /** Ends the process as `signal` would have, unless the application handles that signal itself. */
  const reraise = (signal: NodeJS.Signals): void => {
    remove();
    if (process.listenerCount(signal) > 0) return;
    process.kill(process.pid, signal);
  };

  function onSignal(signal: NodeJS.Signals): void {
    if (closing) {
      log.warn(`${signal} again while closing: ending now`);
      reraise(signal);
      return;
    }
    closing = true;
    log.info(`${signal}: closing ${list.length} channel(s) before exiting`);
    const timer = setTimeout(() => {
      log.warn(`the channels did not close within ${timeoutMs} ms of ${signal}: ending anyway`);
      reraise(signal);
    }, timeoutMs);
    timer.unref();
    void Promise.allSettled(list.map((c) => c.close())).then((results) => {
      clearTimeout(timer);
      for (const r of results) if (r.status === 'rejected') log.warn('closing a channel failed', r.reason);
      reraise(signal);
    });
  }

  if (open === 0) {
    removed = true;
    return () => undefined;
  }
  for (const s of signals) process.on(s, onSignal);
  for (const c of list) c.addChannelListener(listener);
  return remove;
}
