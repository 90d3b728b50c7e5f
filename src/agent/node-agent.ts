// The node agent: wires the one-way flow sync → store → engine → dataplane.
//
//   source (manifest dir / API informers) writes objects into the ClusterStore;
//   a bounded-frequency runner drains the store's deltas into the engine (one recompile per burst),
//   then makes the kernel's queue rules match the engine's isolated pods, and cuts established
//   flows the new generation denies;
//   NFQUEUE batches go through the PacketClassifier, which reads the engine's published tables.
import type { PolicyEvaluator, ValidationIssue } from '../api/types.js'
import { cutDeniedFlows, type CutResult } from './flow-cutter.js'
import { BoundedFrequencyRunner } from './bounded-runner.js'
import type { AgentConfig } from './config.js'
import { RouteWatcher } from './route-watcher.js'
import { UnsyncedEvaluator } from './unsynced-evaluator.js'
import { AuditingEvaluator } from './audit-evaluator.js'
import { detectBackend } from '../dataplane/backend-detect.js'
import { discoverPodInterfaces } from '../dataplane/interfaces.js'
import { NfQueue } from '../dataplane/nfqueue.js'
import { PacketClassifier } from '../dataplane/packet-classifier.js'
import { RuleManager, type Backend, type PodRuleTarget, type RuleOptions } from '../dataplane/rules.js'
import type { ConntrackBinding, NativeBinding } from '../native/index.js'
import type { Exec } from '../lab/netns.js'
import { ClusterStore } from '../store/cluster-store.js'

/** A policy source feeding the store: resolves `start()` once the first full sync is in the store. */
export interface PolicySource {
  start(): Promise<unknown>
  /** Re-read now (manifest directories; informers resync themselves). */
  resync?(): Promise<unknown>
  stop(): Promise<void>
  issues(): readonly ValidationIssue[]
}

export interface AgentLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  debug(obj: object, msg?: string): void
}

export interface AgentDeps {
  /** The addon: NFQUEUE, and ctnetlink for cutting denied flows. */
  readonly binding: NativeBinding & ConntrackBinding
  readonly exec: Exec
  readonly log: AgentLogger
  /** Builds the policy source for this agent's store. */
  readonly makeSource: (store: ClusterStore, onChange: () => void) => PolicySource
}

export interface SyncRecord {
  readonly generation: number
  readonly at: number
  /** ms from the sync's start to rules in place (the policy is enforced for new connections). */
  readonly tookMs: number
}

export class NodeAgent {
  readonly store = new ClusterStore()
  /** The policies: enforcing engine, plus an auditing one while policies are in audit mode. */
  readonly engine: AuditingEvaluator
  readonly classifier: PacketClassifier
  private readonly unsynced: PolicyEvaluator = new UnsyncedEvaluator()
  private readonly queues: NfQueue[] = []
  private rules: RuleManager | undefined
  private backend: Backend | undefined
  private source: PolicySource | undefined
  private readonly runner: BoundedFrequencyRunner
  private readonly routes = new RouteWatcher(() => {
    this.routeEvents++
    this.runner.request()
  })
  /** Pod IP → host interface; re-read only after route/link events (or at the periodic resync). */
  private interfaces: Map<string, string> | undefined
  private interfacesReadAt = 0
  /** Route/link events seen, and how many had been seen when `interfaces` was read. */
  private routeEvents = 0
  private interfacesEpoch = -1
  private synced = false
  private sourceSynced = false
  /** Some policy is in audit mode (the auditing evaluator classifies). */
  private auditing = false
  private lastGeneration = 0
  private lastSync: SyncRecord | undefined
  private lastCut: (CutResult & { generation: number; at: number }) | undefined
  private cutting: Promise<void> | undefined
  private cutAgain = false
  private syncErrors = 0
  private readonly startedAt = Date.now()

  constructor(
    readonly config: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.engine = new AuditingEvaluator({
      localNode: config.nodeName || undefined,
      allowNodeTraffic: !config.enforceNodeTraffic,
      ipBlockMatchesPodIPs: config.ipBlockMatchesPodIPs,
    }, { auditAll: config.auditAll, snapshot: () => this.store.state() })
    const startEvaluator = config.denyUntilSynced ? this.unsynced : this.engine.active
    this.classifier = new PacketClassifier(startEvaluator, {
      failOpen: config.failMode === 'open',
      cacheSize: config.cacheSize,
      decidedMark: config.decidedMark,
    })
    this.runner = new BoundedFrequencyRunner(() => this.sync(), {
      minIntervalMs: config.minSyncIntervalMs,
      maxIntervalMs: config.maxSyncIntervalMs,
      onError: (err) => {
        this.syncErrors++
        deps.log.error({ err: String(err) }, 'sync failed; retrying at the next interval')
      },
    })
  }

  /** Binds the queues, installs deny-until-synced rules, starts the source and the sync loop. */
  async start(): Promise<void> {
    const { config, deps } = this
    this.backend = await detectBackend(deps.exec)
    this.rules = new RuleManager(this.backend, ruleOptionsOf(config), deps.exec)
    // Queues first: rules that queue to an unbound queue drop (fail-closed) or pass (fail-open).
    for (let q = config.queueNum; q < config.queueNum + config.queueCount; q++) {
      const queue = new NfQueue(deps.binding, {
        queue: q,
        failOpen: config.failMode === 'open',
        onError: (err) => deps.log.error({ err: String(err), queue: q }, 'packet handler error'),
      })
      queue.start(this.classifier.handleBatch)
      this.queues.push(queue)
    }
    this.routes.start() // before the first discovery: no pod arriving in between goes unnoticed
    if (config.denyUntilSynced) await this.syncRules(true)
    this.source = deps.makeSource(this.store, () => this.runner.request())
    await this.source.start()
    this.sourceSynced = true
    await this.sync()
    this.runner.start()
    deps.log.info({ backend: this.backend, generation: this.engine.generation, queues: this.queues.length }, 'agent synced and enforcing')
  }

  /** Re-reads the source and applies it; resolves when the result is enforced. */
  async resync(): Promise<SyncRecord | undefined> {
    await this.source?.resync?.()
    this.runner.request()
    await this.runner.idle()
    await this.cutting
    return this.lastSync
  }

  /** Stops enforcing. Fail-closed leaves the queue rules (no bypass) so nothing slips through. */
  async stop(): Promise<void> {
    this.runner.stop()
    this.routes.stop()
    await this.cutting
    await this.source?.stop()
    if (this.config.failMode === 'open') await this.rules?.remove().catch(() => undefined)
    for (const q of this.queues) q.close()
    this.queues.length = 0
  }

  /** Removes every rule the agent installed (uninstall, or fail-open shutdown). */
  async removeRules(): Promise<void> {
    await this.rules?.remove()
  }

  status(): Record<string, unknown> {
    const isolation = this.engine.isolation()
    return {
      ready: this.synced && this.queues.length > 0,
      synced: this.synced,
      backend: this.backend,
      generation: this.engine.generation,
      uptimeMs: Date.now() - this.startedAt,
      lastSync: this.lastSync,
      lastCut: this.lastCut,
      syncErrors: this.syncErrors,
      isolatedPods: isolation.filter((p) => p.ingress || p.egress).length,
      /** Policies evaluated and logged but not enforced (--audit-all, or netpol.dev/audit). */
      auditPolicies: this.engine.auditCount,
      enforcedPods: isolation.length,
      issues: [...(this.source?.issues() ?? []), ...this.engine.issues()],
      counters: this.classifier.counters,
      cache: this.classifier.cache?.stats(),
      latencyUs: {
        p50: this.classifier.latency.percentileUs(0.5),
        p99: this.classifier.latency.percentileUs(0.99),
        count: this.classifier.latency.count,
      },
      queues: this.queues.map((q) => q.stats()),
      rules: this.rules?.stats(),
    }
  }

  /** One pass of the loop: deltas → engine → rules → cut flows the new generation denies. */
  private async sync(): Promise<void> {
    // A route event can request a pass before the source's first full list: deciding then would
    // enforce an empty cluster (everything allowed). Deny-until-synced holds until start() syncs.
    if (!this.sourceSynced) return
    const started = performance.now()
    const deltas = this.store.drain()
    if (deltas.length > 0) {
      const result = this.engine.apply(deltas)
      for (const issue of result.issues) this.deps.log.warn({ ...issue }, 'policy problem')
    }
    // The plain engine unless a policy is in audit mode (then both engines classify): swapped here,
    // when an update may have changed the count, never decided per packet.
    this.synced = true
    const audit = this.engine.auditCount
    if ((audit > 0) !== this.auditing) {
      this.auditing = audit > 0
      this.deps.log.info({ auditPolicies: audit, auditAll: this.config.auditAll }, audit > 0 ? 'audit mode: policies evaluated and logged, not enforced' : 'audit mode off: every policy enforced')
    }
    this.classifier.setEvaluator(this.engine.active)
    await this.syncRules(false)
    const tookMs = performance.now() - started
    const generation = this.engine.generation
    if (generation !== this.lastGeneration && this.config.cutDeniedFlowsMs > 0) this.requestCut()
    this.lastGeneration = generation
    this.lastSync = { generation, at: Date.now(), tookMs }
  }

  /**
   * Cuts established flows the current generation denies, off the sync pass: the next policy
   * change is enforced for new connections without waiting for a conntrack dump. One cut at a
   * time; a request during a cut runs once more after it, against the then-current generation.
   */
  private requestCut(): void {
    if (this.cutting) {
      this.cutAgain = true
      return
    }
    this.cutting = (async () => {
      do {
        this.cutAgain = false
        const generation = this.engine.generation
        // Enforcement only: audit-mode policies never cut a flow.
        const cut = await cutDeniedFlows(this.engine.enforcing, this.deps.binding)
        this.lastCut = { ...cut, generation, at: Date.now() }
        if (cut.deleted > 0) this.deps.log.info({ ...cut, generation }, 'cut established flows the new policy denies')
      } while (this.cutAgain)
    })()
      .catch((err: unknown) => {
        this.syncErrors++
        this.deps.log.error({ err: String(err) }, 'cutting denied flows failed')
      })
      .finally(() => (this.cutting = undefined))
  }

  /**
   * Makes the queue rules match the isolated pods (or every pod before the first sync): isolated by
   * either engine, so audit-mode policies see the connections they would decide.
   */
  private async syncRules(denyAll: boolean): Promise<void> {
    // A policy change alone does not move pods between interfaces: reusing the last discovery keeps
    // four `ip` processes off the path from a policy event to enforcement.
    if (this.interfaces === undefined || this.interfacesEpoch !== this.routeEvents ||
        performance.now() - this.interfacesReadAt > this.config.maxSyncIntervalMs) {
      const epoch = this.routeEvents // an event during the read makes the next pass read again
      this.interfacesReadAt = performance.now()
      this.interfaces = await discoverPodInterfaces(this.deps.exec)
      this.interfacesEpoch = epoch
    }
    const byIp = this.interfaces
    const targets = new Map<string, PodRuleTarget>()
    if (denyAll) {
      for (const [ip, ifname] of byIp) addTarget(targets, ifname, ip, true, true)
    } else {
      for (const pod of this.engine.isolation()) {
        if (!pod.ingress && !pod.egress) continue
        for (const ip of pod.ips) {
          const ifname = byIp.get(ip)
          if (ifname !== undefined) addTarget(targets, ifname, ip, pod.ingress, pod.egress)
        }
      }
    }
    await this.rules!.sync([...targets.values()])
  }
}

/** The queue rules' options as the agent's configuration implies them (the agent and `cleanup`). */
export function ruleOptionsOf(config: AgentConfig): RuleOptions {
  return {
    queueNum: config.queueNum,
    queueCount: config.queueCount,
    failOpen: config.failMode === 'open',
    enforceNodeTraffic: config.enforceNodeTraffic,
    bridge: config.bridge || undefined,
    table: config.table,
    ...(config.decidedMark !== 0 ? { decidedMark: config.decidedMark } : {}),
  }
}

function addTarget(targets: Map<string, PodRuleTarget>, ifname: string, ip: string, ingress: boolean, egress: boolean): void {
  const t = targets.get(ifname)
  targets.set(ifname, t
    ? { ifname, ips: [...t.ips, ip], ingress: t.ingress || ingress, egress: t.egress || egress }
    : { ifname, ips: [ip], ingress, egress })
}
