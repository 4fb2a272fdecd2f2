import { ConfigError, type PropertyDecls } from '@tsgroups/core';
import type { Redis } from 'ioredis';
import { ProtocolId } from '../ids.js';
import { type RegistryCounts, RegistryPing, type RegistryStore, type StoredEntry } from './registry-ping.js';

/** The Redis key of a cluster's hash. */
export function redisClusterKey(cluster: string): string {
  return `tsgroups:${cluster}`;
}

/** The url as logs and errors may show it: without its password. */
function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

/** How long ioredis waits between reconnection attempts at most while Redis is away (ms). */
const MAX_RECONNECT_DELAY = 2000;

/**
 * One cluster's hash in Redis: field = member address, value = its entry. Every write refreshes
 * the hash's expiry, so the hash of a cluster whose members all died disappears by itself.
 *
 * Commands fail at once while Redis is away (no offline queue, no retry of a command), and time
 * out after `commandTimeout` if it hangs, so discovery rounds and leaves are never held up. The
 * connection is re-established in the background (attempts at most MAX_RECONNECT_DELAY apart)
 * until close(), which ends it for good: nothing keeps the process alive after a member left.
 */
class RedisHashStore implements RegistryStore {
  readonly where: string;
  private client: Redis | null = null;
  private lastConnectionError: Error | undefined;

  constructor(
    private readonly url: string,
    private readonly key: string,
    private readonly ttl: number,
    private readonly timeout: number,
    private readonly onConnectionError: (err: Error) => void,
  ) {
    this.where = `${redactRedisUrl(url)} (hash ${key})`;
  }

  async open(): Promise<void> {
    // Loaded here, not at the top: ioredis takes about 100 ms to load, which only REDIS_PING's users should pay.
    const { Redis } = await import('ioredis');
    const client = new Redis(this.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: this.timeout,
      commandTimeout: this.timeout,
      retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY),
    });
    // Without a listener ioredis prints every failed attempt itself.
    client.on('error', (err: Error) => {
      this.lastConnectionError = err;
      this.onConnectionError(err);
    });
    this.client = client;
    try {
      await client.connect();
    } catch (err) {
      // connect() says only "Connection is closed."; the error event said why (ECONNREFUSED ...).
      throw this.lastConnectionError ?? err;
    }
  }

  private get redis(): Redis {
    if (this.client === null) throw new Error('the Redis store is not open');
    return this.client;
  }

  async write(field: string, text: string): Promise<void> {
    const replies = await this.redis.multi().hset(this.key, field, text).pexpire(this.key, this.ttl).exec();
    if (replies === null) throw new Error('the write transaction was aborted');
    const failed = replies.find(([err]) => err !== null);
    if (failed) throw failed[0] as Error;
  }

  async readAll(): Promise<StoredEntry[]> {
    const all = await this.redis.hgetall(this.key);
    return Object.entries(all).map(([key, text]) => ({ key, text }));
  }

  async remove(field: string): Promise<void> {
    await this.redis.hdel(this.key, field);
  }

  async close(): Promise<void> {
    this.client?.disconnect(); // immediate, and no reconnection after it
    this.client = null;
  }
}

/**
 * Discovery through Redis, as JGroups' REDIS_PING: the members of a cluster register in one
 * Redis hash (`tsgroups:<cluster>`; field: the member's address, value: its entry as JSON with
 * the time it was written) at connect and every `write_interval`, and find each other there;
 * the mechanism is {@link RegistryPing}'s (only members that answer a request are found). Every
 * write sets the hash to expire after `ttl`, so the hash of a cluster that died disappears;
 * readers ignore entries older than `stale_limit`, and the coordinator deletes those of members
 * outside its view.
 *
 * Redis that cannot be reached at connect fails the connect (a ConfigError naming the url,
 * after `redis_timeout`): a member that cannot register would found a group of its own that
 * no joiner finds. Redis going away later changes nothing for the running cluster (members
 * talk to each other directly): failures are counted (`redisErrors`) and logged once per outage,
 * and when Redis is back every member registers again at its next write_interval.
 */
export class REDIS_PING extends RegistryPing {
  static override readonly protocolName = 'REDIS_PING';
  static override readonly id: number = ProtocolId.REDIS_PING;
  static override readonly properties: PropertyDecls = {
    url: { type: 'string', description: 'The Redis server, redis://[user:password@]host:port[/db] (rediss:// for TLS)' },
    ttl: { type: 'duration', min: 1, description: 'Every write sets the cluster\'s hash to expire after this long (more than write_interval): the hash of a dead cluster disappears' },
    redisTimeout: { type: 'duration', min: 1, description: 'How long connecting to Redis, and each command, may take before it counts as failed' },
  };

  url = 'redis://127.0.0.1:6379';
  ttl = 120_000;
  redisTimeout = 2000;

  protected readonly statNames: Readonly<Record<keyof RegistryCounts, string>> = {
    written: 'entriesWritten',
    read: 'entriesRead',
    garbage: 'garbageEntries',
    staleRemoved: 'staleRemoved',
    errors: 'redisErrors',
  };

  /** The key of this member's cluster hash (null when not connected). */
  get clusterKey(): string | null {
    const cluster = this.stack.clusterName;
    return this.currentStore === null || cluster === null ? null : redisClusterKey(cluster);
  }

  override async start(): Promise<void> {
    if (!/^rediss?:\/\/[^/]/.test(this.url)) {
      throw new ConfigError('ERR_CONFIG_BAD_VALUE', `"${redactRedisUrl(this.url)}" is not a redis://host:port url`, { source: this.stack.source, element: 'REDIS_PING', attribute: 'url' });
    }
    if (this.ttl <= this.writeInterval) {
      throw new ConfigError('ERR_CONFIG_BAD_VALUE', `ttl (${this.ttl} ms) must be longer than write_interval (${this.writeInterval} ms), or live members' entries expire`, {
        source: this.stack.source,
        element: 'REDIS_PING',
        attribute: 'ttl',
      });
    }
    await super.start();
  }

  protected createStore(cluster: string): RegistryStore {
    // Reconnection attempts fail every few seconds while Redis is away: debug level only; what
    // it means for discovery is counted and warned about (once per outage) by the operations.
    return new RedisHashStore(this.url, redisClusterKey(cluster), this.ttl, this.redisTimeout, (err) =>
      this.log.debug(`REDIS_PING: connection to ${redactRedisUrl(this.url)}: ${err.message}`),
    );
  }

  protected openFailed(store: RegistryStore, err: unknown): Error {
    return new ConfigError('ERR_CONFIG_BAD_VALUE', `REDIS_PING cannot register in ${store.where}: ${(err as Error).message}`, {
      source: this.stack.source,
      element: 'REDIS_PING',
      attribute: 'url',
    });
  }
}
