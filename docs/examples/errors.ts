// Errors of remote calls (docs/building-blocks.md shows this file verbatim, and
// test/building-blocks-docs.test.ts runs it). B's method throws; A sees the error as a
// RemoteError, with B's stack because B's dispatcher shares it.
import { type Address, Channel, RemoteError, RpcDispatcher } from 'tsgroups';

class Accounts {
  private readonly balances = new Map([['alice', 100]]);
  balance(who: string): number {
    const amount = this.balances.get(who);
    if (amount === undefined) throw Object.assign(new RangeError(`no account ${who}`), { code: 'NO_ACCOUNT' });
    return amount;
  }
}

export async function main(cluster = 'errors-demo', print: (line: string) => void = console.log): Promise<void> {
  const channels = ['A', 'B'].map((name) => new Channel('loopback.xml').setName(name));
  // A dispatcher on both members; B's sends its stack along with its errors.
  const dispatchers = channels.map(
    (ch) => new RpcDispatcher(ch, new Accounts(), { exposeStackTraces: ch.getName() === 'B' }),
  );
  try {
    for (const ch of channels) await ch.connect(cluster);
    const a = dispatchers[0]!;
    const b: Address = channels[1]!.getAddress()!;
    print(`alice: ${await a.callRemoteMethod(b, 'balance', ['alice'])}`); // alice: 100

    // One member: the call rejects with the remote error.
    try {
      await a.callRemoteMethod(b, 'balance', ['bob']);
    } catch (err) {
      if (!(err instanceof RemoteError)) throw err;
      print(`${err.code}: ${err.message}`); // ERR_REMOTE: RangeError at B: no account bob
      // remote: RangeError NO_ACCOUNT from B
      print(`remote: ${err.remoteName} ${err.remoteCode} from ${err.sender}`);
      print(`stack shared: ${err.remoteStack?.includes('balance')}`); // stack shared: true
    }

    // Several members: each Rsp carries its member's error, and the call resolves.
    const rsps = await a.callRemoteMethods<number>(null, 'balance', ['bob']);
    for (const [member, error] of rsps.getErrors()) {
      print(`${member}: ${(error as RemoteError).remoteCode}`); // A: NO_ACCOUNT, then B: NO_ACCOUNT
    }

    // A method the server object does not have is an error too, not a silence.
    try {
      await a.callRemoteMethod(b, 'withdraw', ['alice', 10]);
    } catch (err) {
      if (!(err instanceof RemoteError)) throw err;
      print(`${err.code}: ${err.message}`); // ERR_NO_SUCH_METHOD: TsgroupsError at B: no method withdraw
    }
  } finally {
    for (const ch of channels) await ch.close();
  }
}
