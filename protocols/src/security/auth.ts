import { randomBytes } from 'node:crypto';
import {
  type Address,
  ConfigError,
  type DownResult,
  type Message,
  type MessageBatch,
  Protocol,
  type PropertyDecls,
  type ProtocolStack,
  type View,
  RateLimitedLog,
} from '@tsgroups/core';
import { GMS } from '../gms/gms.js';
import { type GmsHeaderData, GmsType, gmsMessage } from '../gms/messages.js';
import { ProtocolId } from '../ids.js';
import { type AuthHeader, authHeaderCodec, NONCE_BYTES, signedData } from './auth-header.js';
import { ReplayCache } from './auth-replay-cache.js';
import type { AttributeError, AuthToken } from './auth-token.js';
import { HmacToken } from './hmac-token.js';
import { X509Token } from './x509-token.js';

/** Refusals answered per second at most (a flood of forged requests gets no flood of answers). */
const ANSWERS_PER_SECOND = 20;

/** Why a request was refused: each names a counter in {@link AUTH.stats}. */
type Refusal = 'noToken' | 'invalid' | 'stale' | 'replayed' | 'replayCacheFull';

/**
 * Admission control, after JGroups' AUTH: only members holding a valid token join or merge.
 * It sits directly below GMS. On the way down it puts a token (an {@link AuthHeader}) on GMS's
 * JOIN_REQ, MERGE_REQ and MERGE_RSP; on the way up it checks the token of each such request
 * before GMS sees it: the proof (an HMAC under the cluster's secret, or a certificate from the
 * cluster's CA and a signature, per `auth_class`), the timestamp (within `max_clock_skew` of this
 * member's clock) and the nonce (not seen within that window: a captured request replayed is
 * refused).
 *
 * A refused JOIN_REQ never reaches GMS; the coordinator answers it with a JOIN_RSP that says why,
 * so the joiner's connect() rejects at once with a SecurityError (ERR_AUTH_REFUSED). A replay
 * gets no answer: its source is a member whose real request was admitted. A refused MERGE_REQ is
 * answered like a coordinator that has nothing to merge (no view), and a refused MERGE_RSP
 * reaches GMS without its view: the merge leader leaves that subgroup out. Every refusal is
 * counted and logged at most every 10 s.
 */
export class AUTH extends Protocol {
  static override readonly protocolName = 'AUTH';
  static override readonly id = ProtocolId.AUTH;
  static override readonly headerCodec = authHeaderCodec;
  static override readonly properties: PropertyDecls = {
    authClass: { type: 'enum', values: ['hmac', 'x509'], description: 'The token: `hmac` (a shared secret: secret_file or secret_env) or `x509` (a certificate from the cluster\'s CA: cert_file, key_file, ca_file)' },
    secretFile: { type: 'string', description: 'hmac: path of the secret file, in SYM_ENCRYPT\'s key file format (`version:secret` lines, 64 hex characters or base64 of 32 bytes; the first proves, all are accepted); exactly one of secret_file and secret_env' },
    secretEnv: { type: 'string', description: 'hmac: name of an environment variable holding the secrets, in the secret file\'s format; exactly one of secret_file and secret_env' },
    certFile: { type: 'string', description: 'x509: this member\'s certificate (PEM), issued by the CA of ca_file' },
    keyFile: { type: 'string', description: 'x509: this member\'s private key (PEM, unencrypted)' },
    caFile: { type: 'string', description: 'x509: the cluster\'s CA certificate (PEM): only certificates it signed are admitted' },
    allowedSubjects: { type: 'list', description: 'x509: CN patterns admitted (`*` matches any characters), comma-separated; empty: any certificate the CA signed' },
    maxClockSkew: { type: 'duration', min: 1000, description: 'How far a token\'s timestamp may be from this member\'s clock; also how long nonces are remembered against replay' },
    replayCacheSize: { type: 'int', min: 100, description: 'Nonces remembered at most; when all are still live, further requests are refused (counted as replayCacheFull)' },
  };

  authClass = 'hmac';
  secretFile = '';
  secretEnv = '';
  certFile = '';
  keyFile = '';
  caFile = '';
  allowedSubjects: string[] = [];
  maxClockSkew = 60_000;
  replayCacheSize = 10_000;

  readonly stats = {
    /** Tokens put on this member's JOIN_REQ, MERGE_REQ and MERGE_RSP. */
    tokensSent: 0,
    /** Requests whose token was accepted. */
    accepted: 0,
    /** JOIN_REQs refused (never passed to GMS). */
    refused: 0,
    /** MERGE_REQs refused (answered without a view). */
    mergeRequestsRefused: 0,
    /** MERGE_RSPs refused: their subgroup was left out of the merge. */
    mergeResponsesRefused: 0,
    /** Refusals by reason: no AUTH header. */
    noToken: 0,
    /** ... the proof (HMAC, certificate or signature) did not verify, or a token of another kind. */
    invalid: 0,
    /** ... the timestamp was off by more than max_clock_skew. */
    stale: 0,
    /** ... the nonce was seen within the window: a replay. */
    replayed: 0,
    /** ... every remembered nonce was still live. */
    replayCacheFull: 0,
    /** Refused joiners told why (JOIN_RSP with the reason). */
    refusalsAnswered: 0,
    /** Refusals not answered: more than 20 in one second. */
    refusalsUnanswered: 0,
  };

  private token: AuthToken | null = null;
  private replays = new ReplayCache(this.replayCacheSize);
  private isCoord = false;
  /** Refusals, logged at most once per 10 s (the stats count all). */
  private readonly refusals = new RateLimitedLog(this.log);
  private answerSecond = 0;
  private answersThisSecond = 0;

  override checkConfig(stack: ProtocolStack): void {
    const protocols = stack.getProtocols(); // top down
    const above = protocols[protocols.indexOf(this) - 1];
    if (!(above instanceof GMS)) {
      throw new ConfigError('ERR_STACK_DEPENDENCY', `${this.name} must sit directly below GMS (it checks GMS's join and merge requests before GMS sees them)`, {
        source: stack.source,
        element: this.name,
      });
    }
    this.token = this.loadToken(stack.source);
  }

  override init(): void {
    this.token ??= this.loadToken(this.stack.source);
    this.replays = new ReplayCache(this.replayCacheSize);
  }

  override stop(): void {
    this.isCoord = false;
    this.replays.clear();
  }

  /**
   * Reads the token's files (or variable) again: a rolled secret, a renewed certificate. The new
   * token proves and checks the next request.
   * @throws ConfigError if they cannot be read or do not fit; the current token stays
   */
  reloadToken(): void {
    this.token = this.loadToken(this.stack?.source ?? 'code');
  }

  override getStats(): Record<string, number> {
    return { ...this.stats, replayCacheEntries: this.replays.size };
  }

  protected override viewChanged(view: View): void {
    this.isCoord = view.getCoord() === this.localAddress;
  }

  // ---- down: put a token on join and merge requests ----
  override down(msg: Message): DownResult {
    const g = msg.getHeader<GmsHeaderData>(ProtocolId.GMS);
    if (g !== undefined && needsToken(g)) this.attachToken(msg, g.type!);
    return this.downProt.down(msg);
  }

  private attachToken(msg: Message, gmsType: number): void {
    const token = this.token;
    const self = this.localAddress;
    if (token === null || self === null) return;
    const timestamp = Date.now();
    const nonce = randomBytes(NONCE_BYTES);
    try {
      const { proof, cert } = token.prove(signedData(token.kind, gmsType, self.bytes, timestamp, nonce, this.cluster()));
      msg.putHeader(this.id, { kind: token.kind, timestamp, nonce, proof, cert } satisfies AuthHeader);
      this.stats.tokensSent++;
    } catch (err) {
      this.log.error(`cannot make a token for ${msg}; it goes without one (and will be refused)`, err);
    }
  }

  // ---- up: check the token of each join and merge request ----
  override up(msg: Message): void {
    if (this.admit(msg)) this.upProt.up(msg);
  }

  override upBatch(batch: MessageBatch): void {
    if (batch.removeIf(this.refuse) > 0 && batch.isEmpty()) return;
    this.upProt.upBatch(batch);
  }

  // Bound once, so the batch path allocates no closure.
  private readonly refuse = (msg: Message): boolean => !this.admit(msg);

  /** False if `msg` is a join or merge request whose token is refused (counted, maybe answered). Never throws. */
  private admit(msg: Message): boolean {
    const g = msg.getHeader<GmsHeaderData>(ProtocolId.GMS);
    if (g === undefined || !needsToken(g)) return true;
    const src = msg.src;
    if (src === null) return false;
    const reason = this.check(msg.getHeader<AuthHeader>(this.id), g.type!, src);
    if (reason === null) {
      this.stats.accepted++;
      return true;
    }
    const why = describe(reason, this.lastDetail);
    switch (g.type) {
      case GmsType.JOIN_REQ:
        this.stats.refused++;
        this.logRefusal(`refused the join of ${src}: ${why}`);
        // A replay's source is a member whose real request was admitted: telling it "refused" could fail its join.
        if (reason !== 'replayed' && this.isCoord) this.answer(src, { type: GmsType.JOIN_RSP, error: why });
        return false;
      case GmsType.MERGE_REQ:
        this.stats.mergeRequestsRefused++;
        this.logRefusal(`refused the merge request of ${src}: ${why}`);
        if (reason !== 'replayed') this.answer(src, { type: GmsType.MERGE_RSP, mergeId: g.mergeId ?? 0 });
        return false;
      default:
        // MERGE_RSP: GMS still hears the answer (the leader waits no longer), without the subgroup's view.
        this.stats.mergeResponsesRefused++;
        this.logRefusal(`left the subgroup of ${src} out of the merge: ${why}`);
        msg.putHeader(ProtocolId.GMS, { type: GmsType.MERGE_RSP, mergeId: g.mergeId ?? 0 } satisfies GmsHeaderData);
        return true;
    }
  }

  /** The detail the token gave for its last 'invalid' verdict. */
  private lastDetail = '';

  private check(h: AuthHeader | undefined, gmsType: number, src: Address): Refusal | null {
    const token = this.token;
    if (h === undefined || token === null) return this.refusal('noToken');
    if (h.kind !== token.kind) {
      this.lastDetail = 'a token of another kind (auth_class)';
      return this.refusal('invalid');
    }
    const now = Date.now();
    if (Math.abs(now - h.timestamp) > this.maxClockSkew) return this.refusal('stale');
    // Verified before the nonce is looked up: a token taken from another member's request fails
    // here (it proves that member's address), and its sender is told; only a true replay is silent.
    const detail = token.verify(signedData(h.kind, gmsType, src.bytes, h.timestamp, h.nonce, this.cluster()), h.proof, h.cert, now);
    if (detail !== null) {
      this.lastDetail = detail;
      return this.refusal('invalid');
    }
    if (this.replays.has(h.nonce)) return this.refusal('replayed');
    // Kept as long as the token could still be accepted: until its timestamp is max_clock_skew behind.
    if (!this.replays.add(h.nonce, now, 2 * this.maxClockSkew)) return this.refusal('replayCacheFull');
    return null;
  }

  private refusal(reason: Refusal): Refusal {
    this.stats[reason]++;
    return reason;
  }

  /** Sends a GMS answer to a refused request, at most {@link ANSWERS_PER_SECOND} a second. */
  private answer(dest: Address, h: GmsHeaderData): void {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.answerSecond) {
      this.answerSecond = second;
      this.answersThisSecond = 0;
    }
    if (++this.answersThisSecond > ANSWERS_PER_SECOND) {
      this.stats.refusalsUnanswered++;
      return;
    }
    this.stats.refusalsAnswered++;
    try {
      void this.downProt.down(gmsMessage(dest, h));
    } catch (err) {
      this.log.warn(`cannot answer ${dest}`, err);
    }
  }

  private logRefusal(text: string): void {
    this.refusals.warn('refusal', text);
  }

  private cluster(): string {
    return this.stack.clusterName ?? '';
  }

  /** The token of `auth_class`; a ConfigError names the attribute and the file or variable, never a secret. */
  private loadToken(source: string): AuthToken {
    const fail: AttributeError = (attribute, detail) => new ConfigError('ERR_CONFIG_BAD_VALUE', detail, { source, element: this.name, attribute });
    const unused = (kind: string, attrs: Record<string, string | string[]>): void => {
      for (const [attribute, v] of Object.entries(attrs)) {
        if (v.length > 0) throw fail(attribute, `${attribute} does not apply to auth_class="${kind}"`);
      }
    };
    if (this.authClass === 'x509') {
      unused('x509', { secret_file: this.secretFile, secret_env: this.secretEnv });
      return X509Token.load({ certFile: this.certFile, keyFile: this.keyFile, caFile: this.caFile, allowedSubjects: this.allowedSubjects }, fail);
    }
    unused('hmac', { cert_file: this.certFile, key_file: this.keyFile, ca_file: this.caFile, allowed_subjects: this.allowedSubjects });
    return HmacToken.load(this.secretFile, this.secretEnv, fail);
  }
}

/** The GMS messages that carry a token: join and merge requests, and merge answers that hand over a view. */
function needsToken(g: GmsHeaderData): boolean {
  const t = g.type;
  return t === GmsType.JOIN_REQ || t === GmsType.MERGE_REQ || (t === GmsType.MERGE_RSP && g.view != null);
}

function describe(reason: Refusal, detail: string): string {
  switch (reason) {
    case 'noToken':
      return 'no AUTH token (is AUTH in the joiner\'s stack, with the same auth_class?)';
    case 'invalid':
      return `invalid token: ${detail}`;
    case 'stale':
      return 'the token\'s timestamp is off by more than max_clock_skew (are the clocks synchronised?)';
    case 'replayed':
      return 'a replayed token';
    case 'replayCacheFull':
      return 'too many requests within max_clock_skew';
  }
}
