// One NetworkPolicy compiled into plain rule data: selectors compiled, ports parsed, CIDRs masked.
// Cluster-independent; what the selectors resolve to lives in resolve.ts.
//
// Invalid input (which the API server would have rejected) never fails open: the validator's
// error paths mark the smallest enclosing part (port, peer, selector) as matching nothing, while
// the policy still isolates the pods its podSelector selects. An invalid spec.podSelector selects
// nothing: we cannot know whom it meant, and guessing "everyone" would cut unrelated traffic.
// Invalid policyTypes isolate both directions (the stricter reading).
import type { NetworkPolicy, ValidationIssue } from '../api/types.js'
import { validateNetworkPolicy } from '../validate/network-policy.js'
import type { CidrEntry } from './cidr-table.js'
import { parseCIDR, type ParsedCIDR } from './ip.js'
import { CompiledSelector } from './selector.js'

/** Protocol index used throughout the compiled tables: TCP 0, UDP 1, SCTP 2. */
export function protocolIndex(proto: number): number {
  return proto === 6 ? 0 : proto === 17 ? 1 : proto === 132 ? 2 : -1
}
export const PROTOCOL_NAMES = ['TCP', 'UDP', 'SCTP'] as const

export interface CompiledPort {
  /** 'invalid' matches nothing. */
  readonly kind: 'range' | 'named' | 'invalid'
  readonly proto: number
  readonly lo: number
  readonly hi: number
  readonly name: string
}

export interface CompiledPeer {
  readonly kind: 'pods' | 'ipblock' | 'invalid'
  /** null: the policy's own namespace (podSelector-only peer). */
  readonly nsSel: CompiledSelector | null
  /** null or empty: every pod of the selected namespaces. */
  readonly podSel: CompiledSelector | null
  readonly cidr: ParsedCIDR | null
  readonly except: readonly ParsedCIDR[]
}

export interface CompiledRule {
  /** null: from/to absent or empty, i.e. every peer (pods and external addresses). */
  readonly peers: readonly CompiledPeer[] | null
  /** null: ports absent or empty, i.e. every port and protocol. */
  readonly ports: readonly CompiledPort[] | null
  /** Atoms (peer × port combinations) in this rule, and the rule's first atom in its direction. */
  readonly atoms: number
  readonly base: number
}

export interface CompiledDirection {
  readonly rules: readonly CompiledRule[]
  readonly atoms: number
  /** Peers selecting specific pods (non-empty podSelector), with their atom base: identity churn checks only these. */
  readonly podPeers: readonly { readonly peer: CompiledPeer; readonly base: number }[]
  /** ipBlock peers per family: cluster-independent, so computed once here, not per resolution. */
  readonly cidr4: readonly CidrEntry[]
  readonly cidr6: readonly CidrEntry[]
}

export interface CompiledPolicy {
  readonly key: string
  readonly namespace: string
  readonly name: string
  readonly podSelector: CompiledSelector
  /** null: the policy does not affect this direction. */
  readonly ingress: CompiledDirection | null
  readonly egress: CompiledDirection | null
  readonly issues: readonly ValidationIssue[]
  readonly source: NetworkPolicy
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function policyKeyOf(p: unknown): { namespace: string; name: string } {
  const md = isObject(p) && isObject(p.metadata) ? p.metadata : {}
  return {
    namespace: typeof md.namespace === 'string' && md.namespace !== '' ? md.namespace : 'default',
    name: typeof md.name === 'string' ? md.name : '',
  }
}

export function compilePolicy(policy: NetworkPolicy): CompiledPolicy {
  const issues = validateNetworkPolicy(policy)
  const errors = issues.filter((i) => i.severity === 'error').map((i) => i.field)
  const broken =
    errors.length === 0 ? NEVER_BROKEN : (path: string) => errors.some((f) => f === path || f.startsWith(`${path}.`) || f.startsWith(`${path}[`))
  const { namespace, name } = policyKeyOf(policy)
  const spec: Record<string, unknown> = isObject(policy) && isObject(policy.spec) ? policy.spec : {}

  const podSelector = broken('spec.podSelector') ? CompiledSelector.NOTHING : CompiledSelector.compile(spec.podSelector ?? {})

  let affectsIngress = true
  let affectsEgress = Array.isArray(spec.egress) && spec.egress.length > 0
  const types = spec.policyTypes
  if (broken('spec.policyTypes')) {
    affectsIngress = affectsEgress = true
  } else if (Array.isArray(types) && types.length > 0) {
    // Defaulting happens only when policyTypes is empty (SetDefaults_NetworkPolicySpec).
    affectsIngress = types.includes('Ingress')
    affectsEgress = types.includes('Egress')
  }
  return {
    key: `${namespace}/${name}`,
    namespace,
    name,
    podSelector,
    ingress: affectsIngress ? compileDirection(spec.ingress, 'spec.ingress', 'from', broken) : null,
    egress: affectsEgress ? compileDirection(spec.egress, 'spec.egress', 'to', broken) : null,
    issues,
    source: policy,
  }
}

function compileDirection(rules: unknown, path: string, peersField: string, broken: (p: string) => boolean): CompiledDirection {
  const out: CompiledRule[] = []
  let atoms = 0
  // A malformed rule list isolates and allows nothing.
  const podPeers: { peer: CompiledPeer; base: number }[] = []
  const cidr4: CidrEntry[] = []
  const cidr6: CidrEntry[] = []
  if (!Array.isArray(rules)) return { rules: out, atoms, podPeers, cidr4, cidr6 }
  rules.forEach((rule: unknown, i) => {
    const rp = `${path}[${i}]`
    const r: Record<string, unknown> = isObject(rule) ? rule : {}
    let peers: CompiledPeer[] | null = null
    let ports: CompiledPort[] | null = null
    const rawPeers = r[peersField]
    const checked = broken !== NEVER_BROKEN
    if (!isObject(rule)) peers = [INVALID_PEER] // matches nothing
    else if (Array.isArray(rawPeers) && rawPeers.length > 0) {
      peers = rawPeers.map((p: unknown, j) => (checked && broken(`${rp}.${peersField}[${j}]`) ? INVALID_PEER : compilePeer(p)))
    } else if (rawPeers !== undefined && rawPeers !== null && !Array.isArray(rawPeers)) peers = [INVALID_PEER]
    if (Array.isArray(r.ports) && r.ports.length > 0) {
      ports = r.ports.map((p: unknown, j) => (checked && broken(`${rp}.ports[${j}]`) ? INVALID_PORT : compilePort(p)))
    } else if (r.ports !== undefined && r.ports !== null && !Array.isArray(r.ports)) ports = [INVALID_PORT]
    const n = (peers?.length || 1) * (ports?.length || 1)
    peers?.forEach((peer, j) => {
      const base = atoms + j * (ports?.length || 1)
      if (peer.kind === 'pods' && peer.podSel !== null && !peer.podSel.empty) podPeers.push({ peer, base })
      else if (peer.kind === 'ipblock') (peer.cidr!.family === 4 ? cidr4 : cidr6).push({ base, ports, cidr: peer.cidr!, except: peer.except })
    })
    out.push({ peers, ports, atoms: n, base: atoms })
    atoms += n
  })
  return { rules: out, atoms, podPeers, cidr4, cidr6 }
}

/** The common case, a valid policy: no per-element path strings are built. */
const NEVER_BROKEN = (_path: string): boolean => false

const NO_EXCEPT: readonly ParsedCIDR[] = Object.freeze([])
const INVALID_PEER: CompiledPeer = { kind: 'invalid', nsSel: null, podSel: null, cidr: null, except: NO_EXCEPT }
const INVALID_PORT: CompiledPort = { kind: 'invalid', proto: -1, lo: 0, hi: -1, name: '' }

function compilePeer(p: unknown): CompiledPeer {
  if (!isObject(p)) return INVALID_PEER
  if (p.ipBlock !== undefined && p.ipBlock !== null) {
    const b = p.ipBlock as { cidr?: unknown; except?: unknown }
    const cidr = typeof b.cidr === 'string' ? parseCIDR(b.cidr) : null
    if (!cidr) return INVALID_PEER
    const except: ParsedCIDR[] = []
    for (const e of Array.isArray(b.except) ? b.except : []) {
      const ex = typeof e === 'string' ? parseCIDR(e) : null
      if (!ex) return INVALID_PEER
      except.push(ex)
    }
    return { kind: 'ipblock', nsSel: null, podSel: null, cidr, except: except.length === 0 ? NO_EXCEPT : except }
  }
  const nsSel = p.namespaceSelector === undefined || p.namespaceSelector === null ? null : CompiledSelector.compile(p.namespaceSelector)
  const podSel = p.podSelector === undefined || p.podSelector === null ? null : CompiledSelector.compile(p.podSelector)
  if (nsSel === null && podSel === null) return INVALID_PEER
  return { kind: 'pods', nsSel, podSel, cidr: null, except: NO_EXCEPT }
}

function compilePort(p: unknown): CompiledPort {
  if (!isObject(p)) return INVALID_PORT
  const protoName = p.protocol ?? 'TCP'
  const proto = PROTOCOL_NAMES.indexOf(protoName as (typeof PROTOCOL_NAMES)[number])
  if (proto < 0) return INVALID_PORT
  const port = p.port
  if (port === undefined || port === null) return { kind: 'range', proto, lo: 0, hi: 65535, name: '' }
  if (typeof port === 'string') return { kind: 'named', proto, lo: 0, hi: -1, name: port }
  if (typeof port !== 'number') return INVALID_PORT
  const end = typeof p.endPort === 'number' ? p.endPort : port
  return { kind: 'range', proto, lo: port, hi: end, name: '' }
}
