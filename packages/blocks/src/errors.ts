import { type Address, TsgroupsError } from '@tsgroups/core';

/**
 * A remote member's handler threw or rejected: its `Rsp` carries this, and `callRemoteMethod` /
 * `sendMessage` reject with it. It keeps the remote error's name, message and code, and its
 * stack when the remote dispatcher shares stacks (`exposeStackTraces`).
 */
export class RemoteError extends TsgroupsError {
  /** The member whose handler failed. */
  readonly sender: Address;
  /** The remote error's `name` (e.g. `TypeError`). */
  readonly remoteName: string;
  /** The remote error's `code`, if it had a string one. */
  readonly remoteCode: string | undefined;
  /** The remote stack, when that member shares it. */
  readonly remoteStack: string | undefined;

  constructor(sender: Address, remote: RemoteErrorData, code: 'ERR_REMOTE' | 'ERR_NO_SUCH_METHOD' = 'ERR_REMOTE') {
    super(code, `${remote.name} at ${sender}: ${remote.message}`);
    this.sender = sender;
    this.remoteName = remote.name;
    this.remoteCode = remote.code;
    this.remoteStack = remote.stack;
  }
}

/** A unicast call's destination left the view or was suspected before it answered. */
export class SuspectedError extends TsgroupsError {
  readonly member: Address;
  constructor(member: Address, what: string) {
    super('ERR_SUSPECTED', `${what}: ${member} left or is suspected`);
    this.member = member;
  }
}

/** What travels back when a handler fails. */
export interface RemoteErrorData {
  name: string;
  message: string;
  code?: string | undefined;
  stack?: string | undefined;
  /** true: the method was not found (RpcDispatcher). */
  noSuchMethod?: boolean | undefined;
}

/** The wire form of a handler's failure (`exposeStack`: include the stack). */
export function remoteErrorData(err: unknown, exposeStack: boolean): RemoteErrorData {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    // Only the fields that are set: a plain JSON object travels the cheap way.
    const data: RemoteErrorData = { name: err.name, message: err.message };
    if (typeof code === 'string') data.code = code;
    if (exposeStack && err.stack !== undefined) data.stack = err.stack;
    if (code === 'ERR_NO_SUCH_METHOD') data.noSuchMethod = true;
    return data;
  }
  return { name: 'Error', message: typeof err === 'string' ? err : safeString(err) };
}

/** `data` as it arrived, checked (a malformed error response becomes a plain one). */
export function remoteError(sender: Address, data: unknown): RemoteError {
  const d = (typeof data === 'object' && data !== null ? data : {}) as Partial<RemoteErrorData>;
  const clean: RemoteErrorData = {
    name: typeof d.name === 'string' ? d.name : 'Error',
    message: typeof d.message === 'string' ? d.message : safeString(data),
    code: typeof d.code === 'string' ? d.code : undefined,
    stack: typeof d.stack === 'string' ? d.stack : undefined,
  };
  return new RemoteError(sender, clean, d.noSuchMethod === true ? 'ERR_NO_SUCH_METHOD' : 'ERR_REMOTE');
}

function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return 'unprintable error';
  }
}
