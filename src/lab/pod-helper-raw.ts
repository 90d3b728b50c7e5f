// Raw IP sockets for the pod helper's SCTP (the kernel here has no SCTP sockets). Prefers the
// native addon's openRawSocket; without it (addon not built yet, or running somewhere it is not
// available) falls back to a tiny python3 shim with the same contract, so the lab still proves
// SCTP enforcement. Contract: payload = transport header + data; the IPv4 header is stripped on
// receive; the kernel builds the IP header on send.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

export interface RawSocket {
  send(dst: string, payload: Buffer): void
  close(): void
}

export type RawPacketHandler = (src: string, payload: Buffer) => void

interface NativeBinding {
  openRawSocket(family: 4 | 6, protocol: number, onPacket: RawPacketHandler): RawSocket
}

type NativeLoader = () => Promise<{ loadBinding?: () => Partial<NativeBinding> }>
let nativeLoader: NativeLoader | undefined

/** For a bundled helper (probe.ts): how to reach the addon when '../native/index.js' is not next door. */
export function setNativeLoader(loader: NativeLoader): void {
  nativeLoader = loader
}

async function nativeBinding(): Promise<NativeBinding | undefined> {
  if (process.env.NETPOL_LAB_RAW === 'python') return undefined
  try {
    if (nativeLoader) {
      const b = (await nativeLoader()).loadBinding?.()
      return typeof b?.openRawSocket === 'function' ? (b as NativeBinding) : undefined
    }
    // A variable specifier: the addon is optional for the lab, and may be absent from the tree.
    const spec = '../native/index.js'
    const mod = (await import(spec)) as { loadBinding?: () => Partial<NativeBinding> }
    const b = mod.loadBinding?.()
    return typeof b?.openRawSocket === 'function' ? (b as NativeBinding) : undefined
  } catch {
    return undefined
  }
}

const SHIM = String.raw`
import os, select, socket, sys
fam = socket.AF_INET if sys.argv[1] == '4' else socket.AF_INET6
s = socket.socket(fam, socket.SOCK_RAW, int(sys.argv[2]))
sys.stdout.write('ready\n'); sys.stdout.flush()
buf = b''
while True:
    r, _, _ = select.select([0, s.fileno()], [], [])
    if 0 in r:
        chunk = os.read(0, 65536)
        if not chunk:
            sys.exit(0)
        buf += chunk
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            dst, hx = line.decode().split(' ')
            try:
                s.sendto(bytes.fromhex(hx), (dst, 0))
            except OSError as e:
                sys.stderr.write('sendto %s: %s\n' % (dst, e))
    if s.fileno() in r:
        data, addr = s.recvfrom(65535)
        if fam == socket.AF_INET:
            data = data[(data[0] & 15) * 4:]
        sys.stdout.write('%s %s\n' % (addr[0], data.hex())); sys.stdout.flush()
`

function pythonRawSocket(family: 4 | 6, protocol: number, onPacket: RawPacketHandler): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-u', '-c', SHIM, String(family), String(protocol)], { stdio: ['pipe', 'pipe', 'inherit'] })
    let ready = false
    child.on('error', reject)
    child.on('exit', (code) => { if (!ready) reject(new Error(`raw socket shim exited (${code})`)) })
    child.stdin.on('error', () => {})
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!ready) {
        ready = line === 'ready'
        if (ready) resolve({
          send: (dst, payload) => { child.stdin.write(`${dst} ${payload.toString('hex')}\n`) },
          close: () => { child.stdin.end(); child.kill() },
        })
        return
      }
      const sp = line.indexOf(' ')
      if (sp > 0) onPacket(line.slice(0, sp), Buffer.from(line.slice(sp + 1), 'hex'))
    })
  })
}

/** Which implementation `openRawSocket` uses ('native' or 'python'). */
export async function rawSocketImpl(): Promise<'native' | 'python'> {
  return (await nativeBinding()) ? 'native' : 'python'
}

export async function openRawSocket(family: 4 | 6, protocol: number, onPacket: RawPacketHandler): Promise<RawSocket> {
  const native = await nativeBinding()
  if (native) return native.openRawSocket(family, protocol, onPacket)
  return pythonRawSocket(family, protocol, onPacket)
}
