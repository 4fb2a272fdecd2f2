// The attack suite against SYM_ENCRYPT (issue 12, part 6): 3 member processes over udp.xml and
// tcp.xml with SYM_ENCRYPT right above the transport, and an outsider on the same host that
// sniffs the group, forges every message of the list with the real codecs, replays and
// bit-flips what it captured, floods, and over TCP sends forged frames on connections whose
// hello claims a new peer or a member. Every attack fails: nothing forged is delivered or
// installed, no member is added, removed or silenced, the forgeries are counted, memory stays
// bounded (see encrypted-suites.ts; the figures lines are the closing note's).
import { tcpAttackSuite, udpAttackSuite } from './encrypted-suites.js';

udpAttackSuite('udp.xml + SYM_ENCRYPT', 'udp.xml', true);
tcpAttackSuite('tcp.xml + SYM_ENCRYPT', 'tcp.xml', true);
