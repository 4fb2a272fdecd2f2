/**
 * Every error tsgroups raises is a {@link TsgroupsError} with a stable `code`, so callers can
 * branch on `err.code` instead of matching message text (the habit undici follows).
 */
export type ErrorCode =
  | 'ERR_CHANNEL_CLOSED'
  | 'ERR_CHANNEL_NOT_CONNECTED'
  | 'ERR_CHANNEL_CONNECTING'
  | 'ERR_CONFIG_XML'
  | 'ERR_CONFIG_UNKNOWN_PROTOCOL'
  | 'ERR_CONFIG_UNKNOWN_ATTRIBUTE'
  | 'ERR_CONFIG_BAD_VALUE'
  | 'ERR_CONFIG_MISSING_VARIABLE'
  | 'ERR_CONFIG_STACK_NOT_FOUND'
  | 'ERR_STACK_DEPENDENCY'
  | 'ERR_STACK'
  | 'ERR_PROTOCOL_REGISTRY'
  | 'ERR_BAD_ARGUMENT'
  | 'ERR_MARSHALLING'
  | 'ERR_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_JOIN_FAILED'
  | 'ERR_AUTH_REFUSED'
  | 'ERR_MESSAGE_TOO_LARGE'
  | 'ERR_REMOTE'
  | 'ERR_NO_SUCH_METHOD'
  | 'ERR_SUSPECTED'
  | 'ERR_IN_STATE'
  | 'ERR_STATE_NO_PROVIDER'
  | 'ERR_STATE_PROVIDER_FAILED'
  | 'ERR_STATE_BAD_TARGET'
  | 'ERR_STATE_SET_FAILED'
  | 'ERR_STATE_BUSY';

export class TsgroupsError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A channel method was called in a state that does not allow it (closed, or not connected). */
export class ChannelStateError extends TsgroupsError {}

/** The stack configuration (XML or code) is wrong: names `source`, `element` and `attribute`. */
export class ConfigError extends TsgroupsError {
  readonly source: string;
  readonly element: string | undefined;
  readonly attribute: string | undefined;
  constructor(
    code: ErrorCode,
    detail: string,
    where: { source: string; element?: string | undefined; attribute?: string | undefined },
  ) {
    const place = [where.source, where.element && `<${where.element}>`, where.attribute && `attribute "${where.attribute}"`]
      .filter(Boolean)
      .join(': ');
    super(code, `${place}: ${detail}`);
    this.source = where.source;
    this.element = where.element;
    this.attribute = where.attribute;
  }
}

/**
 * A security check refused this member: `ERR_AUTH_REFUSED` when the coordinator's AUTH did not
 * admit its join (no token, a wrong one, a stale or replayed one); the message says why.
 */
export class SecurityError extends TsgroupsError {}

export class TimeoutError extends TsgroupsError {
  constructor(message: string) {
    super('ERR_TIMEOUT', message);
  }
}

export class AbortError extends TsgroupsError {
  constructor(message = 'the operation was aborted', cause?: unknown) {
    super('ERR_ABORTED', message, { cause });
  }
}

/**
 * A message is larger than the transport can send in one datagram and no protocol in the stack
 * fragments it (add FRAG2, or send less). Raised by `send` before any protocol took the message.
 */
export class MessageTooLargeError extends TsgroupsError {
  /** The message's size on the wire, in bytes. */
  readonly size: number;
  /** The largest size that can be sent. */
  readonly limit: number;
  constructor(size: number, limit: number, detail: string) {
    super('ERR_MESSAGE_TOO_LARGE', `a message of ${size} bytes is larger than ${limit} bytes, the most ${detail}`);
    this.size = size;
    this.limit = limit;
  }
}

export function channelClosed(op: string): ChannelStateError {
  return new ChannelStateError('ERR_CHANNEL_CLOSED', `${op}: the channel is closed`);
}

export function channelNotConnected(op: string): ChannelStateError {
  return new ChannelStateError('ERR_CHANNEL_NOT_CONNECTED', `${op}: the channel is not connected`);
}
