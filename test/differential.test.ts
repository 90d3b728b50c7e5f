// Differential test: the compiled engine against the plain reference evaluator on thousands of
// random clusters, policies and flows (seeded; the seed is printed, NETPOL_SEED replays it), under
// each engine option, plus incremental apply() vs a fresh load() of the resulting state.
import t from 'tap'
import type { SideVerdict, Verdict } from '../src/api/types.js'
import { PolicyEngine, type EngineOptions } from '../src/engine/index.js'
import { tuning } from '../src/engine/table.js'
import { Gen, NODE_IP, genCluster, genDeltas, genFlows, prng } from './helpers/cluster-gen.js'
import { ReferenceEvaluator, type RefSide } from './helpers/reference-evaluator.js'

const SEED = Number(process.env.NETPOL_SEED ?? Date.now() % 1_000_000)
const CLUSTERS = Number(process.env.NETPOL_DIFF_CLUSTERS ?? 1500)
t.comment(`seed ${SEED} (replay with NETPOL_SEED=${SEED}), ${CLUSTERS} clusters per variant`)

function side(s: SideVerdict | RefSide): string {
  if (s.reason === 'rule') return `rule ${s.policy} r${s.rule} peer ${s.peer} port ${s.port} by ${[...(s.isolatedBy ?? [])].join(',')}`
  if (s.reason === 'no-rule-matched') return `no-rule-matched by ${[...(s.isolatedBy ?? [])].join(',')}`
  return s.reason
}
function summary(v: Verdict | { allowed: boolean; egress: RefSide; ingress: RefSide }): string {
  return `${v.allowed ? 'allow' : 'deny'} | egress ${side(v.egress)} | ingress ${side(v.ingress)}`
}

const VARIANTS: { name: string; options: EngineOptions; expandLimit?: number }[] = [
  { name: 'defaults', options: {} },
  { name: 'identity peers as broad groups (membership path)', options: {}, expandLimit: 0 },
  { name: 'ipBlock excludes pod IPs', options: { ipBlockMatchesPodIPs: false } },
  { name: 'local node n1 with node IP', options: { localNode: 'n1', nodeIPs: [NODE_IP] } },
]

for (const [vi, variant] of VARIANTS.entries()) {
  t.test(`engine = reference: ${variant.name}`, async (t) => {
    const g = new Gen(prng(SEED + vi * 7919))
    const saved = tuning.expandLimit
    if (variant.expandLimit !== undefined) tuning.expandLimit = variant.expandLimit
    t.teardown(() => {
      tuning.expandLimit = saved
    })
    let flows = 0
    let mismatches = 0
    for (let c = 0; c < CLUSTERS && mismatches < 5; c++) {
      const state = genCluster(g)
      const engine = new PolicyEngine(variant.options)
      engine.load(state)
      const ref = new ReferenceEvaluator(state, variant.options)
      for (const flow of genFlows(g, state, 30)) {
        flows++
        const got = summary(engine.classify(flow))
        const want = summary(ref.verdict(flow))
        if (got !== want) {
          mismatches++
          t.equal(got, want, `cluster ${c}: ${flow.src} -> ${flow.dst} ${flow.protocol}/${flow.port}`, { state: JSON.stringify(state) })
        }
      }
    }
    t.equal(mismatches, 0, `${flows} flows over ${CLUSTERS} clusters agree with the reference`)
  })
}

t.test('incremental apply() = fresh load() of the resulting state', async (t) => {
  const g = new Gen(prng(SEED + 104729))
  let flows = 0
  let mismatches = 0
  const saved = tuning.expandLimit
  t.teardown(() => {
    tuning.expandLimit = saved
  })
  for (let c = 0; c < CLUSTERS / 2 && mismatches < 5; c++) {
    // Every other cluster keeps identity peers as broad groups, updated in place on pod churn.
    tuning.expandLimit = c % 2 === 0 ? saved : 0
    const state = genCluster(g)
    const inc = new PolicyEngine({ localNode: g.chance(0.5) ? 'n1' : undefined })
    inc.load(state)
    let current = state
    for (let round = 0; round < 3; round++) {
      const { deltas, after } = genDeltas(g, current, 1 + g.int(4))
      const res = inc.apply(deltas)
      const fresh = new PolicyEngine(inc.options)
      fresh.load(after)
      const ref = new ReferenceEvaluator(after, inc.options)
      for (const flow of genFlows(g, after, 15)) {
        flows++
        const got = summary(inc.classify(flow))
        const want = summary(fresh.classify(flow))
        const wantRef = summary(ref.verdict(flow))
        if (got !== want || got !== wantRef) {
          mismatches++
          t.equal(got, wantRef, `cluster ${c} round ${round}: ${flow.src} -> ${flow.dst} ${flow.protocol}/${flow.port}`, { deltas: JSON.stringify(deltas), before: JSON.stringify(current) })
        }
      }
      const iso = (e: PolicyEngine) => JSON.stringify(e.isolation().map((p) => `${p.namespace}/${p.name} ${p.ingress} ${p.egress} ${p.ips}`).sort())
      if (iso(inc) !== iso(fresh)) {
        mismatches++
        t.equal(iso(inc), iso(fresh), `cluster ${c} round ${round}: isolation() after apply equals fresh load`)
      }
      if (res.generation !== round + 2) {
        mismatches++
        t.equal(res.generation, round + 2, 'generation +1 per publication')
      }
      current = after
    }
  }
  t.equal(mismatches, 0, `${flows} flows after incremental updates agree with fresh load and the reference`)
})
