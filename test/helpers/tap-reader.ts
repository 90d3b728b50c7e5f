// A live tap reader for lab tests: collects the agent's verdict records from its control socket.
import { followTap } from '../../src/tap/tap-client.js'
import type { TapRecord } from '../../src/tap/tap-record.js'

export interface TapReader {
  /** Verdict records seen so far (clear it with `records.length = 0` between steps). */
  readonly records: TapRecord[]
  stop(): Promise<void>
}

/** Resolves once the agent accepted the reader, so no record after this point is missed. */
export async function readTap(socket: string): Promise<TapReader> {
  const records: TapRecord[] = []
  let started!: () => void
  const ready = new Promise<void>((r) => (started = r))
  const tap = followTap(socket, {}, (line) => {
    if (line.type === 'start') started()
    if (line.type === 'verdict') records.push(line)
  })
  await ready
  return { records, stop: async () => { tap.stop(); await tap.done.catch(() => undefined) } }
}

/** A record endpoint is `name` when it is that pod ("ns/name") or that IP. */
export const endpointIs = (e: TapRecord['src'], name: string): boolean => e.pod === name || e.ip === name
