import type { Address, Response } from '@tsgroups/core';

/** One member's response to a group request, as JGroups' `Rsp`. */
export class Rsp<T = unknown> {
  constructor(
    /** The value the member returned (undefined if it did not answer, or answered with an error). */
    readonly value: T | undefined,
    /** The error the member's handler threw or rejected with (a {@link RemoteError}), if any. */
    readonly error: unknown,
    /** True if the member answered (with a value or an error) and a response filter accepted it. */
    readonly received: boolean,
    /** True if the member left the view or was suspected before it answered. */
    readonly suspected: boolean,
  ) {}

  wasReceived(): boolean {
    return this.received;
  }
  wasSuspected(): boolean {
    return this.suspected;
  }
  hasException(): boolean {
    return this.error !== undefined;
  }
  getValue(): T | undefined {
    return this.value;
  }
  getException(): unknown {
    return this.error;
  }

  toString(): string {
    if (this.error !== undefined) return `error: ${(this.error as Error)?.message ?? String(this.error)}`;
    if (this.received) return `value: ${String(this.value)}`;
    return this.suspected ? 'suspected' : 'not received';
  }
}

/**
 * The responses of a group request by member, as JGroups' `RspList`: one {@link Rsp} for each
 * destination, received or not. Iterable as `[address, rsp]` pairs, in the order the
 * destinations were given (the view's order for a call to all).
 */
export class RspList<T = unknown> implements Iterable<[Address, Rsp<T>]> {
  private readonly rsps: Map<Address, Rsp<T>>;

  constructor(entries: Iterable<[Address, Rsp<T>]> = []) {
    this.rsps = new Map(entries);
  }

  /** @internal An RspList from a collector's responses. */
  static fromResponses<T>(responses: ReadonlyMap<Address, Response<unknown>>): RspList<T> {
    const list = new RspList<T>();
    for (const [a, r] of responses) list.rsps.set(a, new Rsp<T>(r.value as T | undefined, r.error, r.received, r.suspected));
    return list;
  }

  /** The response of `member`, or undefined if it was not a destination. */
  get(member: Address): Rsp<T> | undefined {
    return this.rsps.get(member);
  }
  /** The value `member` returned (undefined if none). */
  getValue(member: Address): T | undefined {
    return this.rsps.get(member)?.value;
  }
  /** The values of the members that answered without an error, in destination order. */
  getResults(): T[] {
    const out: T[] = [];
    for (const r of this.rsps.values()) if (r.received && r.error === undefined) out.push(r.value as T);
    return out;
  }
  /** The first value received without an error (GET_FIRST's answer), or undefined. */
  getFirst(): T | undefined {
    for (const r of this.rsps.values()) if (r.received && r.error === undefined) return r.value;
    return undefined;
  }
  /** How many destinations the list holds (received or not). */
  size(): number {
    return this.rsps.size;
  }
  isReceived(member: Address): boolean {
    return this.rsps.get(member)?.received === true;
  }
  isSuspected(member: Address): boolean {
    return this.rsps.get(member)?.suspected === true;
  }
  numReceived(): number {
    let n = 0;
    for (const r of this.rsps.values()) if (r.received) n++;
    return n;
  }
  numSuspectedMembers(): number {
    return this.getSuspectedMembers().length;
  }
  getSuspectedMembers(): Address[] {
    const out: Address[] = [];
    for (const [a, r] of this.rsps) if (r.suspected) out.push(a);
    return out;
  }
  /** The members whose handler threw, with their errors. */
  getErrors(): Map<Address, unknown> {
    const out = new Map<Address, unknown>();
    for (const [a, r] of this.rsps) if (r.error !== undefined) out.set(a, r.error);
    return out;
  }
  keys(): IterableIterator<Address> {
    return this.rsps.keys();
  }
  values(): IterableIterator<Rsp<T>> {
    return this.rsps.values();
  }
  [Symbol.iterator](): IterableIterator<[Address, Rsp<T>]> {
    return this.rsps.entries();
  }

  toString(): string {
    return [...this.rsps].map(([a, r]) => `${a}: ${r}`).join(', ');
  }
}
