// Address parsing and the carved-out CIDR tables: boundaries, /0, /32, /128, nested excepts,
// overlapping blocks of different rules, non-canonical CIDRs masked like Go's net.ParseCIDR.
import t from 'tap'
import { CidrTable4, CidrTable6, type CidrEntry } from '../src/engine/cidr-table.js'
import { formatCIDR, ipv4ToNumber, parseCIDR, parseIPv6 } from '../src/engine/ip.js'

t.test('ipv4ToNumber', async (t) => {
  const rows: [string, number][] = [
    ['0.0.0.0', 0],
    ['10.0.0.1', 0x0a000001],
    ['255.255.255.255', 0xffffffff],
    ['256.0.0.1', -1],
    ['010.0.0.1', -1],
    ['1.2.3', -1],
    ['1.2.3.4.5', -1],
    ['1..3.4', -1],
    ['fd00::1', -1],
  ]
  for (const [s, n] of rows) t.equal(ipv4ToNumber(s), n, s)
})

t.test('parseCIDR', async (t) => {
  const rows: [string, string | null, boolean][] = [
    ['10.0.0.0/8', '10.0.0.0/8', true],
    ['10.0.1.11/4', '0.0.0.0/4', false],
    ['0.0.0.0/0', '0.0.0.0/0', true],
    ['10.0.0.1/32', '10.0.0.1/32', true],
    ['10.0.0.1/33', null, false],
    ['10.0.0.1', null, false],
    ['10.0.0.1/08', null, false],
    ['fd00::2:0/112', 'fd00::2:0/112', true],
    ['fd00::2:22/112', 'fd00::2:0/112', false],
    ['::/0', '::/0', true],
    ['::ffff:10.0.0.1/128', '::ffff:a00:1/128', true],
    ['fd00::1/129', null, false],
    ['fd00:::1/64', null, false],
  ]
  for (const [s, want, canonical] of rows) {
    const c = parseCIDR(s)
    t.equal(c ? formatCIDR(c) : null, want, s)
    if (c) t.equal(c.canonical, canonical, `${s} canonical`)
  }
})

const v4 = (s: string) => ipv4ToNumber(s)
function entry(base: number, cidr: string, except: string[] = []): CidrEntry {
  return { base, ports: null, cidr: parseCIDR(cidr)!, except: except.map((e) => parseCIDR(e)!) }
}
function find4(entries: CidrEntry[], ip: string): number {
  const table = CidrTable4.build(entries, () => 0, new WeakMap())!
  return table.find(v4(ip))?.lookup(0, 80, -1) ?? -1
}
function find6(entries: CidrEntry[], ip: string): number {
  const table = CidrTable6.build(entries, () => 0, new WeakMap())!
  const w = new Uint32Array(4)
  t.ok(parseIPv6(ip, w), `parse ${ip}`)
  const b = new Uint8Array(16)
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) b[i * 4 + j] = (w[i]! >>> (24 - 8 * j)) & 255
  return table.find(b, 0)?.lookup(0, 80, -1) ?? -1
}

const rows4: { name: string; entries: CidrEntry[]; ip: string; want: number }[] = [
  { name: '/24 first address', entries: [entry(0, '10.0.1.0/24')], ip: '10.0.1.0', want: 0 },
  { name: '/24 last address', entries: [entry(0, '10.0.1.0/24')], ip: '10.0.1.255', want: 0 },
  { name: '/24 one below', entries: [entry(0, '10.0.1.0/24')], ip: '10.0.0.255', want: -1 },
  { name: '/24 one above', entries: [entry(0, '10.0.1.0/24')], ip: '10.0.2.0', want: -1 },
  { name: '/0 matches 0.0.0.0', entries: [entry(0, '0.0.0.0/0')], ip: '0.0.0.0', want: 0 },
  { name: '/0 matches 255.255.255.255', entries: [entry(0, '0.0.0.0/0')], ip: '255.255.255.255', want: 0 },
  { name: '/32 exact', entries: [entry(0, '10.0.1.22/32')], ip: '10.0.1.22', want: 0 },
  { name: '/32 neighbour', entries: [entry(0, '10.0.1.22/32')], ip: '10.0.1.23', want: -1 },
  { name: 'except carves out a /32', entries: [entry(0, '10.0.0.0/16', ['10.0.1.22/32'])], ip: '10.0.1.22', want: -1 },
  { name: 'except: neighbours still match', entries: [entry(0, '10.0.0.0/16', ['10.0.1.22/32'])], ip: '10.0.1.21', want: 0 },
  { name: 'except at the block start', entries: [entry(0, '10.0.0.0/16', ['10.0.0.0/24'])], ip: '10.0.0.0', want: -1 },
  { name: 'except at the block end', entries: [entry(0, '10.0.0.0/16', ['10.0.255.0/24'])], ip: '10.0.255.255', want: -1 },
  { name: "one rule's except does not hide another rule's block", entries: [entry(0, '10.0.0.0/16', ['10.0.1.0/24']), entry(1, '10.0.1.0/24')], ip: '10.0.1.5', want: 1 },
  { name: 'nested: inner block inside an except of the outer', entries: [entry(4, '10.0.0.0/8', ['10.1.0.0/16']), entry(2, '10.1.2.0/24')], ip: '10.1.2.3', want: 2 },
  { name: 'nested: rest of the except stays out', entries: [entry(4, '10.0.0.0/8', ['10.1.0.0/16']), entry(2, '10.1.2.0/24')], ip: '10.1.3.3', want: -1 },
  { name: 'overlapping blocks: lowest atom', entries: [entry(5, '0.0.0.0/0'), entry(3, '10.0.0.0/8')], ip: '10.9.9.9', want: 3 },
  { name: 'overlapping excepts of one rule', entries: [entry(0, '10.0.0.0/8', ['10.1.0.0/16', '10.1.2.0/24'])], ip: '10.1.2.3', want: -1 },
  { name: 'non-canonical cidr is masked (case 041)', entries: [entry(0, '10.0.1.11/4', ['10.0.1.22/32'])], ip: '10.0.1.33', want: 0 },
  { name: 'non-canonical cidr: except still applies', entries: [entry(0, '10.0.1.11/4', ['10.0.1.22/32'])], ip: '10.0.1.22', want: -1 },
  { name: 'non-canonical cidr: outside the masked /4', entries: [entry(0, '10.0.1.11/4')], ip: '16.0.0.1', want: -1 },
]
for (const row of rows4) t.test(`IPv4: ${row.name}`, async (t) => t.equal(find4(row.entries, row.ip), row.want))

const rows6: { name: string; entries: CidrEntry[]; ip: string; want: number }[] = [
  { name: '/112 first', entries: [entry(0, 'fd00::2:0/112')], ip: 'fd00::2:0', want: 0 },
  { name: '/112 last', entries: [entry(0, 'fd00::2:0/112')], ip: 'fd00::2:ffff', want: 0 },
  { name: '/112 above', entries: [entry(0, 'fd00::2:0/112')], ip: 'fd00::3:0', want: -1 },
  { name: '/128 exact', entries: [entry(0, 'fd00::1/128')], ip: 'fd00::1', want: 0 },
  { name: '/128 neighbour', entries: [entry(0, 'fd00::1/128')], ip: 'fd00::2', want: -1 },
  { name: '::/0 matches ::', entries: [entry(0, '::/0')], ip: '::', want: 0 },
  { name: '::/0 matches the last address', entries: [entry(0, '::/0')], ip: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', want: 0 },
  { name: 'except /128 carved out', entries: [entry(0, 'fd00::2:0/112', ['fd00::2:22/128'])], ip: 'fd00::2:22', want: -1 },
  { name: 'except /124 carved out', entries: [entry(0, 'fd00::1:0/120', ['fd00::1:20/124'])], ip: 'fd00::1:2f', want: -1 },
  { name: 'except /124: next address matches', entries: [entry(0, 'fd00::1:0/120', ['fd00::1:20/124'])], ip: 'fd00::1:30', want: 0 },
  { name: 'word boundary carry', entries: [entry(0, 'fd00:0:0:1::/64')], ip: 'fd00:0:0:2::', want: -1 },
  { name: 'except to the end of the space', entries: [entry(0, '::/0', ['ffff::/16'])], ip: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', want: -1 },
]
for (const row of rows6) t.test(`IPv6: ${row.name}`, async (t) => t.equal(find6(row.entries, row.ip), row.want))
