import { createPrivateKey, type KeyObject, sign, verify, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AuthKind } from './auth-header.js';
import type { AttributeError, AuthToken, TokenProof } from './auth-token.js';

/** What {@link X509Token.load} reads: PEM files, and the allowed subjects. */
export interface X509TokenFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** CN patterns (`*` matches any run of characters); empty: any certificate the CA signed. */
  allowedSubjects: readonly string[];
}

/**
 * The certificate token (`auth_class="x509"`): the member sends its certificate and a signature
 * by its private key over the token's data. A verifier admits it if the certificate was issued
 * and signed by the cluster's CA (`ca_file`: one CA, no chains), is within its validity dates,
 * its subject's CN matches one of `allowed_subjects` (when set), and the signature verifies
 * with the certificate's key.
 */
export class X509Token implements AuthToken {
  readonly kind = AuthKind.X509;
  private readonly certDer: Uint8Array;
  private readonly signAlgorithm: string | null;
  private readonly subjects: readonly RegExp[];

  constructor(
    cert: X509Certificate,
    private readonly key: KeyObject,
    private readonly ca: X509Certificate,
    allowedSubjects: readonly string[],
  ) {
    this.certDer = new Uint8Array(cert.raw);
    this.signAlgorithm = algorithmFor(key);
    this.subjects = allowedSubjects.map(subjectPattern);
  }

  /** Reads and checks the member's certificate and key and the CA; a ConfigError (through `fail`) names the attribute. */
  static load(files: X509TokenFiles, fail: AttributeError): X509Token {
    const need = (attribute: string, value: string): string => {
      if (value === '') throw fail(attribute, 'auth_class="x509" needs cert_file, key_file and ca_file');
      return value;
    };
    const read = (attribute: string, path: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (err) {
        throw fail(attribute, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    };
    const certificate = (attribute: string, path: string): X509Certificate => {
      const bytes = read(attribute, path);
      try {
        return new X509Certificate(bytes);
      } catch {
        throw fail(attribute, `${path} is not a PEM or DER X.509 certificate`);
      }
    };
    const certFile = need('cert_file', files.certFile);
    const keyFile = need('key_file', files.keyFile);
    const caFile = need('ca_file', files.caFile);
    const cert = certificate('cert_file', certFile);
    const ca = certificate('ca_file', caFile);
    const keyPem = read('key_file', keyFile);
    let key: KeyObject;
    try {
      key = createPrivateKey(keyPem);
    } catch {
      throw fail('key_file', `${keyFile} is not a PEM private key (an encrypted key is not supported)`);
    } finally {
      keyPem.fill(0);
    }
    if (!cert.checkPrivateKey(key)) throw fail('key_file', `${keyFile} is not the private key of the certificate in ${certFile}`);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw fail('cert_file', `${certFile} was not issued by the CA in ${caFile}`);
    for (const p of files.allowedSubjects) {
      if (p.length > 256) throw fail('allowed_subjects', 'a subject pattern is longer than 256 characters');
    }
    return new X509Token(cert, key, ca, files.allowedSubjects);
  }

  prove(data: Buffer): TokenProof {
    return { proof: sign(this.signAlgorithm, data, this.key), cert: this.certDer };
  }

  verify(data: Buffer, proof: Uint8Array, certDer: Uint8Array, now: number): string | null {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certDer);
    } catch {
      return 'the X.509 token carries no valid certificate';
    }
    if (!cert.checkIssued(this.ca) || !cert.verify(this.ca.publicKey)) return 'the certificate was not issued by the cluster\'s CA';
    if (!(Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo))) return 'the certificate is expired or not yet valid';
    if (this.subjects.length > 0) {
      const cns = commonNames(cert.subject);
      if (!this.subjects.some((re) => cns.some((cn) => re.test(cn)))) return 'the certificate\'s subject is not allowed';
    }
    try {
      const pub = cert.publicKey;
      if (verify(algorithmFor(pub), data, pub, proof)) return null;
    } catch {
      // a signature that does not parse for that key type: refused below
    }
    return 'the signature does not match the certificate';
  }
}

/** Ed25519/Ed448 sign the data itself (no digest named); RSA and EC keys with SHA-256. */
function algorithmFor(key: KeyObject): string | null {
  const t = key.asymmetricKeyType;
  return t === 'ed25519' || t === 'ed448' ? null : 'sha256';
}

/** The CN values of a subject as Node writes it (`CN=a\nO=b`, one attribute per line). */
function commonNames(subject: string): string[] {
  const out: string[] = [];
  for (const line of subject.split('\n')) if (line.startsWith('CN=')) out.push(line.slice(3));
  return out;
}

/** A CN pattern: `*` matches any run of characters, everything else itself; the whole CN must match. */
function subjectPattern(p: string): RegExp {
  const escaped = p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*');
  return new RegExp(`^${escaped}$`);
}
