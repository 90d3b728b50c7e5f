// Port matching: numbered ports, endPort ranges, protocol defaulting, named ports resolved on the
// destination pod (name AND protocol must match), and lowest-atom priority among overlaps.
import t from 'tap'
import { PortMatcher, PortSet } from '../src/engine/port-matcher.js'
import type { CompiledPort } from '../src/engine/policy.js'

const names = new Map<string, number>()
const nameId = (n: string) => {
  if (!names.has(n)) names.set(n, names.size + 1)
  return names.get(n)!
}
const TCP = 0
const UDP = 1
const SCTP = 2
const range = (proto: number, lo: number, hi = lo): CompiledPort => ({ kind: 'range', proto, lo, hi, name: '' })
const named = (proto: number, name: string): CompiledPort => ({ kind: 'named', proto, lo: 0, hi: -1, name })
const invalid: CompiledPort = { kind: 'invalid', proto: -1, lo: 0, hi: -1, name: '' }

interface Row {
  name: string
  entries: { base: number; ports: CompiledPort[] | null }[]
  proto: number
  port: number
  /** The destination pod's name for this port (named ports), if any. */
  dstName?: string
  want: number
}

const rows: Row[] = [
  { name: 'no ports: every port and protocol', entries: [{ base: 0, ports: null }], proto: SCTP, port: 9, want: 0 },
  { name: 'no ports: unknown protocols too (ICMP)', entries: [{ base: 3, ports: null }], proto: -1, port: 0, want: 3 },
  { name: 'numbered port matches', entries: [{ base: 0, ports: [range(TCP, 80)] }], proto: TCP, port: 80, want: 0 },
  { name: 'numbered port: other port', entries: [{ base: 0, ports: [range(TCP, 80)] }], proto: TCP, port: 81, want: -1 },
  { name: 'numbered port: other protocol', entries: [{ base: 0, ports: [range(TCP, 80)] }], proto: UDP, port: 80, want: -1 },
  { name: 'a ports list never matches ICMP', entries: [{ base: 0, ports: [range(TCP, 0, 65535)] }], proto: -1, port: 0, want: -1 },
  { name: 'endPort: lower bound', entries: [{ base: 0, ports: [range(UDP, 53, 80)] }], proto: UDP, port: 53, want: 0 },
  { name: 'endPort: upper bound', entries: [{ base: 0, ports: [range(UDP, 53, 80)] }], proto: UDP, port: 80, want: 0 },
  { name: 'endPort: just above', entries: [{ base: 0, ports: [range(UDP, 53, 80)] }], proto: UDP, port: 81, want: -1 },
  { name: 'endPort: just below', entries: [{ base: 0, ports: [range(UDP, 53, 80)] }], proto: UDP, port: 52, want: -1 },
  { name: 'protocol without port: all its ports', entries: [{ base: 0, ports: [range(SCTP, 0, 65535)] }], proto: SCTP, port: 65535, want: 0 },
  { name: 'second port of a rule: atom base+1', entries: [{ base: 10, ports: [range(TCP, 80), range(UDP, 81)] }], proto: UDP, port: 81, want: 11 },
  { name: 'overlap: lowest atom wins', entries: [{ base: 5, ports: [range(TCP, 1, 1000)] }, { base: 2, ports: [range(TCP, 80)] }], proto: TCP, port: 80, want: 2 },
  { name: 'overlap: outside the narrow range', entries: [{ base: 5, ports: [range(TCP, 1, 1000)] }, { base: 2, ports: [range(TCP, 80)] }], proto: TCP, port: 81, want: 5 },
  { name: 'all-ports entry beats a later numbered one', entries: [{ base: 1, ports: null }, { base: 4, ports: [range(TCP, 80)] }], proto: TCP, port: 80, want: 1 },
  { name: 'numbered entry beats a later all-ports one', entries: [{ base: 4, ports: null }, { base: 1, ports: [range(TCP, 80)] }], proto: TCP, port: 80, want: 1 },
  { name: 'named port resolved on destination', entries: [{ base: 0, ports: [named(TCP, 'http')] }], proto: TCP, port: 8080, dstName: 'http', want: 0 },
  { name: 'named port: destination names it differently', entries: [{ base: 0, ports: [named(TCP, 'http')] }], proto: TCP, port: 8080, dstName: 'web', want: -1 },
  { name: 'named port: destination has no name for it', entries: [{ base: 0, ports: [named(TCP, 'http')] }], proto: TCP, port: 8080, want: -1 },
  { name: 'named port: protocol must match too', entries: [{ base: 0, ports: [named(SCTP, 'serve-80-tcp')] }], proto: TCP, port: 80, dstName: 'serve-80-tcp', want: -1 },
  { name: 'invalid port matches nothing', entries: [{ base: 0, ports: [invalid] }], proto: TCP, port: 80, want: -1 },
  { name: 'invalid port does not hide a valid sibling', entries: [{ base: 0, ports: [invalid, range(TCP, 80)] }], proto: TCP, port: 80, want: 1 },
]

for (const row of rows) {
  t.test(row.name, async (t) => {
    const namedKey = row.dstName !== undefined && row.proto >= 0 ? nameId(row.dstName) * 4 + row.proto : -1
    t.equal(PortSet.build(row.entries, nameId).lookup(row.proto, row.port, namedKey), row.want, 'PortSet')
    // A single entry through the shared-set path must answer the same.
    if (row.entries.length === 1) {
      const m = PortMatcher.build(row.entries, nameId, new WeakMap())
      t.equal(m.lookup(row.proto, row.port, namedKey), row.want, 'shared PortSet + base')
    }
  })
}
