import { Flag, TsgroupsError, type Address } from '@tsgroups/core';
import { ResponseMode } from './response-mode.js';
import type { RspFilter } from './rsp-filter.js';

/** The options of a request, as a plain object. */
export interface RequestOptionsInit {
  /** How long to wait for responses (default GET_ALL). */
  mode?: ResponseMode;
  /** The most milliseconds to wait; 0 = no limit (default 10,000). Ignored by GET_NONE. */
  timeout?: number;
  /** Unicast to each destination instead of one multicast (always so for a subset of the view). */
  anycast?: boolean;
  /** Members not to send to, even when they are among the destinations. */
  exclusionList?: Iterable<Address>;
  /** Decides which responses count and when enough have arrived. */
  rspFilter?: RspFilter | null;
  /** Message flags for the request (`Flag.OOB`, `Flag.DONT_BUNDLE`, `Flag.NO_FC` ...): a list, or one number (flags or-ed together). */
  flags?: Iterable<number> | number;
  /** Aborting rejects the call with an `AbortError` and releases its state. */
  signal?: AbortSignal | undefined;
}

/** Every flag bit a message may carry. */
const ALL_FLAGS = Object.values(Flag).reduce((a, f) => a | f, 0);

/** The default timeout of a synchronous request, as JGroups' `RequestOptions.SYNC()`. */
export const DEFAULT_TIMEOUT = 10_000;

/**
 * Options of a request, as JGroups' `RequestOptions`: `RequestOptions.SYNC(timeout)`,
 * `RequestOptions.ASYNC()` and chainable setters. Anywhere a `RequestOptions` is taken, a plain
 * {@link RequestOptionsInit} object works as well.
 */
export class RequestOptions {
  mode: ResponseMode = ResponseMode.GET_ALL;
  timeout = DEFAULT_TIMEOUT;
  anycast = false;
  exclusionList: ReadonlySet<Address> = new Set();
  rspFilter: RspFilter | null = null;
  flags = 0;
  signal: AbortSignal | undefined = undefined;

  constructor(init: RequestOptionsInit = {}) {
    if (init.mode !== undefined) this.setMode(init.mode);
    if (init.timeout !== undefined) this.setTimeout(init.timeout);
    if (init.anycast !== undefined) this.setAnycast(init.anycast);
    if (init.exclusionList !== undefined) this.setExclusionList(...init.exclusionList);
    if (init.rspFilter !== undefined) this.setRspFilter(init.rspFilter);
    if (init.flags !== undefined) this.setFlags(...(typeof init.flags === 'number' ? [init.flags] : init.flags));
    if (init.signal !== undefined) this.setSignal(init.signal);
  }

  /** Waits for all responses (GET_ALL), at most `timeout` ms (default 10,000; 0 = no limit). */
  static SYNC(timeout = DEFAULT_TIMEOUT): RequestOptions {
    return new RequestOptions({ mode: ResponseMode.GET_ALL, timeout });
  }

  /** Does not wait (GET_NONE): the call resolves at once, the receivers send nothing back. */
  static ASYNC(): RequestOptions {
    return new RequestOptions({ mode: ResponseMode.GET_NONE });
  }

  /** `opts` as a RequestOptions (the object itself if it is one). */
  static from(opts: RequestOptions | RequestOptionsInit | undefined): RequestOptions {
    return opts instanceof RequestOptions ? opts : new RequestOptions(opts);
  }

  setMode(mode: ResponseMode): this {
    if (!Object.values(ResponseMode).includes(mode)) throw bad(`unknown response mode ${String(mode)}`);
    this.mode = mode;
    return this;
  }
  setTimeout(ms: number): this {
    if (!Number.isFinite(ms) || ms < 0) throw bad(`the timeout must be a number of milliseconds >= 0, got ${ms}`);
    this.timeout = ms;
    return this;
  }
  setAnycast(flag: boolean): this {
    this.anycast = flag;
    return this;
  }
  setExclusionList(...members: Address[]): this {
    this.exclusionList = new Set(members);
    return this;
  }
  setRspFilter(filter: RspFilter | null): this {
    this.rspFilter = filter;
    return this;
  }
  /** Sets these flags (in addition to those set before). */
  setFlags(...flags: number[]): this {
    for (const f of flags) {
      if (!Number.isInteger(f) || f < 0 || (f & ~ALL_FLAGS) !== 0) throw bad(`unknown message flag ${f}`);
      this.flags |= f;
    }
    return this;
  }
  clearFlags(...flags: number[]): this {
    for (const f of flags) this.flags &= ~f;
    return this;
  }
  setSignal(signal: AbortSignal | undefined): this {
    this.signal = signal;
    return this;
  }

  toString(): string {
    return `mode=${this.mode}, timeout=${this.timeout}${this.anycast ? ', anycast' : ''}${this.rspFilter ? ', filter' : ''}`;
  }
}

function bad(message: string): TsgroupsError {
  return new TsgroupsError('ERR_BAD_ARGUMENT', `RequestOptions: ${message}`);
}
