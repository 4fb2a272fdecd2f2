/**
 * Protocol ids of the built-in protocols: each keys its header on the wire, so they never
 * change. Ids below 1000 are reserved for tsgroups; user protocols take 1000 and above.
 */
export const ProtocolId = {
  PING: 10,
  MERGE3: 11,
  FD_ALL: 12,
  FD_SOCK: 13,
  VERIFY_SUSPECT: 14,
  NAKACK2: 15,
  UNICAST3: 16,
  STABLE: 17,
  GMS: 18,
  MFC: 19,
  UFC: 20,
  FRAG2: 21,
  RSVP: 22,
  STATE_TRANSFER: 23,
  BARRIER: 24,
  SEQUENCER: 25,
  TCPPING: 26,
  FILE_PING: 27,
  REDIS_PING: 28,
  DNS_PING: 29,
  RPC: 30,
  SYM_ENCRYPT: 31,
  AUTH: 32,
  ASYM_ENCRYPT: 33,
} as const;
