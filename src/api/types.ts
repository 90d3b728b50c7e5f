// The contract between the project's parts (sync → store → engine → dataplane → tap).
// Everything here is plain data or an interface: no behaviour, no imports from other folders.
// Keep it small; a type that only one folder uses belongs in that folder.

// ---------------------------------------------------------------------------------------------
// Cluster objects, in the shape the engine consumes (already parsed out of API objects).

export type Labels = Readonly<Record<string, string>>

/** Protocols NetworkPolicy can name. */
export type PolicyProtocol = 'TCP' | 'UDP' | 'SCTP'

/** IP protocol numbers the packet path deals in. */
export const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, SCTP: 132 } as const

export const PROTOCOL_NUMBER: Readonly<Record<PolicyProtocol, number>> = { TCP: 6, UDP: 17, SCTP: 132 }

export interface NamespaceInfo {
  readonly name: string
  readonly labels: Labels
}

export interface ContainerPortInfo {
  readonly name?: string
  readonly containerPort: number
  readonly protocol: PolicyProtocol
}

export interface PodInfo {
  readonly namespace: string
  readonly name: string
  readonly labels: Labels
  /** status.podIPs (IPv4 and/or IPv6, canonical text). Empty while the pod has no IP yet. */
  readonly ips: readonly string[]
  readonly nodeName?: string
  /** hostNetwork pods share the node's IPs: policies never select them (spec: undefined; we exclude). */
  readonly hostNetwork?: boolean
  readonly ports: readonly ContainerPortInfo[]
  /** Terminating or finished (Succeeded/Failed) pods keep no policy identity for their IPs. */
  readonly terminated?: boolean
}

/** networking.k8s.io/v1 NetworkPolicy, as the API server serves it (unvalidated input). */
export interface LabelSelectorRequirement {
  key: string
  operator: string
  values?: string[]
}
export interface LabelSelector {
  matchLabels?: Record<string, string>
  matchExpressions?: LabelSelectorRequirement[]
}
export interface IPBlock {
  cidr: string
  except?: string[]
}
export interface NetworkPolicyPeer {
  podSelector?: LabelSelector
  namespaceSelector?: LabelSelector
  ipBlock?: IPBlock
}
export interface NetworkPolicyPort {
  protocol?: string
  port?: number | string
  endPort?: number
}
export interface NetworkPolicyIngressRule {
  from?: NetworkPolicyPeer[]
  ports?: NetworkPolicyPort[]
}
export interface NetworkPolicyEgressRule {
  to?: NetworkPolicyPeer[]
  ports?: NetworkPolicyPort[]
}
export interface NetworkPolicy {
  apiVersion?: string
  kind?: string
  metadata: { name: string; namespace?: string; resourceVersion?: string; annotations?: Record<string, string>; [k: string]: unknown }
  spec: {
    podSelector: LabelSelector
    policyTypes?: string[]
    ingress?: NetworkPolicyIngressRule[]
    egress?: NetworkPolicyEgressRule[]
  }
}

/** A whole cluster, as one consistent state. */
export interface ClusterState {
  readonly namespaces: readonly NamespaceInfo[]
  readonly pods: readonly PodInfo[]
  readonly policies: readonly NetworkPolicy[]
}

/** Incremental change, as the store hands it on to the engine. */
export type ClusterDelta =
  | { readonly kind: 'Namespace'; readonly op: 'upsert'; readonly object: NamespaceInfo }
  | { readonly kind: 'Namespace'; readonly op: 'delete'; readonly name: string }
  | { readonly kind: 'Pod'; readonly op: 'upsert'; readonly object: PodInfo }
  | { readonly kind: 'Pod'; readonly op: 'delete'; readonly namespace: string; readonly name: string }
  | { readonly kind: 'NetworkPolicy'; readonly op: 'upsert'; readonly object: NetworkPolicy }
  | { readonly kind: 'NetworkPolicy'; readonly op: 'delete'; readonly namespace: string; readonly name: string }

// ---------------------------------------------------------------------------------------------
// Validation

/** One problem with one object, as the API server would report it. */
export interface ValidationIssue {
  /** e.g. "NetworkPolicy x/deny-all", "Pod y/b", "file cluster.json" */
  readonly object: string
  /** e.g. "spec.ingress[0].from[1].ipBlock.except[0]" */
  readonly field: string
  readonly message: string
  /** 'error': the API server rejects it. 'warning': accepted, but likely not what was meant. */
  readonly severity: 'error' | 'warning'
}

// ---------------------------------------------------------------------------------------------
// Verdicts

export type Direction = 'ingress' | 'egress'

/** Why one side (direction) decided as it did. */
export type SideReason =
  /** No policy selects this pod for this direction. */
  | 'not-isolated'
  /** A rule of a selecting policy matched: policy/rule/peer/port say which. */
  | 'rule'
  /** Isolated by `isolatedBy`, and no rule of theirs matched. */
  | 'no-rule-matched'
  /** This endpoint is not a pod of the cluster (external IP): nothing to enforce on this side. */
  | 'not-a-pod'
  /** The pod is not on this node: its own node enforces this side. */
  | 'not-local'
  /** Traffic between a pod and its own node (kubelet probes) is always allowed (option). */
  | 'node-local'
  /** hostNetwork pods are never selected by NetworkPolicy. */
  | 'host-network'
  /** The agent has not completed its first sync yet: new connections wait (deny-until-synced). */
  | 'not-synced'

export interface SideVerdict {
  readonly allowed: boolean
  readonly reason: SideReason
  /** 'ns/name' of the deciding policy (reason 'rule'). */
  readonly policy?: string
  /** Index into spec.ingress / spec.egress. */
  readonly rule?: number
  /** Index into from/to; null when the rule has no peers (all peers). */
  readonly peer?: number | null
  /** Index into ports; null when the rule has no ports (all ports). */
  readonly port?: number | null
  /** 'ns/name' of every policy isolating this side (reasons 'rule' and 'no-rule-matched'). */
  readonly isolatedBy?: readonly string[]
  /** Audit-mode policies that would have denied (tap marks these; traffic still passes). */
  readonly audit?: boolean
}

export interface Verdict {
  readonly allowed: boolean
  readonly egress: SideVerdict
  readonly ingress: SideVerdict
  /** Engine generation that produced the verdict. */
  readonly generation: number
}

/** What one packet/connection is, as the packet path hands it to the engine. */
export interface FlowKey {
  readonly src: string
  readonly dst: string
  readonly protocol: PolicyProtocol
  readonly port: number
}

/**
 * The engine as the dataplane, CLI and tap see it. The hot path uses classifyV4/classifyV6 with a
 * caller-owned VerdictSlot (no allocation); `describe` turns a slot into a Verdict off the hot path.
 */
export interface PolicyEvaluator {
  readonly generation: number
  classify(flow: FlowKey): Verdict
  classifyV4(src: number, dst: number, proto: number, dstPort: number, out: VerdictSlot): boolean
  /** Addresses as 16 bytes at the given offsets (e.g. straight out of a packet buffer). */
  classifyV6(buf: Uint8Array, srcOff: number, dstOff: number, proto: number, dstPort: number, out: VerdictSlot): boolean
  describe(slot: VerdictSlot): Verdict
}

/** Side reason codes used in VerdictSlot (numbers, so the hot path stays allocation-free). */
export const REASON_CODE = {
  'not-isolated': 0,
  rule: 1,
  'no-rule-matched': 2,
  'not-a-pod': 3,
  'not-local': 4,
  'node-local': 5,
  'host-network': 6,
  'not-synced': 7,
} as const satisfies Record<SideReason, number>

/** Caller-owned, reused result of a hot-path classify. */
export interface VerdictSlot {
  allowed: boolean
  generation: number
  egressCode: number
  ingressCode: number
  /** Opaque references into the generation's rule/isolation tables, read by `describe`. */
  egressRef: number
  ingressRef: number
  /**
   * Audit mode: enforcement allowed the connection, but policies in audit mode would have denied
   * it; the codes and refs then describe the audit decision (the tap marks it), `allowed` stays true.
   */
  audit: boolean
}

export function newVerdictSlot(): VerdictSlot {
  return { allowed: false, generation: 0, egressCode: 0, ingressCode: 0, egressRef: -1, ingressRef: -1, audit: false }
}

/** Per-pod isolation, as the dataplane needs it to decide what to queue. */
export interface PodIsolation {
  readonly namespace: string
  readonly name: string
  readonly ips: readonly string[]
  readonly ingress: boolean
  readonly egress: boolean
}
