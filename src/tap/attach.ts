// Wires the tap into a running agent: the classifier it installs into, the engine's describe and
// the store's pod-by-IP (read-only), the optional file sink, and GET /tap + /tap/status on the
// control socket. The agent passes itself structurally, so the tap depends on no agent module.
import type { PodInfo, VerdictSlot, Verdict } from '../api/types.js'
import { FileSink } from './file-sink.js'
import { tapRoute } from './tap-endpoint.js'
import { Tap, type SinkTarget } from './tap.js'

export interface TapAgent {
  readonly classifier: SinkTarget
  readonly engine: { describe(slot: VerdictSlot): Verdict; readonly generation: number }
  readonly store: { podByIP(ip: string): PodInfo | undefined }
}

export interface TapControl {
  route(path: string, handler: ReturnType<typeof tapRoute>): unknown
  json(path: string, produce: () => unknown): unknown
}

export interface TapConfig {
  readonly nodeName: string
  /** JSON-lines file sink; empty: none. */
  readonly tapFile: string
  readonly tapFileMaxBytes: number
  readonly tapFileKeep: number
  readonly tapRingSize: number
}

export interface TapLog {
  warn(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
}

export function attachTap(agent: TapAgent, control: TapControl, config: TapConfig, log: TapLog): Tap {
  const tap = new Tap(agent.classifier, {
    nodeName: config.nodeName || undefined,
    describe: (slot) => agent.engine.describe(slot),
    podName: (ip) => {
      const p = agent.store.podByIP(ip)
      return p === undefined ? undefined : `${p.namespace}/${p.name}`
    },
    generation: () => agent.engine.generation,
  }, { ringSize: config.tapRingSize })
  if (config.tapFile) {
    tap.setFile(new FileSink(
      { path: config.tapFile, maxBytes: config.tapFileMaxBytes, keep: config.tapFileKeep },
      (err) => log.warn({ err: String(err), file: config.tapFile }, 'tap file sink failed; its records are dropped from now on'),
    ))
    log.info({ file: config.tapFile, maxBytes: config.tapFileMaxBytes, keep: config.tapFileKeep }, 'tap log to file')
  }
  control.route('/tap', tapRoute(tap, config.nodeName || undefined))
  control.json('/tap/status', () => tap.stats())
  return tap
}
