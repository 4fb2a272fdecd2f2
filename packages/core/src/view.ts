import type { Address } from './address.js';

/** Identifies a view: the member that created it and a sequence number that only grows. */
export class ViewId {
  constructor(
    readonly creator: Address,
    readonly id: number,
  ) {}
  getCreator(): Address {
    return this.creator;
  }
  getId(): number {
    return this.id;
  }
  equals(other: ViewId | null | undefined): boolean {
    return other != null && other.id === this.id && other.creator.equals(this.creator);
  }
  /** Orders by sequence number, then by creator. */
  compareTo(other: ViewId): number {
    if (this.id !== other.id) return this.id < other.id ? -1 : 1;
    return this.creator.compareTo(other.creator);
  }
  toString(): string {
    return `[${this.creator}|${this.id}]`;
  }
}

/**
 * The membership of the group as every member sees it. The first member is the coordinator;
 * members are listed from the oldest to the newest.
 */
export class View implements Iterable<Address> {
  readonly members: readonly Address[];
  private memberSet: Set<Address> | null = null;

  constructor(
    readonly viewId: ViewId,
    members: readonly Address[],
  ) {
    this.members = Object.freeze(members.slice());
  }

  static create(creator: Address, id: number, members: readonly Address[]): View {
    return new View(new ViewId(creator, id), members);
  }

  getViewId(): ViewId {
    return this.viewId;
  }
  getMembers(): readonly Address[] {
    return this.members;
  }
  getCoord(): Address | undefined {
    return this.members[0];
  }
  getCreator(): Address {
    return this.viewId.creator;
  }
  size(): number {
    return this.members.length;
  }
  containsMember(addr: Address): boolean {
    return (this.memberSet ??= new Set(this.members)).has(addr);
  }
  [Symbol.iterator](): Iterator<Address> {
    return this.members[Symbol.iterator]();
  }
  equals(other: View | null | undefined): boolean {
    return other != null && this.viewId.equals(other.viewId);
  }
  /** True if both views list the same members in the same order. */
  sameMembers(other: View): boolean {
    if (other.members.length !== this.members.length) return false;
    for (let i = 0; i < this.members.length; i++) if (other.members[i] !== this.members[i]) return false;
    return true;
  }
  toString(): string {
    return `${this.viewId} (${this.members.length}) [${this.members.join(', ')}]`;
  }

  /** Members of `next` that are not in `prev`. */
  static joined(prev: View | null, next: View): Address[] {
    return next.members.filter((m) => !prev || !prev.containsMember(m));
  }
  /** Members of `prev` that are not in `next`. */
  static left(prev: View | null, next: View): Address[] {
    return prev ? prev.members.filter((m) => !next.containsMember(m)) : [];
  }
}

/** The view installed when subgroups that had split (a network partition) come back together. */
export class MergeView extends View {
  constructor(
    viewId: ViewId,
    members: readonly Address[],
    /** The views of the subgroups that were merged. */
    readonly subgroups: readonly View[],
  ) {
    super(viewId, members);
  }
  getSubgroups(): readonly View[] {
    return this.subgroups;
  }
  override toString(): string {
    return `MergeView::${super.toString()}, ${this.subgroups.length} subgroups: ${this.subgroups.map((v) => v.viewId).join(', ')}`;
  }
}
