import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  Protocol,
  addStackDirectory,
  buildStack,
  loadStackXml,
  lookupProtocol,
  parseStackXml,
  registerProtocol,
  registeredProtocolNames,
  shippedStackNames,
  stackFromXml,
  substituteVariables,
  TsgroupsError,
  type PropertyDecls,
} from '@tsgroups/core';

class XmlTransport extends Protocol {
  static override readonly protocolName = 'TEST_XML_TRANSPORT';
  static override readonly id = 1901;
  static override readonly provides = ['transport'];
  static override readonly properties: PropertyDecls = {
    bindPort: { type: 'int', min: 0, max: 65535 },
    bindAddr: { type: 'string' },
    maxBundleSize: { type: 'size' },
  };
  bindPort = 7800;
  bindAddr = '127.0.0.1';
  maxBundleSize = 64000;
}

class XmlDisc extends Protocol {
  static override readonly protocolName = 'TEST_XML_DISC';
  static override readonly id = 1902;
  static override readonly provides = ['discovery'];
  static override readonly properties: PropertyDecls = {
    timeout: { type: 'duration' },
    initialHosts: { type: 'list' },
  };
  timeout = 2000;
  initialHosts: string[] = [];
}

class XmlMembership extends Protocol {
  static override readonly protocolName = 'TEST_XML_GMS';
  static override readonly id = 1903;
  static override readonly requiresBelow = ['discovery'];
  static override readonly properties: PropertyDecls = {
    joinTimeout: { type: 'duration', min: 1 },
    printLocalAddr: { type: 'boolean' },
  };
  joinTimeout = 3000;
  printLocalAddr = false;
}

class XmlX extends Protocol {
  static override readonly protocolName = 'TEST_XML_X';
  static override readonly id = 1904;
}

registerProtocol(XmlTransport);
registerProtocol(XmlDisc);
registerProtocol(XmlMembership, 'TEST_XML_GMS_ALIAS');
registerProtocol(XmlX);

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const STACK = `<?xml version="1.0" encoding="UTF-8"?>
<!-- a test stack -->
<config xmlns="urn:org:jgroups" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
        xsi:schemaLocation="urn:org:jgroups http://www.jgroups.org/schema/jgroups.xsd">
  <TEST_XML_TRANSPORT bind_port="7900" bind_addr="\${BIND_ADDR:127.0.0.21}" max_bundle_size="64K"/>
  <!-- discovery comes next -->
  <TEST_XML_DISC timeout="1.5s" initial_hosts="a[7800], b[7801]"/>
  <pbcast.TEST_XML_GMS join_timeout="\${JOIN_TIMEOUT,GMS_TIMEOUT:5s}" print_local_addr="true"/>
</config>
`;

describe('parseStackXml', () => {
  test('lists protocols bottom to top with substituted attribute text', () => {
    const configs = parseStackXml(STACK, 'stack.xml', {});
    expect(configs).toEqual([
      { name: 'TEST_XML_TRANSPORT', properties: { bind_port: '7900', bind_addr: '127.0.0.21', max_bundle_size: '64K' } },
      { name: 'TEST_XML_DISC', properties: { timeout: '1.5s', initial_hosts: 'a[7800], b[7801]' } },
      { name: 'pbcast.TEST_XML_GMS', properties: { join_timeout: '5s', print_local_addr: 'true' } },
    ]);
  });

  test('${VAR}, ${VAR:default} and ${A,B:default} take values from the env object', () => {
    const xml = `<config><TEST_XML_TRANSPORT a="\${X}" b="\${Y:dflt}" c="\${P,Q:none}" d="pre-\${X}-\${Y:z}-post" e="\${Y:}" f="\${Y:a:b}"/></config>`;
    expect(parseStackXml(xml, 'src', { X: 'ex', P: 'pe', Q: 'qu' })[0]!.properties).toEqual({
      a: 'ex',
      b: 'dflt',
      c: 'pe',
      d: 'pre-ex-z-post',
      e: '',
      f: 'a:b',
    });
    expect(parseStackXml(xml, 'src', { X: '1', Y: '2', Q: 'qu' })[0]!.properties).toEqual({
      a: '1',
      b: '2',
      c: 'qu',
      d: 'pre-1-2-post',
      e: '2',
      f: '2',
    });
  });

  test('a missing variable without default is ERR_CONFIG_MISSING_VARIABLE naming element and attribute', () => {
    const xml = `<config>\n  <TEST_XML_TRANSPORT bind_port="\${NO_SUCH_PORT}"/>\n</config>`;
    const err = configError(() => parseStackXml(xml, 'vars.xml', {}));
    expect(err.code).toBe('ERR_CONFIG_MISSING_VARIABLE');
    expect(err.element).toBe('TEST_XML_TRANSPORT');
    expect(err.attribute).toBe('bind_port');
    expect(err.source).toBe('vars.xml');
    expect(err.message).toContain('NO_SUCH_PORT');
    const both = configError(() => parseStackXml(`<config><TEST_XML_TRANSPORT p="\${V1,V2}"/></config>`, 's', {}));
    expect(both.code).toBe('ERR_CONFIG_MISSING_VARIABLE');
    expect(both.message).toContain('V1');
    expect(both.message).toContain('V2');
  });

  test('defaults to process.env', () => {
    const name = `TSGROUPS_TEST_VAR_${process.pid}`;
    process.env[name] = 'from-process-env';
    try {
      expect(parseStackXml(`<config><TEST_XML_TRANSPORT bind_addr="\${${name}}"/></config>`)[0]!.properties.bind_addr).toBe(
        'from-process-env',
      );
    } finally {
      delete process.env[name];
    }
  });

  test('malformed XML is ERR_CONFIG_XML with the line number', () => {
    const xml = '<config>\n  <TEST_XML_TRANSPORT/>\n  <TEST_XML_DISC>\n</config>\n';
    const err = configError(() => parseStackXml(xml, 'broken.xml', {}));
    expect(err.code).toBe('ERR_CONFIG_XML');
    expect(err.source).toBe('broken.xml');
    expect(err.message).toMatch(/line 4\b/);
    const other = configError(() => parseStackXml('<config>\n\n\n  <A b="1" b="2"/>\n</config>', 's', {}));
    expect(other.code).toBe('ERR_CONFIG_XML');
    expect(other.message).toMatch(/line 4\b/);
    expect(configError(() => parseStackXml('not xml at all', 's', {})).code).toBe('ERR_CONFIG_XML');
    expect(configError(() => parseStackXml('', 's', {})).code).toBe('ERR_CONFIG_XML');
  });

  test('a root other than <config> is ERR_CONFIG_XML', () => {
    const err = configError(() => parseStackXml('<stack><TEST_XML_TRANSPORT/></stack>', 'root.xml', {}));
    expect(err.code).toBe('ERR_CONFIG_XML');
    expect(err.message).toContain('<stack>');
    expect(configError(() => parseStackXml('<!-- only a comment -->', 's', {})).code).toBe('ERR_CONFIG_XML');
  });

  test('a <config> without protocols is ERR_CONFIG_XML', () => {
    expect(configError(() => parseStackXml('<config></config>', 's', {})).code).toBe('ERR_CONFIG_XML');
    expect(configError(() => parseStackXml('<config><!-- nothing --></config>', 's', {})).code).toBe('ERR_CONFIG_XML');
  });

  test('xmlns and xsi attributes are ignored on protocols too; comments are skipped', () => {
    const xml = `<config xmlns="urn:x"><!-- c1 --><TEST_XML_TRANSPORT xmlns="urn:y" xmlns:q="urn:q" xsi:type="t" bind_port="1"/><!-- c2 --></config>`;
    expect(parseStackXml(xml, 's', {})).toEqual([{ name: 'TEST_XML_TRANSPORT', properties: { bind_port: '1' } }]);
  });
});

describe('substituteVariables', () => {
  test('replaces every occurrence and leaves other text alone', () => {
    expect(substituteVariables('${A}/${A}:${B:2}$notvar {x}', { A: 'a' }, { source: 's' })).toBe('a/a:2$notvar {x}');
    expect(substituteVariables('plain', {}, { source: 's' })).toBe('plain');
  });
});

describe('buildStack / stackFromXml / loadStackXml', () => {
  test('builds the protocols bottom to top with typed properties', () => {
    const stack = stackFromXml(STACK, { env: { BIND_ADDR: '127.0.0.22', GMS_TIMEOUT: '750ms' } });
    expect(stack.getProtocols().map((p) => p.name)).toEqual(['TEST_XML_GMS', 'TEST_XML_DISC', 'TEST_XML_TRANSPORT']);
    const tp = stack.getTransport() as XmlTransport;
    expect(tp).toBeInstanceOf(XmlTransport);
    expect(tp.bindPort).toBe(7900);
    expect(tp.bindAddr).toBe('127.0.0.22');
    expect(tp.maxBundleSize).toBe(64_000);
    const disc = stack.findProtocol(XmlDisc)!;
    expect(disc.timeout).toBe(1500);
    expect(disc.initialHosts).toEqual(['a[7800]', 'b[7801]']);
    const gms = stack.findProtocol(XmlMembership)!;
    expect(gms.joinTimeout).toBe(750);
    expect(gms.printLocalAddr).toBe(true);
    expect(stack.source).toBe('<inline xml>');
  });

  test('dotted names resolve to their last segment; aliases work', () => {
    expect(lookupProtocol('pbcast.TEST_XML_X')).toBe(XmlX);
    expect(lookupProtocol('org.jgroups.protocols.TEST_XML_X')).toBe(XmlX);
    expect(lookupProtocol('TEST_XML_GMS_ALIAS')).toBe(XmlMembership);
    expect(lookupProtocol('pbcast.NOPE')).toBeUndefined();
    const stack = stackFromXml(
      '<config><org.jgroups.TEST_XML_TRANSPORT/><TEST_XML_DISC/><TEST_XML_GMS_ALIAS/><pbcast.TEST_XML_X/></config>',
      { env: {} },
    );
    expect(stack.getProtocols().map((p) => p.constructor)).toEqual([XmlX, XmlMembership, XmlDisc, XmlTransport]);
    expect(registeredProtocolNames()).toEqual(expect.arrayContaining(['TEST_XML_TRANSPORT', 'TEST_XML_GMS_ALIAS']));
  });

  test('an unknown protocol is ERR_CONFIG_UNKNOWN_PROTOCOL naming the element', () => {
    const err = configError(() => stackFromXml('<config><TEST_XML_TRANSPORT/><TEST_XML_NOPE a="1"/></config>', { env: {} }));
    expect(err.code).toBe('ERR_CONFIG_UNKNOWN_PROTOCOL');
    expect(err.element).toBe('TEST_XML_NOPE');
    expect(err.message).toContain('TEST_XML_NOPE');
    expect(err.message).toContain('TEST_XML_TRANSPORT'); // lists the registered ones
  });

  test('an unknown attribute is ERR_CONFIG_UNKNOWN_ATTRIBUTE with element and attribute set', () => {
    const err = configError(() =>
      stackFromXml('<config><TEST_XML_TRANSPORT/><TEST_XML_DISC timeout="1s" colour="blue"/></config>', { env: {} }),
    );
    expect(err.code).toBe('ERR_CONFIG_UNKNOWN_ATTRIBUTE');
    expect(err.element).toBe('TEST_XML_DISC');
    expect(err.attribute).toBe('colour');
    expect(err.source).toBe('<inline xml>');
    expect(err.message).toContain('colour');
    expect(err.message).toContain('TEST_XML_DISC');
  });

  test('a bad value is ERR_CONFIG_BAD_VALUE with element and attribute set', () => {
    const err = configError(() => stackFromXml('<config><TEST_XML_TRANSPORT bind_port="70000"/></config>', { env: {} }));
    expect(err.code).toBe('ERR_CONFIG_BAD_VALUE');
    expect(err.element).toBe('TEST_XML_TRANSPORT');
    expect(err.attribute).toBe('bind_port');
    expect(err.message).toContain('65535');
    const dur = configError(() =>
      stackFromXml('<config><TEST_XML_TRANSPORT/><TEST_XML_DISC timeout="forever"/></config>', { env: {} }),
    );
    expect(dur.code).toBe('ERR_CONFIG_BAD_VALUE');
    expect(dur.attribute).toBe('timeout');
  });

  test('an invalid stack (dependency missing) fails to build', () => {
    let err: unknown;
    try {
      stackFromXml('<config><TEST_XML_TRANSPORT/><TEST_XML_GMS/></config>', { env: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TsgroupsError);
    expect((err as TsgroupsError).code).toBe('ERR_STACK_DEPENDENCY');
  });

  test('an element nested inside a protocol element is ERR_CONFIG_XML naming it, not ignored', () => {
    const nested = configError(() =>
      parseStackXml('<config><TEST_XML_TRANSPORT><bind_port>7800</bind_port></TEST_XML_TRANSPORT></config>', 's', {}),
    );
    expect(nested).toMatchObject({ code: 'ERR_CONFIG_XML', source: 's', element: 'bind_port' });
    expect(nested.message).toMatch(/element <bind_port> inside <TEST_XML_TRANSPORT> is not allowed/);
    // A protocol element nested in another is refused too (it would silently be left out of the stack).
    const proto = configError(() => parseStackXml('<config><TEST_XML_TRANSPORT><TEST_XML_DISC/></TEST_XML_TRANSPORT></config>', 's', {}));
    expect(proto).toMatchObject({ code: 'ERR_CONFIG_XML', element: 'TEST_XML_DISC' });
    // So is text, inside a protocol or directly inside <config>.
    const text = configError(() => parseStackXml('<config><TEST_XML_TRANSPORT>7800</TEST_XML_TRANSPORT></config>', 's', {}));
    expect(text).toMatchObject({ code: 'ERR_CONFIG_XML', element: 'TEST_XML_TRANSPORT' });
    expect(text.message).toMatch(/text "7800" inside <TEST_XML_TRANSPORT>/);
    expect(configError(() => parseStackXml('<config>UDP<TEST_XML_TRANSPORT/></config>', 's', {}))).toMatchObject({ element: 'config' });
    // Comments and whitespace inside a protocol element are fine.
    expect(parseStackXml('<config><TEST_XML_TRANSPORT bind_port="1">\n  <!-- note -->\n</TEST_XML_TRANSPORT></config>', 's', {})).toEqual([
      { name: 'TEST_XML_TRANSPORT', properties: { bind_port: '1' } },
    ]);
  });

  test('one property set by two attributes (snake_case and camelCase) is refused, not "last wins"', () => {
    const err = configError(() => buildStack([{ name: 'TEST_XML_TRANSPORT', properties: { bind_port: '1', bindPort: '2' } }], 's'));
    expect(err).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', source: 's', element: 'TEST_XML_TRANSPORT', attribute: 'bindPort' });
    expect(err.message).toMatch(/"bind_port" and "bindPort" set the same property/);
  });

  test('buildStack takes parsed configs directly', () => {
    const stack = buildStack([{ name: 'TEST_XML_TRANSPORT', properties: { bindPort: '1234' } }], 'code');
    expect((stack.getTransport() as XmlTransport).bindPort).toBe(1234);
    expect(stack.source).toBe('code');
  });

  describe('from a file', () => {
    let dir = '';
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'tsgroups-xml-'));
    });
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    test('loads a stack file by path', () => {
      const path = join(dir, 'stack.xml');
      writeFileSync(path, STACK);
      const stack = loadStackXml(path, { BIND_ADDR: '127.0.0.23' });
      expect(stack.source).toBe(path);
      expect(stack.getProtocols().map((p) => p.name)).toEqual(['TEST_XML_GMS', 'TEST_XML_DISC', 'TEST_XML_TRANSPORT']);
      expect((stack.getTransport() as XmlTransport).bindAddr).toBe('127.0.0.23');
    });

    test('errors in a file name the file', () => {
      const path = join(dir, 'bad.xml');
      writeFileSync(path, '<config><TEST_XML_TRANSPORT bogus="1"/></config>');
      const err = configError(() => loadStackXml(path, {}));
      expect(err.code).toBe('ERR_CONFIG_UNKNOWN_ATTRIBUTE');
      expect(err.source).toBe(path);
      expect(err.message).toContain(path);
    });

    test('a path that does not exist is ERR_CONFIG_STACK_NOT_FOUND', () => {
      const path = join(dir, 'does-not-exist.xml');
      const err = configError(() => loadStackXml(path, {}));
      expect(err.code).toBe('ERR_CONFIG_STACK_NOT_FOUND');
      expect(err.source).toBe(path);
      expect(err.message).toContain('does-not-exist.xml');
    });

    test('a bare name resolves against the stack folders added', () => {
      const shipped = join(dir, 'shipped');
      mkdirSync(shipped);
      writeFileSync(join(shipped, 'named.xml'), STACK);
      writeFileSync(join(shipped, 'notes.txt'), 'not a stack');
      const before = configError(() => loadStackXml('named.xml', {}));
      expect(before.code).toBe('ERR_CONFIG_STACK_NOT_FOUND');
      addStackDirectory(shipped);
      expect(shippedStackNames()).toEqual(['named.xml']);
      const stack = loadStackXml('named.xml', { BIND_ADDR: '127.0.0.24' });
      expect(stack.source).toBe(join(shipped, 'named.xml'));
      expect((stack.getTransport() as XmlTransport).bindAddr).toBe('127.0.0.24');
    });

    test('an unknown name names the path tried and the shipped stacks', () => {
      addStackDirectory(join(dir, 'shipped'));
      const err = configError(() => loadStackXml('nope.xml', {}));
      expect(err.code).toBe('ERR_CONFIG_STACK_NOT_FOUND');
      expect(err.source).toBe('nope.xml');
      expect(err.message).toContain(join(process.cwd(), 'nope.xml'));
      expect(err.message).toContain('shipped stacks: named.xml');
    });

    test('XML text is never read as a stack by loadStackXml; the error points to Channel.fromXml', () => {
      const err = configError(() => loadStackXml('<config><TEST_XML_TRANSPORT/></config>', {}));
      expect(err.code).toBe('ERR_CONFIG_STACK_NOT_FOUND');
      expect(err.message).toContain('Channel.fromXml');
    });
  });
});

describe('registerProtocol', () => {
  test('refuses an anonymous class without protocolName and a name taken by another class', () => {
    const Nameless = (() => class extends Protocol {})();
    class Impostor extends Protocol {
      static override readonly protocolName = 'TEST_XML_DISC';
    }
    expect(() => registerProtocol(Nameless as unknown as typeof XmlX)).toThrow(TsgroupsError);
    let err: unknown;
    try {
      registerProtocol(Impostor);
    } catch (e) {
      err = e;
    }
    expect((err as TsgroupsError).code).toBe('ERR_PROTOCOL_REGISTRY');
    expect(lookupProtocol('TEST_XML_DISC')).toBe(XmlDisc);
    expect(() => registerProtocol(XmlDisc)).not.toThrow(); // re-registering the same class is fine
  });
});
