// Raw IP sockets for the pod helper's SCTP (the kernel here has no SCTP sockets), from the native
// addon's openRawSocket: the one implementation. Contract: payload = transport header + data; the
// IPv4 header is stripped on receive; the kernel builds the IP header on send. Without the addon,
// opening fails with a message saying how to build it.
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

let binding: Promise<NativeBinding> | undefined

function nativeBinding(): Promise<NativeBinding> {
  binding ??= (async () => {
    let b: Partial<NativeBinding> | undefined
    try {
      // A variable specifier: a bundled helper reaches the addon through its loader instead.
      const spec = '../native/index.js'
      const mod = nativeLoader ? await nativeLoader() : ((await import(spec)) as Awaited<ReturnType<NativeLoader>>)
      b = mod.loadBinding?.()
    } catch (e) {
      throw new Error(`raw sockets (lab SCTP) need the native addon: ${(e as Error).message}`, { cause: e })
    }
    if (typeof b?.openRawSocket !== 'function') throw new Error('raw sockets (lab SCTP) need the native addon: it has no openRawSocket (rebuild it: npm run install)')
    return b as NativeBinding
  })()
  binding.catch(() => { binding = undefined })  // a later call may find it built
  return binding
}

/** Which implementation `openRawSocket` uses: the native addon (rejects when it cannot load). */
export async function rawSocketImpl(): Promise<'native'> {
  await nativeBinding()
  return 'native'
}

export async function openRawSocket(family: 4 | 6, protocol: number, onPacket: RawPacketHandler): Promise<RawSocket> {
  return (await nativeBinding()).openRawSocket(family, protocol, onPacket)
}
