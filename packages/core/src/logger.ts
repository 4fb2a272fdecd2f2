/** Minimal levelled logger; replace it with {@link setLogger} to route logs elsewhere. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Logger {
  isEnabled(level: LogLevel): boolean;
  log(level: Exclude<LogLevel, 'silent'>, scope: string, message: string, err?: unknown): void;
}

const ORDER: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, silent: 5 };

export class ConsoleLogger implements Logger {
  constructor(public level: LogLevel = (process.env.TSGROUPS_LOG as LogLevel | undefined) ?? 'warn') {
    if (!(this.level in ORDER)) this.level = 'warn';
  }
  isEnabled(level: LogLevel): boolean {
    return ORDER[level] >= ORDER[this.level];
  }
  log(level: Exclude<LogLevel, 'silent'>, scope: string, message: string, err?: unknown): void {
    if (!this.isEnabled(level)) return;
    const line = `${new Date().toISOString()} ${level.toUpperCase()} [${scope}] ${message}`;
    if (err !== undefined) console.error(line, err);
    else if (ORDER[level] >= ORDER.warn) console.error(line);
    else console.log(line);
  }
}

let current: Logger = new ConsoleLogger();

export function setLogger(logger: Logger): void {
  current = logger;
}

export function getLogger(): Logger {
  return current;
}

/** A logger bound to one scope (a protocol or channel), looked up at call time so setLogger applies. */
export class ScopedLogger {
  constructor(public scope: string) {}
  isEnabled(level: LogLevel): boolean {
    return current.isEnabled(level);
  }
  trace(msg: string): void { current.log('trace', this.scope, msg); }
  debug(msg: string): void { current.log('debug', this.scope, msg); }
  info(msg: string): void { current.log('info', this.scope, msg); }
  warn(msg: string, err?: unknown): void { current.log('warn', this.scope, msg, err); }
  error(msg: string, err?: unknown): void { current.log('error', this.scope, msg, err); }
}
