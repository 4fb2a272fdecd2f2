// One member of the raw Node datagram benchmark (the floor of what the kernel and Node deliver,
// with no reliability): multicasts COUNT datagrams of SIZE bytes to GROUP:PORT through 127.0.0.1
// (TTL 0) and counts the datagrams of the run it receives from every member, its own included.
//   node raw-dgram-member.mjs GROUP PORT MEMBERS COUNT SIZE
// stdout: `{"event":"ready"}` once its sockets are bound; stdin `go` starts the sending; then
// `{"event":"result", sent, received, expected, elapsedMs, rate, loss, maxRssKiB}` once all
// MEMBERS*COUNT arrived or nothing arrived for 1 s after its own sending ended (clock: from `go`
// to the last datagram received), and it exits. The end of stdin ends it too.
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';

const [group, portText, membersText, countText, sizeText] = process.argv.slice(2);
const port = Number(portText);
const members = Number(membersText);
const count = Number(countText);
const size = Number(sizeText);
const expected = members * count;
const IDLE_MS = 1000;
const host = '127.0.0.1';
// Sends awaited in batches: the socket's queue stays bounded, the loop still keeps it full.
const BATCH = 32;
// Node calls the callback of a send the kernel took at once through process.nextTick: without
// a turn of the event loop between batches the whole sending would run before any receive.
const turn = () => new Promise((resolve) => setImmediate(resolve));

const print = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

// Receives the group's datagrams only: bound to the group address, joined on 127.0.0.1.
const rx = dgram.createSocket({ type: 'udp4', reuseAddr: true });
// Sends from 127.0.0.1, out of the loopback interface only, with TTL 0.
const tx = dgram.createSocket({ type: 'udp4' });

let received = 0;
let tGo = 0;
let tLast = 0;
let sendingDone = false;
let finished = false;
let idleTimer;

rx.on('message', () => {
  received++;
  tLast = performance.now();
  if (received >= expected) finish();
});

function finish() {
  if (finished) return;
  finished = true;
  clearTimeout(idleTimer);
  const elapsedMs = Math.max(0, (tLast || performance.now()) - tGo);
  print({
    event: 'result',
    sent,
    received,
    expected,
    elapsedMs: Math.round(elapsedMs),
    rate: elapsedMs > 0 ? Math.round((received / elapsedMs) * 1000) : 0,
    loss: expected > 0 ? Math.max(0, 1 - received / expected) : 0,
    maxRssKiB: process.resourceUsage().maxRSS,
  });
  rx.close();
  tx.close();
  process.exit(0);
}

/** Ends the run once nothing arrived for IDLE_MS after the sending ended. */
function watchIdle() {
  const idle = performance.now() - Math.max(tLast, tSendEnd);
  if (idle >= IDLE_MS) finish();
  else idleTimer = setTimeout(watchIdle, IDLE_MS - idle);
}

let sent = 0;
let tSendEnd = 0;
async function send() {
  const payload = Buffer.alloc(size, 0x5a);
  while (sent < count) {
    const n = Math.min(BATCH, count - sent);
    await new Promise((resolve) => {
      let left = n;
      for (let i = 0; i < n; i++) {
        tx.send(payload, port, group, () => {
          if (--left === 0) resolve();
        });
      }
    });
    sent += n;
    await turn();
  }
  tSendEnd = performance.now();
  sendingDone = true;
  watchIdle();
}

rx.bind(port, group, () => {
  rx.addMembership(group, host);
  try {
    rx.setRecvBufferSize(8 * 1024 * 1024); // the kernel caps it at net.core.rmem_max
  } catch {
    // keep the default
  }
  tx.bind(0, host, () => {
    tx.setMulticastInterface(host);
    tx.setMulticastTTL(0);
    tx.setMulticastLoopback(true);
    print({ event: 'ready', rcvbuf: rx.getRecvBufferSize() });
  });
});

createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line.trim() === 'go' && tGo === 0) {
      tGo = performance.now();
      send().catch((err) => {
        print({ event: 'error', message: String(err) });
        process.exit(1);
      });
    }
  })
  .on('close', () => {
    if (!sendingDone) process.exit(1);
  });
