// The attack suite against the shipped secure stacks (issue 12, part 6): udp-secure.xml and
// tcp-secure.xml (SYM_ENCRYPT and AUTH, the key from TSGROUPS_KEY_FILE) must stop every attack
// as SYM_ENCRYPT alone does (see encrypted-suites.ts; the figures lines are the closing note's).
import { tcpAttackSuite, udpAttackSuite } from './encrypted-suites.js';

udpAttackSuite('udp-secure.xml', 'udp-secure.xml', false);
tcpAttackSuite('tcp-secure.xml', 'tcp-secure.xml', false);
