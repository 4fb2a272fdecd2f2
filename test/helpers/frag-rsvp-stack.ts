import { DISCARD, FRAG2, GMS, type Logger, type LogLevel, ProtocolStack, RSVP, SHARED_LOOPBACK, SHARED_LOOPBACK_PING } from 'tsgroups';
import { getLogger, setLogger } from 'tsgroups';

/** SHARED_LOOPBACK, SHARED_LOOPBACK_PING, DISCARD, GMS, FRAG2 (8K fragments), RSVP: for the FRAG2 and RSVP tests. */
export function fragRsvpStack(rsvp: Record<string, unknown> = {}, frag: Record<string, unknown> = {}): ProtocolStack {
  const gms = new GMS().setValues({ join_retry_delay: 20, view_ack_collection_timeout: 500 });
  return new ProtocolStack([
    new SHARED_LOOPBACK(),
    new SHARED_LOOPBACK_PING(),
    new DISCARD(),
    gms,
    new FRAG2().setValues({ frag_size: '8K', ...frag }),
    new RSVP().setValues({ timeout: 1000, ...rsvp }),
  ]);
}

/** Records the log lines of `scope` at warn and above while installed; passes the rest on. */
export class CapturingLogger implements Logger {
  readonly lines: string[] = [];
  private readonly previous = getLogger();
  constructor(private readonly scope: string) {}
  isEnabled(level: LogLevel): boolean {
    return level === 'warn' || level === 'error' || this.previous.isEnabled(level);
  }
  log(level: Exclude<LogLevel, 'silent'>, scope: string, message: string, err?: unknown): void {
    if (scope === this.scope && (level === 'warn' || level === 'error')) this.lines.push(message);
    else if (this.previous.isEnabled(level)) this.previous.log(level, scope, message, err);
  }
  install(): this {
    setLogger(this);
    return this;
  }
  uninstall(): void {
    setLogger(this.previous);
  }
}
