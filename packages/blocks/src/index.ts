// The building blocks: request/response over the group (MessageDispatcher, RpcDispatcher), and ReplCache on top.
export { RemoteError, SuspectedError, type RemoteErrorData } from './errors.js';
export { MessageDispatcher, type DispatcherOptions, type RequestHandler } from './message-dispatcher.js';
export { MethodCall } from './method-call.js';
export { REQUEST_HEADER_ID, requestHeaderCodec, type RequestHeader } from './request-header.js';
export { DEFAULT_TIMEOUT, RequestOptions, type RequestOptionsInit } from './request-options.js';
export { ResponseMode } from './response-mode.js';
export { Rsp, RspList } from './rsp.js';
export type { RspFilter } from './rsp-filter.js';
export { RpcDispatcher, type MethodArgs, type MethodLookup, type MethodName, type MethodResult, type RpcDispatcherOptions } from './rpc-dispatcher.js';
export { type CacheKey, canonicalKey, ConsistentHash } from './consistent-hash.js';
export { compareVersions, type EntryVersion, VersionClock } from './entry-version.js';
export { REPL_CACHE_ID, ReplCache, type ReplCacheOptions } from './repl-cache.js';
export {
  REPLICATED_HASH_MAP_ID,
  ReplicatedHashMap,
  type MapKey,
  type ReplicatedHashMapEvents,
  type ReplicatedHashMapOptions,
} from './replicated-hash-map.js';
