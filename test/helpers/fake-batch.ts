// A PacketBatch over real packet bytes, so the classifier loop is driven without a kernel queue.
import type { PacketBatch, VerdictWriter } from '../../src/dataplane/queue-types.js'

export function batchOf(packets: readonly Buffer[]): PacketBatch {
  const offsets: number[] = []
  let at = 0
  for (const p of packets) {
    offsets.push(at)
    at += p.length
  }
  const data = Buffer.concat(packets)
  return {
    count: packets.length,
    data,
    packetOffset: (i) => offsets[i]!,
    capturedLength: (i) => packets[i]!.length,
    packetLength: (i) => packets[i]!.length,
    packetId: (i) => i + 1,
    hwProtocol: (i) => ((packets[i]![0]! >> 4) === 6 ? 0x86dd : 0x0800),
    hook: () => 2,
    inIfindex: () => 0,
    outIfindex: () => 0,
    mark: () => 0,
  }
}

export class RecordingVerdicts implements VerdictWriter {
  readonly verdicts: number[] = []
  set(i: number, verdict: number): void {
    this.verdicts[i] = verdict
  }
}
