// `netpol explain`: the engine's account of one flow, for a human.
import { loadCluster } from '../model/load-cluster.js'
import { ENGINE_FLAGS, engineOptions, flowOf, forEachStep, reportProblems, protocolFlag } from './cluster-run.js'
import { intFlag, requiredFlag, UsageError, type Command } from './command.js'

export const explainCommand: Command = {
  name: 'explain',
  summary: 'Explain why one connection is allowed or denied: which policies select each side, which rule matched, what would allow it.',
  usage: '--cluster FILE --from NS/POD|IP --to NS/POD|IP --port N [--protocol TCP|UDP|SCTP] [--step N] [options]',
  flags: {
    cluster: { type: 'string', value: 'FILE', help: 'a cluster file or Kubernetes manifests (file or directory)' },
    from: { type: 'string', value: 'NS/POD|IP', help: 'source pod, or an IP outside the cluster' },
    to: { type: 'string', value: 'NS/POD|IP', help: 'destination pod, or an IP outside the cluster' },
    port: { type: 'string', value: 'N', help: 'destination port' },
    protocol: { type: 'string', value: 'PROTO', help: 'TCP (default), UDP or SCTP' },
    step: { type: 'string', value: 'N', help: 'which state of a multi-step cluster file, from 1 (default 1)' },
    ...ENGINE_FLAGS,
  },
  details: `exit status: 0 allowed, 1 denied, 2 on bad input or usage.

example:
  netpol explain --cluster examples/demo-cluster.json --from frontend/web --to db/postgres --port 5432`,
  async run(args, io) {
    const path = requiredFlag(args, 'cluster')
    const cluster = await loadCluster(path)
    const from = requiredFlag(args, 'from')
    const to = requiredFlag(args, 'to')
    const port = intFlag(args, 'port', 1, 65535)
    if (port === undefined) throw new UsageError('missing required option --port')
    const protocol = protocolFlag(args)
    const step = intFlag(args, 'step', 1, Number.MAX_SAFE_INTEGER) ?? 1
    if (step > cluster.steps.length) throw new UsageError(`option --step: the cluster has ${cluster.steps.length} step(s)`)
    let allowed = false
    const problems = await forEachStep({ ...cluster, steps: cluster.steps.slice(0, step) }, engineOptions(args), (s, engine, i) => {
      if (i !== step - 1) return
      const { verdict, text } = engine.explain(flowOf(s.state, { from, to, port, protocol }, 'probe'))
      allowed = verdict.allowed
      io.out(text.endsWith('\n') ? text : text + '\n')
    })
    reportProblems(path, cluster, problems, io.err)
    return allowed ? 0 : 1
  },
}
