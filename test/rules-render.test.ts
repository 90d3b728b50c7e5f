// The rule renderers as text (the nft path cannot run on this kernel: no nft `queue`), plus an
// `nft -c` check of the generated script inside a throwaway namespace.
import t from 'tap'
import { e2e } from './helpers/e2e.js'
import { uniquePrefix } from './helpers/netns.js'
import { run, nsExec } from '../src/lab/netns.js'
import { renderIptablesRemoval, renderIptablesRestore, renderNftRemoval, renderNftRuleset, type PodRuleTarget, type RuleOptions } from '../src/dataplane/rules.js'
import { detectBackend } from '../src/dataplane/backend-detect.js'

const targets: PodRuleTarget[] = [
  { ifname: 'np1', ips: ['10.0.1.11', 'fd00::1:11'], ingress: true, egress: false },
  { ifname: 'np0', ips: ['10.0.0.11'], ingress: false, egress: true },
  { ifname: 'np2', ips: ['10.0.2.11'], ingress: false, egress: false },
]
const base: RuleOptions = { queueNum: 3, queueCount: 1, failOpen: false, enforceNodeTraffic: false, table: 'netpol' }

const iptCases: { name: string; opts: Partial<RuleOptions>; family?: 4 | 6; has: string[]; hasNot: string[] }[] = [
  {
    name: 'routed, one queue, fail-closed',
    opts: {},
    has: [
      ':NETPOL-FORWARD - [0:0]',
      '-A NETPOL-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
      '-A NETPOL-FORWARD -i np0 -j NETPOL-QUEUE',
      '-A NETPOL-FORWARD -o np1 -j NETPOL-QUEUE',
      '-A NETPOL-QUEUE -m conntrack --ctstate NEW,INVALID -j NFQUEUE --queue-num 3',
      '-I FORWARD 1 -j NETPOL-FORWARD',
    ],
    hasNot: ['np2', '--queue-bypass', 'NETPOL-INPUT', '*mangle', '-i np1', '-o np0'],
  },
  {
    name: 'balance + bypass + node traffic',
    opts: { queueCount: 4, failOpen: true, enforceNodeTraffic: true },
    has: ['--queue-balance 3:6 --queue-bypass', '-A NETPOL-INPUT -i np0 -j NETPOL-QUEUE', '-A NETPOL-OUTPUT -o np1 -j NETPOL-QUEUE', '-I INPUT 1 -j NETPOL-INPUT', '-I OUTPUT 1 -j NETPOL-OUTPUT'],
    hasNot: ['--queue-num'],
  },
  {
    name: 'bridged IPv4: physdev for egress, bridge + address for ingress',
    opts: { bridge: 'npbr0' },
    has: ['-A NETPOL-FORWARD -m physdev --physdev-in np0 -j NETPOL-QUEUE', '-A NETPOL-FORWARD -o npbr0 -d 10.0.1.11/32 -j NETPOL-QUEUE'],
    hasNot: ['fd00::1:11', '-i np0'],
  },
  {
    name: 'bridged IPv6: only v6 addresses, ND exempt',
    opts: { bridge: 'npbr0' }, family: 6,
    has: ['-A NETPOL-FORWARD -o npbr0 -d fd00::1:11/128 -j NETPOL-QUEUE', '--icmpv6-type neighbour-solicitation -j RETURN'],
    hasNot: ['10.0.1.11'],
  },
  {
    name: 'denyAll queues every listed pod both ways',
    opts: { denyAll: true },
    has: ['-i np2 -j NETPOL-QUEUE', '-o np2 -j NETPOL-QUEUE', '-i np1 -j NETPOL-QUEUE', '-o np0 -j NETPOL-QUEUE'],
    hasNot: [],
  },
  {
    name: 'decidedMark: skip decided connections, save the verdict mark',
    opts: { decidedMark: 0x200 },
    has: ['-A NETPOL-FORWARD -m connmark --mark 0x200/0x200 -j RETURN', '*mangle', '-A NETPOL-POSTROUTING -m mark --mark 0x200/0x200 -j CONNMARK --or-mark 0x200', '-I POSTROUTING 1 -j NETPOL-POSTROUTING'],
    hasNot: [],
  },
]

t.test('renderIptablesRestore', async (t) => {
  for (const c of iptCases) {
    const text = renderIptablesRestore(targets, { ...base, ...c.opts }, { family: c.family ?? 4 })
    const lines = text.split('\n')
    for (const h of c.has) t.ok(lines.includes(h) || text.includes(h), `${c.name}: has ${h}`)
    for (const h of c.hasNot) t.notOk(text.includes(h), `${c.name}: lacks ${h}`)
  }
  t.notMatch(renderIptablesRestore(targets, base, { missingJumps: [] }), /-I FORWARD/, 'existing jumps are not inserted again')
  t.equal(renderIptablesRestore(targets, base), renderIptablesRestore([...targets].reverse(), base), 'order-independent')
})

t.test('renderIptablesRemoval deletes only our jumps and chains', async (t) => {
  const filter = ['-P FORWARD ACCEPT', '-N NETPOL-FORWARD', '-N NETPOL-QUEUE', '-N OTHER', '-A FORWARD -j OTHER', '-A FORWARD -j NETPOL-FORWARD', '-A NETPOL-FORWARD -i np0 -j NETPOL-QUEUE'].join('\n')
  t.equal(renderIptablesRemoval(base, { filter, mangle: '' }),
    '*filter\n-D FORWARD -j NETPOL-FORWARD\n-F NETPOL-FORWARD\n-F NETPOL-QUEUE\n-X NETPOL-FORWARD\n-X NETPOL-QUEUE\nCOMMIT\n')
  t.equal(renderIptablesRemoval(base, { filter: '-P FORWARD ACCEPT', mangle: '' }), '', 'nothing of ours: nothing to do')
})

const nftCases: { name: string; opts: Partial<RuleOptions>; has: string[]; hasNot: string[] }[] = [
  {
    name: 'routed, fail-closed',
    opts: {},
    has: ['table inet netpol\ndelete table inet netpol\ntable inet netpol {', 'type filter hook forward priority filter - 5; policy accept;', 'ct state established,related accept',
      'elements = { "np0" }', 'elements = { "np1" }', 'iifname @egress_ifs ct state { new, invalid } queue num 3\n', 'oifname @ingress_ifs ct state { new, invalid } queue num 3\n'],
    hasNot: ['bypass', 'chain input', 'np2'],
  },
  {
    name: 'balance + bypass + node traffic + mark',
    opts: { queueCount: 2, failOpen: true, enforceNodeTraffic: true, decidedMark: 0x100 },
    has: ['queue num 3-4 bypass', 'chain input {', 'type filter hook output', 'ct mark & 0x100 == 0x100 accept', 'meta mark & 0x100 == 0x100 ct mark set ct mark | 0x100'],
    hasNot: [],
  },
  {
    name: 'bridged: address sets on the bridge',
    opts: { bridge: 'npbr0' },
    has: ['iifname "npbr0" ip saddr @egress4', 'oifname "npbr0" ip6 daddr @ingress6', 'elements = { fd00::1:11 }', 'elements = { 10.0.0.11 }'],
    hasNot: ['ifname @'],
  },
]

t.test('renderNftRuleset', async (t) => {
  for (const c of nftCases) {
    const text = renderNftRuleset(targets, { ...base, ...c.opts })
    for (const h of c.has) t.ok(text.includes(h), `${c.name}: has ${JSON.stringify(h)}`)
    for (const h of c.hasNot) t.notOk(text.includes(h), `${c.name}: lacks ${JSON.stringify(h)}`)
  }
  t.equal(renderNftRemoval(base), 'table inet netpol\ndelete table inet netpol\n')
})

t.test('bad input throws TypeError naming every problem', async (t) => {
  const cases: { name: string; targets: PodRuleTarget[]; opts: Partial<RuleOptions>; msg: RegExp }[] = [
    { name: 'table name', targets: [], opts: { table: 'bad table' }, msg: /table/ },
    { name: 'queue range', targets: [], opts: { queueNum: 65535, queueCount: 2 }, msg: /queueCount/ },
    { name: 'ifname injection', targets: [{ ifname: 'np0 -j ACCEPT', ips: [], ingress: true, egress: false }], opts: {}, msg: /ifname/ },
    { name: 'two problems', targets: [], opts: { table: '', queueNum: -1 }, msg: /table.*queueNum/ },
  ]
  for (const c of cases) {
    t.throws(() => renderIptablesRestore(c.targets, { ...base, ...c.opts }), c.msg, c.name)
    t.throws(() => renderNftRuleset(c.targets, { ...base, ...c.opts }), c.msg, c.name)
  }
})

t.test('nft -c accepts the generated scripts (queue checked by the kernel where it exists)', e2e(['nft']), async (t) => {
  const ns = `${uniquePrefix('nc')}-node`
  await run(['ip', 'netns', 'add', ns])
  t.teardown(() => run(['ip', 'netns', 'del', ns]))
  const exec = nsExec(ns)
  const backend = await detectBackend(exec)
  t.comment(`backend here: ${backend}`)
  t.equal(await exec(['nft', 'list', 'ruleset']), '', 'detection leaves nothing behind')
  const variants: Partial<RuleOptions>[] = [{}, { queueCount: 2, failOpen: true, enforceNodeTraffic: true, decidedMark: 0x100 }, { bridge: 'npbr0', denyAll: true }]
  for (const v of variants) {
    const script = renderNftRuleset(targets, { ...base, ...v })
    if (backend === 'nft') {
      await t.resolves(exec(['nft', '-c', '-f', '-'], script), `full script ${JSON.stringify(v)}`)
    } else {
      // Without nft queue the kernel rejects exactly the queue statements; everything else must pass.
      await t.resolves(exec(['nft', '-c', '-f', '-'], script.replace(/queue num \S+( bypass)?/g, 'accept')), `script minus queue ${JSON.stringify(v)}`)
      const err = await exec(['nft', '-c', '-f', '-'], script).then(() => '', (e: Error) => e.message)
      const failing = err.split('\n').filter((l) => /^\s+\S/.test(l) && !l.includes('^')).map((l) => l.trim())
      t.ok(failing.length > 0 && failing.every((l) => l.includes('queue num')), `only queue statements rejected ${JSON.stringify(v)}`)
    }
  }
  t.equal(await exec(['nft', 'list', 'ruleset']), '', 'check mode committed nothing')
})

t.test('RuleManager on the nft backend (fake exec: this kernel cannot load nft queue)', async (t) => {
  const calls: { argv: string[]; stdin?: string }[] = []
  const fake = async (argv: string[], stdin?: string): Promise<string> => { calls.push({ argv, stdin }); return '' }
  const { RuleManager } = await import('../src/dataplane/rules.js')
  const m = new RuleManager('nft', base, fake)
  await m.sync(targets)
  await m.sync([...targets].reverse())
  t.equal(calls.length, 1, 'one transaction; unchanged targets skipped')
  t.same(calls[0]!.argv, ['nft', '-f', '-'])
  t.equal(calls[0]!.stdin, renderNftRuleset(targets, base))
  await m.sync(targets.slice(1))
  t.equal(calls.length, 2, 'changed targets applied')
  await m.remove()
  t.same(calls[2], { argv: ['nft', '-f', '-'], stdin: renderNftRemoval(base) })
  await m.sync(targets.slice(1))
  t.equal(calls.length, 4, 'after remove() the next sync applies again')
  t.same(m.stats(), { applied: 3, skipped: 1 })
})
