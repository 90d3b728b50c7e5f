// Raw IP sockets from the native addon: the lab's SCTP goes through them (no SCTP sockets here).
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { e2e } from './helpers/e2e.js'
import { buildTopology } from '../src/lab/topology.js'
import { buildInit, checksumOk } from '../src/lab/sctp.js'
import { loadBinding, NativeError } from '../src/native/index.js'

const FIXTURE = new URL('./fixtures/nfqueue-rawsock-peer.ts', import.meta.url).pathname

t.test('bad arguments throw TypeError with a usage string', async (t) => {
  const b = loadBinding()
  const noop = (): void => {}
  for (const [name, args] of [
    ['family 5', [5, 132, noop]],
    ['protocol 0', [4, 0, noop]],
    ['protocol 256', [4, 256, noop]],
    ['no callback', [4, 132, 'x']],
  ] as const) {
    t.throws(() => (b.openRawSocket as (...a: unknown[]) => unknown)(...args), { name: 'TypeError', message: /openRawSocket\(family/ }, name)
  }
})

t.test('closed socket: send throws NativeError(EBADF), close is idempotent', e2e(), async (t) => {
  const s = loadBinding().openRawSocket(4, 253, () => {})
  t.throws(() => s.send('not an ip', Buffer.alloc(4)), { name: 'TypeError' }, 'bad address is a usage error')
  s.close()
  s.close()
  const err = (() => { try { s.send('127.0.0.1', Buffer.alloc(4)) } catch (e) { return e } })()
  t.ok(err instanceof NativeError)
  t.match(err, { errno: 9, code: 'EBADF' })
})

function lines(child: ReturnType<typeof spawn>): AsyncIterableIterator<string> {
  return createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
}

t.test('SCTP INIT over raw sockets between two pod namespaces, IPv4 and IPv6', e2e(), async (t) => {
  const topo = await buildTopology({
    prefix: `npq${process.pid}-rs`,
    pods: [{ key: 'a', ips: ['10.71.0.1', 'fd71::1'] }, { key: 'b', ips: ['10.71.0.2', 'fd71::2'] }],
  })
  t.teardown(() => topo.destroy())
  const a = topo.pods.get('a')!
  const b = topo.pods.get('b')!
  const init = buildInit(40000, 5000, { initiateTag: 0x1234567, aRwnd: 65536, outStreams: 1, inStreams: 1, initialTsn: 1 })
  t.ok(checksumOk(init))
  for (const [family, src, dst] of [[4, '10.71.0.1', '10.71.0.2'], [6, 'fd71::1', 'fd71::2']] as const) {
    const spawnIn = (ns: string, args: string[]): ReturnType<typeof spawn> => {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
      t.teardown(() => { child.kill() })
      return child
    }
    const echo = spawnIn(b.ns, ['echo', String(family), '132'])
    const echoLines = lines(echo)
    t.equal((await echoLines.next()).value, 'ready', `IPv${family} echo peer ready`)
    const sender = spawnIn(a.ns, ['send', String(family), '132', dst, init.toString('hex')])
    const [got, reply] = await Promise.all([echoLines.next(), lines(sender).next()])
    t.same(JSON.parse(got.value as string), { src, hex: init.toString('hex') }, `IPv${family}: B got the INIT from A, transport header first`)
    t.same(JSON.parse(reply.value as string), { src: dst, hex: init.toString('hex') }, `IPv${family}: A got the echo from B`)
    await Promise.all([once(echo, 'exit'), once(sender, 'exit')])
    t.equal(echo.exitCode, 0)
    t.equal(sender.exitCode, 0)
  }
})
