// The agent's one configuration: defaults, flag parsing and validation that reports every problem
// at once. Fail mode lives here and every part (queue flags, rules, decode errors, shutdown) reads it.

export type FailMode = 'open' | 'closed'

export interface AgentConfig {
  /** Policy source: the API server, or a directory (or file) of manifests / a cluster file. */
  source: { kind: 'kube'; kubeconfig?: string } | { kind: 'dir'; path: string }
  /** This node's name (downward API `spec.nodeName`); pods of other nodes are enforced there. Empty: all pods. */
  nodeName: string
  /** First NFQUEUE number, and how many queues (>1: --queue-balance over consecutive numbers). */
  queueNum: number
  queueCount: number
  failMode: FailMode
  /** Until the first full sync, queue (and so deny) new connections of every local pod. */
  denyUntilSynced: boolean
  cacheSize: number
  /** Host-side bridge the pod veths are enslaved to; empty for routed veths (ptp CNI, Calico). */
  bridge: string
  /** Enforce policy on pod↔own-node traffic too (default: always allowed, for kubelet probes). */
  enforceNodeTraffic: boolean
  /** ipBlock peers also match pod IPs (upstream semantics); false = GKE Dataplane V2 style. */
  ipBlockMatchesPodIPs: boolean
  /** Every policy in audit mode: evaluated and logged (tap records marked audit), never enforced. */
  auditAll: boolean
  /** Cut established flows a policy change now denies (ctnetlink), within this many ms. 0: never. */
  cutDeniedFlowsMs: number
  /** Unix socket for status and the live tap log. */
  controlSocket: string
  /** Tap log as JSON lines to this file (rotated by size); empty: no file sink. */
  tapFile: string
  tapFileMaxBytes: number
  /** Rotated tap files kept (FILE.1 … FILE.N). */
  tapFileKeep: number
  /** Tap ring buffer: records held between drains (80 bytes each); more are dropped and counted. */
  tapRingSize: number
  /** host:port for /metrics, /healthz, /readyz; empty disables. */
  metricsAddress: string
  /** --source kube: full relist of every resource this often (s, ±10% jitter); 0 disables. */
  kubeResyncSeconds: number
  /** Packet/conntrack mark bit meaning "this connection was decided" (0: off; every NEW packet is queued). */
  decidedMark: number
  /** Own chain/table name prefix. */
  table: string
  /** Recompile bounds: burst of changes → one recompile (ms). */
  minSyncIntervalMs: number
  maxSyncIntervalMs: number
  logLevel: 'debug' | 'info' | 'warn' | 'error'
}

export function defaults(): AgentConfig {
  return {
    source: { kind: 'kube' },
    nodeName: process.env.NODE_NAME ?? '',
    queueNum: 100,
    queueCount: 1,
    failMode: 'closed',
    denyUntilSynced: true,
    cacheSize: 65536,
    bridge: '',
    enforceNodeTraffic: false,
    ipBlockMatchesPodIPs: true,
    auditAll: false,
    cutDeniedFlowsMs: 1000,
    controlSocket: '/run/netpol/agent.sock',
    tapFile: '',
    tapFileMaxBytes: 100 << 20,
    tapFileKeep: 5,
    tapRingSize: 16384,
    metricsAddress: '0.0.0.0:9743',
    kubeResyncSeconds: 900,
    table: 'netpol',
    // Clear of kube-proxy (0x4000, 0x8000), Cilium (0x0f00) and Weave (0x20000, 0x40000).
    decidedMark: 0x400000,
    minSyncIntervalMs: 10,
    maxSyncIntervalMs: 60_000,
    logLevel: 'info',
  }
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
  }
}

const isInt = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi

/** Every problem at once, as `field: message`. */
export function validate(c: AgentConfig): string[] {
  const problems: string[] = []
  if (c.source.kind === 'dir' && !c.source.path) problems.push('source: a manifest directory path is required')
  if (!isInt(c.queueNum, 0, 65535)) problems.push(`queueNum: ${c.queueNum} is not a queue number (0-65535)`)
  if (!isInt(c.queueCount, 1, 64)) problems.push(`queueCount: ${c.queueCount} must be 1-64`)
  else if (c.queueNum + c.queueCount - 1 > 65535) problems.push('queueCount: the queue range passes 65535')
  if (c.failMode !== 'open' && c.failMode !== 'closed') problems.push(`failMode: "${c.failMode}" must be open or closed`)
  if (!isInt(c.cacheSize, 0, 1 << 24)) problems.push(`cacheSize: ${c.cacheSize} must be 0-16777216`)
  if (!isInt(c.cutDeniedFlowsMs, 0, 3_600_000)) problems.push(`cutDeniedFlowsMs: ${c.cutDeniedFlowsMs} must be 0-3600000`)
  if (c.bridge && !/^[A-Za-z0-9_.-]{1,15}$/.test(c.bridge)) problems.push(`bridge: "${c.bridge}" is not an interface name`)
  if (!Number.isInteger(c.decidedMark) || c.decidedMark < 0 || c.decidedMark > 0xffffffff || (c.decidedMark & (c.decidedMark - 1)) !== 0) {
    problems.push(`decidedMark: ${c.decidedMark} must be 0 or a single bit`)
  }
  if (!/^[a-z][a-z0-9-]{0,15}$/.test(c.table)) problems.push(`table: "${c.table}" must be lowercase letters, digits, dashes (≤16)`)
  if (!c.controlSocket.startsWith('/')) problems.push(`controlSocket: "${c.controlSocket}" must be an absolute path`)
  if (c.tapFile && !c.tapFile.startsWith('/')) problems.push(`tapFile: "${c.tapFile}" must be an absolute path`)
  if (!isInt(c.tapFileMaxBytes, 4096, 2 ** 40)) problems.push(`tapFileMaxBytes: ${c.tapFileMaxBytes} must be 4096-1099511627776`)
  if (!isInt(c.tapFileKeep, 0, 1000)) problems.push(`tapFileKeep: ${c.tapFileKeep} must be 0-1000`)
  if (!isInt(c.tapRingSize, 16, 1 << 22)) problems.push(`tapRingSize: ${c.tapRingSize} must be 16-4194304`)
  if (c.metricsAddress && !/^[^\s]*:\d{1,5}$/.test(c.metricsAddress)) problems.push(`metricsAddress: "${c.metricsAddress}" must be host:port`)
  if (!isInt(c.kubeResyncSeconds, 0, 86_400)) problems.push(`kubeResyncSeconds: ${c.kubeResyncSeconds} must be 0-86400`)
  if (!isInt(c.minSyncIntervalMs, 0, 60_000)) problems.push(`minSyncIntervalMs: ${c.minSyncIntervalMs} must be 0-60000`)
  if (!isInt(c.maxSyncIntervalMs, 1000, 86_400_000)) problems.push(`maxSyncIntervalMs: ${c.maxSyncIntervalMs} must be 1000-86400000`)
  if (!['debug', 'info', 'warn', 'error'].includes(c.logLevel)) problems.push(`logLevel: "${c.logLevel}" must be debug, info, warn or error`)
  return problems
}

export const FLAG_HELP = `Options (defaults in brackets):
  --source kube|DIR        policy source: the API server, or a manifest directory / cluster file [kube]
  --kubeconfig FILE        kubeconfig for --source kube [in-cluster]
  --node NAME              this node's name; only its pods are enforced [$NODE_NAME, else all pods]
  --queue N                first NFQUEUE number [100]
  --queues N               number of queues (--queue-balance) [1]
  --fail-mode open|closed  what passes when the agent cannot decide [closed]
  --no-deny-until-synced   do not hold new connections of local pods until the first sync
  --cache-size N           verdict cache entries, 0 disables [65536]
  --bridge NAME            pods' veths are enslaved to this bridge [routed veths]
  --enforce-node-traffic   apply policy to pod<->own-node traffic too [always allowed]
  --no-ipblock-pod-ips     ipBlock peers match only non-pod IPs [match pod IPs]
  --audit-all              every policy in audit mode: would-be denials logged, not enforced [off;
                           per policy: annotation netpol.dev/audit: "true"]
  --cut-denied-flows MS    cut established flows a policy change denies within MS, 0 never [1000]
  --control-socket PATH    status + live tap socket [/run/netpol/agent.sock]
  --tap-file PATH          also write the tap log (every verdict, JSON lines) to PATH [off]
  --tap-file-max-bytes N   rotate the tap file at N bytes [104857600]
  --tap-file-keep N        rotated tap files kept (PATH.1 ... PATH.N) [5]
  --tap-ring N             tap records buffered between drains; overflow is dropped and counted [16384]
  --metrics ADDR           host:port for /metrics /healthz /readyz, '' disables [0.0.0.0:9743]
  --kube-resync SECONDS    --source kube: full relist of every resource this often, 0 never [900]
  --table NAME             own chain/table prefix [netpol]
  --decided-mark BIT       mark bit for decided connections, 0 off [0x400000]
  --log-level LEVEL        debug|info|warn|error [info]`

/** Parses agent flags over defaults; throws ConfigError listing every problem. */
export function parseAgentFlags(argv: readonly string[], base: AgentConfig = defaults()): AgentConfig {
  const c: AgentConfig = { ...base }
  const problems: string[] = []
  const num = (flag: string, v: string | undefined): number => {
    const n = v === undefined || v === '' ? NaN : Number(v)
    if (Number.isNaN(n)) problems.push(`${flag}: "${v ?? ''}" is not a number`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    const value = (): string | undefined => argv[++i]
    switch (flag) {
      case '--source': {
        const v = value() ?? ''
        c.source = v === 'kube' ? { kind: 'kube' } : { kind: 'dir', path: v }
        break
      }
      case '--kubeconfig': {
        const v = value() ?? ''
        c.source = { kind: 'kube', kubeconfig: v }
        break
      }
      case '--node': c.nodeName = value() ?? ''; break
      case '--queue': c.queueNum = num(flag, value()); break
      case '--queues': c.queueCount = num(flag, value()); break
      case '--fail-mode': c.failMode = (value() ?? '') as FailMode; break
      case '--no-deny-until-synced': c.denyUntilSynced = false; break
      case '--cache-size': c.cacheSize = num(flag, value()); break
      case '--bridge': c.bridge = value() ?? ''; break
      case '--enforce-node-traffic': c.enforceNodeTraffic = true; break
      case '--no-ipblock-pod-ips': c.ipBlockMatchesPodIPs = false; break
      case '--audit-all': c.auditAll = true; break
      case '--cut-denied-flows': c.cutDeniedFlowsMs = num(flag, value()); break
      case '--control-socket': c.controlSocket = value() ?? ''; break
      case '--tap-file': c.tapFile = value() ?? ''; break
      case '--tap-file-max-bytes': c.tapFileMaxBytes = num(flag, value()); break
      case '--tap-file-keep': c.tapFileKeep = num(flag, value()); break
      case '--tap-ring': c.tapRingSize = num(flag, value()); break
      case '--metrics': c.metricsAddress = value() ?? ''; break
      case '--kube-resync': c.kubeResyncSeconds = num(flag, value()); break
      case '--table': c.table = value() ?? ''; break
      case '--decided-mark': c.decidedMark = num(flag, value()); break
      case '--log-level': c.logLevel = (value() ?? '') as AgentConfig['logLevel']; break
      default: problems.push(`${flag}: unknown option`)
    }
  }
  problems.push(...validate(c))
  if (problems.length > 0) throw new ConfigError(problems)
  return c
}
