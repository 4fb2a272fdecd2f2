import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve as resolvePath } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { ConfigError } from './errors.js';
import { snakeToCamel } from './properties.js';
import { lookupProtocol, registeredProtocolNames } from './protocol-registry.js';
import { ProtocolStack } from './protocol-stack.js';

/** One protocol element of a stack configuration. */
export interface ProtocolConfig {
  name: string;
  /** Attribute values after `${VAR:default}` substitution. */
  properties: Record<string, string>;
}

/** Attributes of `<config>` and of protocol elements that are not protocol properties. */
const IGNORED_ATTRIBUTE = /^(xmlns(:.*)?|xsi:.*)$/;

/**
 * Replaces `${NAME}`, `${NAME:default}` and `${A,B:default}` (the first variable that is set
 * wins) with values from `env`.
 * @throws ConfigError if a variable without default is not set
 */
export function substituteVariables(
  text: string,
  env: Record<string, string | undefined>,
  where: { source: string; element?: string; attribute?: string },
): string {
  return text.replace(/\$\{([^}]*)\}/g, (_, body: string) => {
    const colon = body.indexOf(':');
    const names = (colon >= 0 ? body.slice(0, colon) : body).split(',').map((s) => s.trim());
    for (const n of names) {
      const v = env[n];
      if (v !== undefined) return v;
    }
    if (colon >= 0) return body.slice(colon + 1);
    throw new ConfigError('ERR_CONFIG_MISSING_VARIABLE', `variable ${names.join(' or ')} is not set and has no default`, where);
  });
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  preserveOrder: true,
  parseAttributeValue: false,
  parseTagValue: false,
  allowBooleanAttributes: false,
  commentPropName: '#comment',
});

type OrderedNode = Record<string, unknown> & { ':@'?: Record<string, string> };

/**
 * Parses a stack configuration: a `<config>` element whose children are protocols from the
 * bottom (the transport) to the top.
 * @throws ConfigError for malformed XML, a wrong root, or a missing variable
 */
export function parseStackXml(
  xml: string,
  source = '<inline xml>',
  env: Record<string, string | undefined> = process.env,
): ProtocolConfig[] {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    throw new ConfigError('ERR_CONFIG_XML', `malformed XML at line ${line}, column ${col}: ${msg}`, { source });
  }
  const doc = parser.parse(xml) as OrderedNode[];
  const roots = doc.filter((n) => !isSpecial(n));
  const root = roots[0];
  const rootName = root && elementName(root);
  if (roots.length !== 1 || rootName !== 'config') {
    throw new ConfigError('ERR_CONFIG_XML', `the root element must be <config>, found ${rootName ? `<${rootName}>` : 'none'}`, {
      source,
    });
  }
  const children = (root[rootName] as OrderedNode[]) ?? [];
  const out: ProtocolConfig[] = [];
  for (const child of children) {
    if (elementName(child) === '#text') {
      throw new ConfigError('ERR_CONFIG_XML', `text ${JSON.stringify(String(child['#text']).slice(0, 40))} inside <config> is not allowed: it lists protocol elements only`, {
        source,
        element: 'config',
      });
    }
    if (isSpecial(child)) continue;
    const name = elementName(child)!;
    // A protocol is configured by its attributes only: anything inside its element would be
    // silently ignored, so it is refused.
    for (const inner of (child[name] as OrderedNode[] | undefined) ?? []) {
      const innerName = elementName(inner);
      if (innerName === undefined || innerName === '#comment') continue;
      const isText = innerName === '#text';
      const what = isText ? `text ${JSON.stringify(String(inner['#text']).slice(0, 40))}` : `element <${innerName}>`;
      throw new ConfigError(
        'ERR_CONFIG_XML',
        `${what} inside <${name}> is not allowed: a protocol is configured by its attributes only (<${name} attribute="value"/>)`,
        { source, element: isText ? name : innerName },
      );
    }
    const properties: Record<string, string> = {};
    for (const [attr, raw] of Object.entries(child[':@'] ?? {})) {
      if (IGNORED_ATTRIBUTE.test(attr)) continue;
      properties[attr] = substituteVariables(String(raw), env, { source, element: name, attribute: attr });
    }
    out.push({ name, properties });
  }
  if (out.length === 0) throw new ConfigError('ERR_CONFIG_XML', '<config> lists no protocols', { source, element: 'config' });
  return out;
}

/**
 * Creates the protocols of `configs` (bottom first), sets their properties, and checks the
 * stack's dependencies.
 * @throws ConfigError naming the element and attribute at fault
 */
export function buildStack(configs: ProtocolConfig[], source = 'code'): ProtocolStack {
  const stack = new ProtocolStack([], source);
  for (const { name, properties } of configs) {
    const cls = lookupProtocol(name);
    if (!cls) {
      throw new ConfigError(
        'ERR_CONFIG_UNKNOWN_PROTOCOL',
        `unknown protocol ${name}; registered protocols: ${registeredProtocolNames().join(', ') || '(none)'}` +
          ' (a protocol of your own must be registered with registerProtocol before the stack is built)',
        { source, element: name },
      );
    }
    const p = new cls();
    const seen = new Map<string, string>(); // property (camelCase) -> attribute that set it
    for (const [attr, value] of Object.entries(properties)) {
      // `join_timeout` and `joinTimeout` name one property: both on one element is a mistake, not "last wins".
      const prop = snakeToCamel(attr);
      const first = seen.get(prop);
      if (first !== undefined) {
        throw new ConfigError('ERR_CONFIG_BAD_VALUE', `attributes "${first}" and "${attr}" set the same property`, {
          source,
          element: name,
          attribute: attr,
        });
      }
      seen.set(prop, attr);
      p.setValue(attr, value, source);
    }
    stack.addProtocol(p);
  }
  stack.validate();
  return stack;
}

/**
 * Builds a stack from XML text (the explicit form: a string given to {@link loadStackXml} or
 * `new Channel(...)` is always a name or a path, never XML).
 * @param options `source` names the text in error messages (default `<inline xml>`); `env`
 *   supplies the `${VAR}`s (default `process.env`)
 * @throws ConfigError naming the source, element and attribute at fault
 */
export function stackFromXml(
  xml: string,
  { source = '<inline xml>', env = process.env }: { source?: string; env?: Record<string, string | undefined> } = {},
): ProtocolStack {
  return buildStack(parseStackXml(xml, source, env), source);
}

/** Folders whose `*.xml` files can be named by their bare file name (`'udp.xml'`). */
const stackDirectories: string[] = [];

/**
 * Adds a folder of stack files that bare names resolve against. The `tsgroups` package adds
 * the folder of stacks it ships (udp.xml, loopback.xml ...), wherever it is installed.
 */
export function addStackDirectory(dir: string): void {
  const abs = resolvePath(dir);
  if (!stackDirectories.includes(abs)) stackDirectories.push(abs);
}

/** The bare names that resolve to a stack file: the `*.xml` files of the stack folders, sorted. */
export function shippedStackNames(): string[] {
  const names = new Set<string>();
  for (const dir of stackDirectories) {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      continue; // a folder that went away offers no names
    }
    for (const e of entries) if (e.endsWith('.xml')) names.add(e);
  }
  return [...names].sort();
}

/**
 * The file that `nameOrPath` stands for. A bare file name (no folder part) of a shipped stack
 * is that stack, whatever the working directory holds (write `./udp.xml` for a file of your
 * own with that name); anything else is a path, relative to the working directory.
 * @throws ConfigError `ERR_CONFIG_STACK_NOT_FOUND` naming the path tried and the shipped stacks
 */
export function resolveStack(nameOrPath: string): string {
  if (nameOrPath === '') throw notFound(nameOrPath, 'an empty string names no stack');
  if (basename(nameOrPath) === nameOrPath) {
    for (const dir of stackDirectories) {
      const candidate = join(dir, nameOrPath);
      if (isFile(candidate)) return candidate;
    }
  }
  const path = resolvePath(nameOrPath);
  if (isFile(path)) return path;
  throw notFound(nameOrPath, `no stack file at ${path}`);
}

/**
 * Builds the stack of a shipped stack's name (`'udp.xml'`) or of a path to an XML file. XML
 * text is not accepted here: use {@link stackFromXml} (or `Channel.fromXml`).
 * @throws ConfigError if the name or path is not found, or the configuration is wrong
 */
export function loadStackXml(nameOrPath: string, env: Record<string, string | undefined> = process.env): ProtocolStack {
  const path = resolveStack(nameOrPath);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('ERR_CONFIG_XML', `cannot read the stack file: ${(err as Error).message}`, { source: path });
  }
  return stackFromXml(text, { source: path, env });
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function notFound(nameOrPath: string, detail: string): ConfigError {
  const names = shippedStackNames();
  const shipped = names.length > 0 ? `shipped stacks: ${names.join(', ')}` : 'no shipped stacks (importing tsgroups adds them)';
  const hint = nameOrPath.trimStart().startsWith('<') ? '; this looks like XML text: pass it to Channel.fromXml(text)' : '';
  const source = nameOrPath.length > 80 ? `${nameOrPath.slice(0, 77)}...` : nameOrPath;
  return new ConfigError('ERR_CONFIG_STACK_NOT_FOUND', `${detail}; ${shipped}${hint}`, { source: source || '""' });
}

function elementName(node: OrderedNode): string | undefined {
  return Object.keys(node).find((k) => k !== ':@');
}

function isSpecial(node: OrderedNode): boolean {
  const name = elementName(node);
  return name === undefined || name === '#comment' || name === '#text' || name.startsWith('?');
}
