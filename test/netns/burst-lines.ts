// What test/netns/fixtures/burst-member.mjs prints, one JSON line per event, as the namespace
// tests read it.

/** Per sender, at one member: what arrived of its numbered multicasts. */
export interface Stream {
  /** The next number expected from the sender. */
  next: number;
  received: number;
  duplicates: number;
  outOfOrder: number;
  ended: boolean;
}

/** One line of a member: view, ready, done or error. */
export interface Line {
  name: string;
  event: string;
  size?: number;
  members?: string[];
  merge?: boolean;
  joinMs?: number;
  physical?: string;
  streams?: Record<string, Stream>;
  merges?: number;
  message?: string;
}
