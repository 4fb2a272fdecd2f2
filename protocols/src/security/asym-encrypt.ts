import { createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { type Address, Message, type PropertyDecls, type View } from '@tsgroups/core';
import { Discovery } from '../discovery/discovery.js';
import { GmsType, type GmsHeaderData } from '../gms/messages.js';
import { ProtocolId } from '../ids.js';
import { asymEncryptHeaderCodec, type KeyExchangeHeader, KeyExchangeKind } from './asym-encrypt-header.js';
import { Encrypt, isSealHeader } from './encrypt.js';
import { KEY_BYTES, MAX_KEY_VERSION } from './key-ring.js';
import { isUsablePublicKey, newKeyPair, unwrapGroupKey, wrapGroupKey, type X25519KeyPair } from './key-wrap.js';

/** A group key this member holds. */
interface GroupKey {
  readonly version: number;
  readonly key: KeyObject;
  /** The key's bytes: a coordinator wraps them for members (any member may become coordinator). */
  readonly raw: Buffer;
  /** When a newer key replaced it, the time it stops being accepted (0: the current key). */
  retireAt: number;
}

/** What the coordinator knows of a member: its public key and which key version it was sent. */
interface MemberKey {
  readonly addr: Address;
  readonly publicKey: Uint8Array;
  /** When it was learnt (entries of joiners never admitted are dropped after a while). */
  readonly learnt: number;
  sentVersion: number;
  sentAt: number;
}

/** Public keys of members and joiners the coordinator keeps at most. */
const MAX_MEMBER_KEYS = 1024;
/** A joiner's public key is kept this long (ms) if it never makes it into a view. */
const JOINER_KEY_EXPIRY = 60_000;
/** Joiners' public keys checked per second at most (an X25519 agreement each): a flood of JOIN_REQs costs no more. */
const NEW_JOINER_KEYS_PER_SECOND = 100;
/** A new coordinator rotates at the latest this many key_request_intervals after it took over. */
const TAKEOVER_WAIT_INTERVALS = 10;
/** Key versions held at most (the current one and those in their grace time). */
const MAX_VERSIONS = 4;
/** Headers a JOIN_REQ (or a refused JOIN_RSP) may carry in the clear: GMS's, UNICAST3's (it is sent reliably), AUTH's token, ours. */
const JOIN_HEADERS: readonly number[] = [ProtocolId.GMS, ProtocolId.UNICAST3, ProtocolId.AUTH, ProtocolId.ASYM_ENCRYPT];

/**
 * Encryption with a group key that the coordinator hands out, after JGroups' ASYM_ENCRYPT:
 * messages are sealed exactly as SYM_ENCRYPT seals them ({@link Encrypt}: AES-256-GCM, replay
 * windows), but the key is not read from a file. The first member creates a random group key
 * (version 1); each member has an X25519 key pair made at start. A joiner's JOIN_REQ carries
 * its public key; when the coordinator installs a view that admits it, it sends the joiner the
 * group key wrapped for that public key (X25519 with a one-time key pair, HKDF-SHA256,
 * AES-256-GCM). With `change_key_on_leave`, a view that drops a member makes the coordinator
 * create a new key version and send it to each remaining member wrapped for that member's
 * public key, so a member that left cannot read what is sent after the rotation; the previous
 * version is still accepted for `key_grace` (messages in flight), then dropped. A member that
 * receives messages under a version newer than its own (or any, before it has a key) asks the
 * coordinator for the key (KEY_REQ, at most once per `key_request_interval`); a new coordinator
 * (the old one left or died) rotates, and members send it their public keys (KEY_REQ) when they
 * see it take over.
 *
 * In the clear (a joiner has no key yet) travel only: discovery messages (nothing but a
 * discovery protocol's header), a JOIN_REQ (with its GMS, UNICAST3, AUTH and ASYM_ENCRYPT
 * headers), a JOIN_RSP that refuses a joiner (no view, an error), and the key exchange itself
 * (KEY_REQ, KEY). A receiver accepts discovery and a JOIN_REQ in the clear only from senders
 * outside its view (a member has the key, so a plaintext one claiming a member's address is a
 * forgery), a refusal only from the member it asked to join, a KEY only from its coordinator
 * (or the member it asked to join); everything else in the clear is dropped and counted
 * (`unencrypted`). Anyone can join: use it with AUTH.
 */
export class ASYM_ENCRYPT extends Encrypt {
  static override readonly protocolName = 'ASYM_ENCRYPT';
  static override readonly id = ProtocolId.ASYM_ENCRYPT;
  static override readonly headerCodec = asymEncryptHeaderCodec;
  static override readonly properties: PropertyDecls = {
    changeKeyOnLeave: { type: 'boolean', description: 'The coordinator makes a new group key when a member leaves (or is excluded), so that it cannot read what follows' },
    keyGrace: { type: 'duration', min: 0, description: 'How long a group key replaced by a newer one is still accepted (messages sent before the rotation)' },
    keyRequestInterval: { type: 'duration', min: 1, description: 'Least time between two key requests of a member, and between two keys the coordinator sends one member' },
  };

  changeKeyOnLeave = true;
  keyGrace = 2000;
  keyRequestInterval = 500;

  /** The key exchange, next to the sealing stats of {@link Encrypt.stats}. */
  readonly keyStats = {
    /** Group keys this member created (the first, and one per rotation). */
    keysCreated: 0,
    /** Group keys installed from a coordinator. */
    keysInstalled: 0,
    /** Group keys wrapped and sent to members (coordinator). */
    keysSent: 0,
    /** Key requests sent to the coordinator. */
    keyRequestsSent: 0,
    /** Key requests refused: not the coordinator, or from a sender outside the view. */
    keyRequestsRefused: 0,
    /** Key exchange rejected: a KEY not from the coordinator, one that does not unwrap, clashes or is stale, an unusable public key. */
    keyExchangeRejected: 0,
    /** Messages not sent: no group key yet, and not one that may travel in the clear. */
    droppedWithoutKey: 0,
    /** JOIN_REQs from new joiners dropped because more than 100 a second came (the joiner asks again). */
    joinRequestsLimited: 0,
  };

  private keyPair: X25519KeyPair | null = null;
  private readonly versions = new Map<number, GroupKey>();
  private current: GroupKey | null = null;
  /** The highest version this member ever held or created: a new key takes the next one. */
  private highestVersion = 0;
  private view: View | null = null;
  /** The member a JOIN_REQ went to: its KEY (or refusal) is accepted before there is a view. */
  private joinTarget: Address | null = null;
  private lastKeyRequest = 0;
  /** A rotation is owed (members left while this member was alone): it happens at the next view with others in it. */
  private rotationDue = false;
  /** A new coordinator's rotation, waiting for the members' public keys. */
  private takeoverRotation = false;
  private takeoverTask: { cancel(): void } | null = null;
  /** The coordinator's: public keys of members and joiners, by address. */
  private readonly memberKeys = new Map<string, MemberKey>();
  private discoveryIds: readonly number[] = [];
  private retireTask: { cancel(): void } | null = null;
  private joinKeySecond = 0;
  private joinKeysThisSecond = 0;

  override start(): void {
    super.start();
    this.keyPair = newKeyPair();
    const ids: number[] = [];
    for (const p of this.stack.getProtocols()) {
      const id = (p.constructor as { id?: number }).id;
      if (p instanceof Discovery && id !== undefined) ids.push(id);
    }
    this.discoveryIds = ids;
  }

  override stop(): void {
    super.stop();
    this.retireTask?.cancel();
    this.retireTask = null;
    this.takeoverTask?.cancel();
    this.takeoverTask = null;
    for (const k of this.versions.values()) k.raw.fill(0);
    this.versions.clear();
    this.current = null;
    this.ring = null;
    this.view = null;
    this.joinTarget = null;
    this.rotationDue = false;
    this.takeoverRotation = false;
    this.memberKeys.clear();
  }

  override getStats(): Record<string, number> {
    return { ...this.stats, ...this.keyStats, keyVersion: this.current?.version ?? -1, memberKeys: this.memberKeys.size };
  }

  /** The key versions this member accepts, the sending one first (empty before it has a key). */
  keyVersions(): number[] {
    const send = this.current?.version;
    return send === undefined ? [] : [send, ...[...this.versions.keys()].filter((v) => v !== send)];
  }

  /**
   * The group keys this member holds now, by version (for tests: what a member that leaves
   * takes with it).
   */
  heldKeys(): Map<number, KeyObject> {
    const out = new Map<number, KeyObject>();
    for (const [v, k] of this.versions) out.set(v, k.key);
    return out;
  }

  // ---- what travels in the clear ----
  protected override sendsClear(msg: Message): boolean {
    const gms = msg.getHeader<GmsHeaderData>(ProtocolId.GMS);
    if (gms !== undefined) {
      if (gms.type === GmsType.JOIN_REQ && msg.dest !== null) {
        this.joinTarget = msg.dest;
        msg.putHeader(this.id, this.publicKeyHeader(KeyExchangeKind.JOIN));
        return true;
      }
      return gms.type === GmsType.JOIN_RSP && isRefusal(gms);
    }
    return this.isDiscoveryOnly(msg);
  }

  protected override cannotSeal(msg: Message): void {
    this.keyStats.droppedWithoutKey++;
    this.logDrop(this.localAddress, `not sent: no group key yet (${msg})`);
  }

  protected override openClear(msg: Message, h: unknown): Message | null {
    const src = msg.src;
    if (src === null) return this.reject('malformed', msg);
    const kx = h as KeyExchangeHeader | undefined;
    if (kx !== undefined && !isSealHeader(kx)) {
      if (kx.kind === KeyExchangeKind.KEY) this.receiveKey(src, kx);
      else if (kx.kind === KeyExchangeKind.KEY_REQ) this.answerKeyRequest(src, kx.publicKey);
    }
    const inView = this.view?.containsMember(src) === true;
    const gms = msg.getHeader<GmsHeaderData>(ProtocolId.GMS);
    if (gms !== undefined) {
      if (gms.type === GmsType.JOIN_REQ && !inView && msg.dest !== null && kx?.kind === KeyExchangeKind.JOIN && onlyHeaders(msg, JOIN_HEADERS)) {
        return this.learnJoinerKey(src, kx.publicKey) ? msg : null;
      }
      if (gms.type === GmsType.JOIN_RSP && isRefusal(gms) && this.view === null && src === this.joinTarget && onlyHeaders(msg, JOIN_HEADERS)) return msg;
      return this.reject('unencrypted', msg);
    }
    if (kx !== undefined && kx.kind !== KeyExchangeKind.JOIN && msg.numHeaders() === 1) return null; // consumed above
    // A member's own discovery comes back through the loopback; a member's address on any other is forged.
    if ((!inView || src === this.localAddress) && this.isDiscoveryOnly(msg)) return msg;
    return this.reject('unencrypted', msg);
  }

  protected override unknownVersion(msg: Message, version: number): void {
    if (this.current !== null && version <= this.current.version) return; // an old key, retired
    const to = this.coordinator() ?? this.joinTarget ?? msg.src;
    if (to !== null) this.requestKey(to, false);
  }

  // ---- the group key ----
  protected override viewChanged(view: View): void {
    super.viewChanged(view);
    const prev = this.view;
    this.view = view;
    const self = this.localAddress;
    const coord = view.getCoord();
    if (self === null || coord === undefined) return;
    if (coord !== self) {
      // A new coordinator (the old one left or died) needs our public key to send us its keys.
      if (prev !== null && prev.getCoord() !== coord) this.requestKey(coord, true);
      return;
    }
    this.forgetMemberKeys(view);
    const left = prev !== null && prev.members.some((m) => !view.containsMember(m));
    const tookOver = prev !== null && prev.getCoord() !== self;
    if (this.current === null) this.createKey();
    else if (this.rotationDue || this.takeoverRotation || (left && this.changeKeyOnLeave)) {
      // Alone, there is nobody to send a new key to (and what a leaver still sends, in its old
      // key, is not met by a key of its own): the rotation waits for the next member.
      this.rotationDue = view.size() === 1;
      if (!this.rotationDue) {
        // A new coordinator knows no member's public key yet: the members send theirs once they
        // have installed its view (sealed under the old key, which they can read). Rotating
        // before would leave them unable to read its view's retransmissions.
        if (tookOver || this.takeoverRotation) {
          this.takeoverRotation = true;
          // A member whose key request was lost must not hold the rotation up: it goes ahead after
          // a while, and such a member asks for the new key when it sees it used.
          this.takeoverTask ??= this.timer.schedule(TAKEOVER_WAIT_INTERVALS * this.keyRequestInterval, this.rotateAfterTakeover);
        } else this.createKey();
      }
    }
    if (this.takeoverRotation && this.rotateIfAllKeysKnown()) return;
    this.sendKeyToAll();
  }

  /** Sends the current key to each member of the view whose public key is known and that does not have it yet. */
  private sendKeyToAll(): void {
    const view = this.view;
    const self = this.localAddress;
    if (view === null || this.current === null) return;
    for (const m of view.members) {
      if (m === self) continue;
      const mk = this.memberKeys.get(m.key);
      if (mk !== undefined && mk.sentVersion !== this.current.version) this.sendKey(mk);
    }
  }

  /** After a takeover: rotates (and sends the new key to all) once every member's public key is known. */
  private rotateIfAllKeysKnown(): boolean {
    const view = this.view!;
    for (const m of view.members) if (m !== this.localAddress && !this.memberKeys.has(m.key)) return false;
    this.rotateAfterTakeover();
    return true;
  }

  private readonly rotateAfterTakeover = (): void => {
    this.takeoverTask?.cancel();
    this.takeoverTask = null;
    if (!this.takeoverRotation || this.current === null || this.coordinator() !== this.localAddress) return;
    this.takeoverRotation = false;
    this.createKey();
    this.sendKeyToAll();
  };

  /** A new random group key, sent with from now on; the previous one is accepted for `key_grace`. */
  private createKey(): void {
    const version = this.highestVersion >= MAX_KEY_VERSION ? 1 : this.highestVersion + 1;
    const raw = randomBytes(KEY_BYTES);
    this.install(version, raw);
    this.keyStats.keysCreated++;
  }

  private install(version: number, raw: Buffer): void {
    this.sealAll(); // what waits to be sealed was sent under the key it was sent with
    const now = Date.now();
    const prev = this.current;
    if (prev !== null) prev.retireAt = now + this.keyGrace;
    const k: GroupKey = { version, key: createSecretKey(raw), raw, retireAt: 0 };
    this.versions.set(version, k);
    this.current = k;
    if (version > this.highestVersion) this.highestVersion = version;
    // The oldest versions go first when too many are held.
    while (this.versions.size > MAX_VERSIONS) {
      let oldest: GroupKey | null = null;
      for (const g of this.versions.values()) if (g !== k && (oldest === null || g.retireAt < oldest.retireAt)) oldest = g;
      this.drop(oldest!);
    }
    this.rebuildRing();
    if (prev !== null) {
      this.retireTask?.cancel();
      this.retireTask = this.timer.schedule(this.keyGrace, this.retireOld);
    }
  }

  /** Drops the keys whose grace time is over. */
  private readonly retireOld = (): void => {
    this.retireTask = null;
    const now = Date.now();
    let next = Infinity;
    for (const g of [...this.versions.values()]) {
      if (g.retireAt === 0) continue;
      if (g.retireAt <= now) this.drop(g);
      else next = Math.min(next, g.retireAt);
    }
    this.rebuildRing();
    if (next !== Infinity) this.retireTask = this.timer.schedule(next - now, this.retireOld);
  };

  private drop(g: GroupKey): void {
    this.versions.delete(g.version);
    g.raw.fill(0);
  }

  private rebuildRing(): void {
    const cur = this.current;
    if (cur === null) {
      this.ring = null;
      return;
    }
    const byVersion = new Map<number, KeyObject>();
    for (const [v, g] of this.versions) byVersion.set(v, g.key);
    this.ring = { sendVersion: cur.version, sendKey: cur.key, byVersion };
  }

  // ---- coordinator: public keys in, wrapped keys out ----
  /** Keeps a joiner's public key (the first one it sent); false (counted) if it is not usable. */
  private learnJoinerKey(joiner: Address, publicKey: Uint8Array): boolean {
    const known = this.memberKeys.get(joiner.key);
    if (known !== undefined) return true;
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.joinKeySecond) {
      this.joinKeySecond = second;
      this.joinKeysThisSecond = 0;
    }
    if (++this.joinKeysThisSecond > NEW_JOINER_KEYS_PER_SECOND) {
      this.keyStats.joinRequestsLimited++;
      this.logDrop(joiner, 'a JOIN_REQ over the limit of new joiners a second');
      return false;
    }
    if (!isUsablePublicKey(publicKey, this.keyPair!)) {
      this.keyStats.keyExchangeRejected++;
      this.logDrop(joiner, 'a JOIN_REQ with an unusable public key');
      return false;
    }
    if (this.memberKeys.size >= MAX_MEMBER_KEYS) this.forgetMemberKeys(this.view, true);
    this.memberKeys.set(joiner.key, { addr: joiner, publicKey: Uint8Array.prototype.slice.call(publicKey), learnt: Date.now(), sentVersion: -1, sentAt: 0 });
    return true;
  }

  /** Forgets the keys of members not in `view` (joiners only once they are old, or all of them when `full`). */
  private forgetMemberKeys(view: View | null, full = false): void {
    const now = Date.now();
    for (const [key, mk] of this.memberKeys) {
      if (view?.containsMember(mk.addr) === true) continue;
      if (full || now - mk.learnt >= JOINER_KEY_EXPIRY || mk.sentVersion >= 0) this.memberKeys.delete(key);
    }
    if (this.memberKeys.size >= MAX_MEMBER_KEYS) {
      for (const [key, mk] of this.memberKeys) {
        if (this.memberKeys.size < MAX_MEMBER_KEYS) break;
        if (view?.containsMember(mk.addr) !== true) this.memberKeys.delete(key);
      }
    }
  }

  private answerKeyRequest(from: Address, publicKey: Uint8Array): void {
    const self = this.localAddress;
    if (this.current === null || self === null || this.coordinator() !== self || this.view?.containsMember(from) !== true || from === self) {
      this.keyStats.keyRequestsRefused++;
      this.logDrop(from, 'a key request to a member that is not the coordinator, or from outside the view');
      return;
    }
    // A member's key is the one it joined with (or the first it sent to this coordinator): a
    // request naming another key cannot have the group key wrapped for someone else.
    let mk = this.memberKeys.get(from.key);
    if (mk === undefined) {
      if (!isUsablePublicKey(publicKey, this.keyPair!)) {
        this.keyStats.keyExchangeRejected++;
        this.logDrop(from, 'a key request with an unusable public key');
        return;
      }
      mk = { addr: from, publicKey: Uint8Array.prototype.slice.call(publicKey), learnt: Date.now(), sentVersion: -1, sentAt: 0 };
      this.memberKeys.set(from.key, mk);
    }
    if (this.takeoverRotation && this.rotateIfAllKeysKnown()) return;
    if (mk.sentVersion === this.current.version && Date.now() - mk.sentAt < this.keyRequestInterval) return;
    this.sendKey(mk);
  }

  private sendKey(mk: MemberKey): void {
    const cur = this.current!;
    const self = this.localAddress!;
    let w;
    try {
      w = wrapGroupKey(cur.raw, mk.publicKey, keyContext(cur.version, self, mk.addr));
    } catch {
      this.keyStats.keyExchangeRejected++;
      return;
    }
    const h: KeyExchangeHeader = { kind: KeyExchangeKind.KEY, publicKey: w.ephemeral, version: cur.version, iv: w.iv, tag: w.tag, wrapped: w.wrapped };
    mk.sentVersion = cur.version;
    mk.sentAt = Date.now();
    this.keyStats.keysSent++;
    this.downProt.down(new Message(mk.addr).setSrc(self).putHeader(this.id, h));
  }

  // ---- member: keys in, requests out ----
  private receiveKey(from: Address, h: KeyExchangeHeader): void {
    const self = this.localAddress;
    const expected = this.coordinator() ?? this.joinTarget;
    if (self === null || from !== expected || from === self) return this.refuseKey(from, 'a KEY not from the coordinator');
    const raw = unwrapGroupKey({ ephemeral: h.publicKey, iv: h.iv, tag: h.tag, wrapped: h.wrapped }, this.keyPair!, keyContext(h.version, from, self));
    if (raw === null || raw.length !== KEY_BYTES) return this.refuseKey(from, 'a KEY that does not unwrap');
    const held = this.versions.get(h.version);
    if (held !== undefined) {
      if (!held.raw.equals(raw)) this.refuseKey(from, `a KEY for version ${h.version} that clashes with the key held`);
      raw.fill(0);
      return;
    }
    // Only a newer key becomes the sending key: an old KEY replayed cannot take a member back to a key a departed member holds.
    if (this.current !== null && h.version <= this.current.version) {
      raw.fill(0);
      return this.refuseKey(from, `a stale KEY (version ${h.version}, holding ${this.current.version})`);
    }
    this.install(h.version, raw);
    this.keyStats.keysInstalled++;
  }

  private refuseKey(from: Address, why: string): void {
    this.keyStats.keyExchangeRejected++;
    this.logDrop(from, why);
  }

  /** Asks `to` for the group key, at most once per `key_request_interval` unless `force`d (a new coordinator). */
  private requestKey(to: Address, force: boolean): void {
    const now = Date.now();
    if (to === this.localAddress || (!force && now - this.lastKeyRequest < this.keyRequestInterval)) return;
    this.lastKeyRequest = now;
    this.keyStats.keyRequestsSent++;
    this.downProt.down(new Message(to).setSrc(this.localAddress).putHeader(this.id, this.publicKeyHeader(KeyExchangeKind.KEY_REQ)));
  }

  private publicKeyHeader(kind: KeyExchangeKind): KeyExchangeHeader {
    return { kind, publicKey: this.keyPair!.publicRaw, version: 0, iv: EMPTY, tag: EMPTY, wrapped: EMPTY };
  }

  private coordinator(): Address | null {
    return this.view?.getCoord() ?? null;
  }

  /** Whether every header of `msg` is a discovery protocol's (and it has one). */
  private isDiscoveryOnly(msg: Message): boolean {
    const ids = this.discoveryIds;
    let found = 0;
    for (let i = 0; i < ids.length; i++) if (msg.getHeader(ids[i]!) !== undefined) found++;
    return found > 0 && found === msg.numHeaders();
  }
}

const EMPTY = new Uint8Array(0);

/** A JOIN_RSP that refuses the joiner: an error and no view. */
function isRefusal(h: GmsHeaderData): boolean {
  return h.view == null && typeof h.error === 'string' && h.error !== '';
}

/** Whether every header of `msg` is one of `ids`. */
function onlyHeaders(msg: Message, ids: readonly number[]): boolean {
  let ok = true;
  msg.forEachHeader((id) => {
    if (!ids.includes(id)) ok = false;
  });
  return ok;
}

/** What a wrapped key is bound to: its version, the coordinator that wrapped it and the member it is for. */
function keyContext(version: number, coord: Address, member: Address): Buffer {
  const b = Buffer.alloc(4 + 16 + 16);
  b.writeUInt32BE(version >>> 0, 0);
  b.set(coord.bytes, 4);
  b.set(member.bytes, 20);
  return b;
}
