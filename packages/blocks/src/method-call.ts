/**
 * A method to call and its arguments, as JGroups' MethodCall: by name, or by a numeric id that
 * the receiving RpcDispatcher's `methodLookup` turns into a method.
 */
export class MethodCall {
  constructor(
    readonly method: string | number,
    readonly args: readonly unknown[] = [],
  ) {}

  /** @internal The wire form: [method, args]. */
  toData(): [string | number, readonly unknown[]] {
    return [this.method, this.args];
  }

  /** @internal Reads the wire form; undefined if it is not one. */
  static fromData(data: unknown): MethodCall | undefined {
    if (!Array.isArray(data) || data.length !== 2 || !Array.isArray(data[1])) return undefined;
    const [m, args] = data as [unknown, unknown[]];
    if (typeof m !== 'string' && typeof m !== 'number') return undefined;
    return new MethodCall(m, args);
  }

  toString(): string {
    return `${this.method}(${this.args.length} args)`;
  }
}
