import { type Address, type Channel, Message, TsgroupsError } from '@tsgroups/core';
import { type DispatcherOptions, MessageDispatcher } from './message-dispatcher.js';
import { MethodCall } from './method-call.js';
import type { RequestOptions, RequestOptionsInit } from './request-options.js';
import type { RspList } from './rsp.js';

/** Turns a numeric method id into a method name of the server object (or the function itself). */
export type MethodLookup = ((id: number) => string | ((...args: never[]) => unknown) | undefined) | Readonly<Record<number, string>>;

/** The names of the methods of a server type `S`. */
export type MethodName<S> = { [K in keyof S]: S[K] extends (...args: never[]) => unknown ? K : never }[keyof S] & string;
/** The parameters of `S`'s method `K`. */
export type MethodArgs<S, K extends MethodName<S>> = S[K] extends (...args: infer A) => unknown ? A : never;
/** What `S`'s method `K` resolves to. */
export type MethodResult<S, K extends MethodName<S>> = S[K] extends (...args: never[]) => infer R ? Awaited<R> : never;

export interface RpcDispatcherOptions extends DispatcherOptions {
  /** For calls by numeric id: `{ 1: 'ping' }` or `(id) => name`. */
  methodLookup?: MethodLookup;
}

/**
 * Remote method calls over the group, as JGroups' RpcDispatcher: `callRemoteMethods` calls a
 * method of the server object on several members and collects the results in an RspList;
 * `callRemoteMethod` calls one member and returns its result. The server object's methods (own
 * or inherited, sync or async; not those of `Object.prototype`) can be called by name, or by id
 * through `methodLookup`. An unknown method is an error (`ERR_NO_SUCH_METHOD`) at the caller, not
 * a silence. Arguments and results are what the channel's marshaller carries (by default JSON
 * values, undefined, Uint8Array and the other types it lists).
 *
 * ```ts
 * const disp = new RpcDispatcher(ch, { ping: (x: number) => x });
 * const rsps = await disp.callRemoteMethods(null, 'ping', [1], { mode: ResponseMode.GET_MAJORITY, timeout: 5000 });
 * ```
 */
export class RpcDispatcher<S extends object = object> extends MessageDispatcher {
  private readonly lookup: ((id: number) => string | ((...args: never[]) => unknown) | undefined) | null;

  constructor(
    channel: Channel,
    readonly server: S | null,
    options: RpcDispatcherOptions = {},
  ) {
    super(channel, null, options);
    const l = options.methodLookup;
    this.lookup = l === undefined ? null : typeof l === 'function' ? l : (id) => l[id];
  }

  /**
   * Calls `method` with `args` on `dests` (null: every member, this one included) and resolves
   * with each member's result; see {@link MessageDispatcher.castMessage} for the modes, timeouts
   * and suspicions. A member whose method threw has the error in its `Rsp`.
   */
  callRemoteMethods<K extends MethodName<S>>(
    dests: Iterable<Address> | null,
    method: K,
    args: MethodArgs<S, K>,
    opts?: RequestOptions | RequestOptionsInit,
  ): Promise<RspList<MethodResult<S, K>>>;
  callRemoteMethods<T = unknown>(
    dests: Iterable<Address> | null,
    method: string | number | MethodCall,
    args?: readonly unknown[],
    opts?: RequestOptions | RequestOptionsInit,
  ): Promise<RspList<T>>;
  callRemoteMethods<T = unknown>(
    dests: Iterable<Address> | null,
    method: string | number | MethodCall,
    args: readonly unknown[] = [],
    opts?: RequestOptions | RequestOptionsInit,
  ): Promise<RspList<T>> {
    return this.castMessage<T>(dests, this.callMessage(null, method, args), opts);
  }

  /**
   * Calls `method` with `args` on `dest` and resolves with its result. With the server's type
   * (`new RpcDispatcher(ch, server)` infers it), a method name is checked and the result typed.
   * @throws RemoteError when the method threw or rejected there, or does not exist (`ERR_NO_SUCH_METHOD`)
   * @throws TimeoutError, SuspectedError, AbortError as {@link MessageDispatcher.sendMessage}
   */
  callRemoteMethod<K extends MethodName<S>>(dest: Address, method: K, args: MethodArgs<S, K>, opts?: RequestOptions | RequestOptionsInit): Promise<MethodResult<S, K>>;
  callRemoteMethod<T = unknown>(dest: Address, method: string | number | MethodCall, args?: readonly unknown[], opts?: RequestOptions | RequestOptionsInit): Promise<T>;
  callRemoteMethod<T = unknown>(
    dest: Address,
    method: string | number | MethodCall,
    args: readonly unknown[] = [],
    opts?: RequestOptions | RequestOptionsInit,
  ): Promise<T> {
    return this.sendMessage<T>(this.callMessage(dest, method, args), opts);
  }

  private callMessage(dest: Address | null, method: string | number | MethodCall, args: readonly unknown[]): Message {
    const call = method instanceof MethodCall ? method : null;
    const m = call === null ? method : call.method;
    if (typeof m !== 'string' && !Number.isInteger(m)) {
      throw new TsgroupsError('ERR_BAD_ARGUMENT', `a method is a name or an integer id, got ${String(m)}`);
    }
    // The wire form of a MethodCall (see MethodCall.toData), without making one per call.
    return new Message(dest, call === null ? [m, args] : call.toData());
  }

  protected override handleRequest(msg: Message): unknown {
    const call = MethodCall.fromData(msg.getObject());
    if (call === undefined) throw new TsgroupsError('ERR_BAD_ARGUMENT', `a request from ${msg.src} is not a method call`);
    const fn = this.findMethod(call.method);
    return fn.apply(this.server, call.args as unknown[]);
  }

  private findMethod(method: string | number): (...args: unknown[]) => unknown {
    let target: unknown = method;
    if (typeof method === 'number') {
      target = this.lookup?.(method);
      if (target === undefined) throw noSuchMethod(`no method with id ${method}`);
    }
    if (typeof target === 'function') return target as (...args: unknown[]) => unknown;
    const name = target as string;
    const server = this.server as Record<string, unknown> | null;
    // Only the server's own methods: never Object.prototype's (constructor, toString, __proto__ ...).
    const fn = server === null || name in Object.prototype ? undefined : server[name];
    if (typeof fn !== 'function') throw noSuchMethod(`no method ${name}${server === null ? ' (this member has no server object)' : ''}`);
    return fn as (...args: unknown[]) => unknown;
  }
}

function noSuchMethod(message: string): TsgroupsError {
  return new TsgroupsError('ERR_NO_SUCH_METHOD', message);
}
