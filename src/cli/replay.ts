// `netpol replay`: a packet capture through a cluster's compiled policies, flow by flow.
import type { ClusterState } from '../api/types.js'
import type { AuditingEvaluator } from '../agent/audit-evaluator.js'
import { loadCluster } from '../model/load-cluster.js'
import type { ReplayFlow } from '../replay/flow-table.js'
import { replayCapture, type ReplayReport } from '../replay/replay.js'
import { sideText } from '../tap/format.js'
import { ENGINE_FLAGS, engineOptions, forEachStep } from './cluster-run.js'
import { boolFlag, intFlag, requiredFlag, UsageError, type Command } from './command.js'

export const replayCommand: Command = {
  name: 'replay',
  summary: 'Run every packet of a pcap capture through the compiled policies as the dataplane would, and report each flow\'s verdict and reason.',
  usage: '--cluster FILE CAPTURE.pcap [--step N] [--json] [options]',
  positionals: 'CAPTURE.pcap',
  flags: {
    cluster: { type: 'string', value: 'FILE', help: 'a cluster file or Kubernetes manifests (file or directory)' },
    step: { type: 'string', value: 'N', help: 'which state of a multi-step cluster file, from 1 (default 1)' },
    json: { type: 'boolean', help: 'one JSON document: flows, summary, and the capture error if any' },
    ...ENGINE_FLAGS,
  },
  details: `Captures: libpcap files (tcpdump -w) with Ethernet, Linux cooked (tcpdump -i any: SLL/SLL2),
raw IP or BSD loopback link types, IPv4 and IPv6, micro- or nanosecond timestamps.

As in the dataplane, only the first packet of a flow is decided (conntrack keeps the rest):
later packets of an allowed flow and its replies pass, every packet of a denied flow is dropped.
A TCP connection opened again after RST/FIN, or a UDP/ICMP flow idle past conntrack's timeouts,
is decided again. ICMP echo request and reply are one flow (by echo identifier); protocols without
ports are decided with port 0, as the dataplane does; later fragments are counted, not decided. A capture starting mid-connection is decided from its first packet seen, as
conntrack would (marked "midstream"). The per-policy summary counts flows a policy's rule
allowed, and denied flows on a side it isolates. Policies in audit mode (annotation
netpol.dev/audit: "true", or --audit-all) do not deny: their flows pass as "AUDIT would deny"
("audit": true in --json, counted as audit per policy).

exit status: 0 the whole capture was replayed; 1 the capture is truncated or corrupt (the
flows before the bad byte offset are still reported); 2 on bad input or usage.

example:
  tcpdump -i any -w /tmp/web.pcap host 10.10.1.10
  netpol replay --cluster examples/demo-cluster.json /tmp/web.pcap`,
  async run(args, io) {
    const cluster = await loadCluster(requiredFlag(args, 'cluster'))
    if (args.positionals.length > 1) throw new UsageError(`one capture at a time (got ${args.positionals.length})`)
    const capture = args.positionals[0]!
    const step = intFlag(args, 'step', 1, Number.MAX_SAFE_INTEGER) ?? 1
    if (step > cluster.steps.length) throw new UsageError(`option --step: the cluster has ${cluster.steps.length} step(s)`)
    let report: ReplayReport | undefined
    let failure: Error | undefined
    await forEachStep({ ...cluster, steps: cluster.steps.slice(0, step) }, engineOptions(args), async (s, engine: AuditingEvaluator, i) => {
      if (i !== step - 1) return
      try {
        report = await replayCapture(capture, engine, podNames(s.state))
      } catch (err) {
        failure = err as Error
      }
    })
    if (failure !== undefined || report === undefined) {
      io.err(`netpol replay: ${capture}: ${(failure as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? 'no such file' : failure?.message ?? 'not replayed'}\n`)
      return 2
    }
    if (boolFlag(args, 'json')) io.out(JSON.stringify(report, null, 2) + '\n')
    else io.out(text(report))
    if (report.error) {
      io.err(`netpol replay: ${capture}: ${report.error.message}; ${report.packets} packet(s) before it were replayed${boolFlag(args, 'json') ? '' : ' (above)'}\n`)
      return 1
    }
    return 0
  },
}

function podNames(state: ClusterState): (ip: string) => string | undefined {
  const byIp = new Map<string, string>()
  // Live non-hostNetwork pods win an IP, as in the engine; hostNetwork pods share their node's IP.
  for (const p of state.pods) {
    if (p.terminated) continue
    for (const ip of p.ips) if (!byIp.has(ip) || !p.hostNetwork) byIp.set(ip, `${p.namespace}/${p.name}`)
  }
  return (ip) => byIp.get(ip)
}

function endpoint(e: ReplayFlow['src'], ports: boolean): string {
  const host = e.ip.includes(':') ? `[${e.ip}]` : e.ip
  const addr = ports ? `${host}:${e.port}` : host
  return e.pod ? `${e.pod} ${addr}` : addr
}

export function text(r: ReplayReport): string {
  const s = r.summary
  const lines = [`${r.file}: ${r.linkName ?? 'unknown link type'}, ${r.packets} packet(s), ${s.flows} flow(s): ${s.allowed} allowed${s.audit ? ` (${s.audit} audit: policies in audit mode would deny)` : ''}, ${s.denied} denied`, '']
  for (const f of r.flows) {
    const ports = f.protocol === 'TCP' || f.protocol === 'UDP' || f.protocol === 'SCTP'
    const verdict = f.audit ? 'AUDIT would deny' : f.verdict === 'allow' ? 'ALLOW' : 'DENY '
    const pk = `${f.packets.forward + f.packets.reply} packet(s) (${f.packets.forward} ->, ${f.packets.reply} <-)`
    lines.push(`#${f.id} ${verdict} ${f.protocol} ${endpoint(f.src, ports)} -> ${endpoint(f.dst, ports)}  ${pk}, first #${f.firstPacket}${f.midstream ? ', midstream' : ''}`)
    const sides = ([['egress', f.egress], ['ingress', f.ingress]] as const).map(([d, v]) => `${d}: ${sideText(v, d)}`)
    lines.push(`    ${sides.join('; ')}`)
  }
  if (s.policies.length > 0) {
    lines.push('', 'flows per policy:')
    const w = Math.max(...s.policies.map((p) => p.policy.length))
    for (const p of s.policies) lines.push(`  ${p.policy.padEnd(w)}  allowed ${p.allowed}  denied ${p.denied}${p.audit ? `  audit ${p.audit}` : ''}`)
  }
  const notIsolated = r.flows.filter((f) => !['rule', 'no-rule-matched'].includes(f.egress.reason) && !['rule', 'no-rule-matched'].includes(f.ingress.reason)).length
  lines.push('', `packets: ${s.packetsAllowed} passed, ${s.packetsDenied} dropped; flows no policy applied to: ${notIsolated}`)
  const skipped = [
    s.nonIp > 0 ? `${s.nonIp} non-IP frame(s)` : '',
    s.fragments > 0 ? `${s.fragments} later fragment(s)` : '',
    s.undecodable.length > 0 ? `${s.undecodable.length} undecodable packet(s) (the agent applies its fail mode): ${s.undecodable.slice(0, 5).map((u) => `#${u.packet} at byte offset ${u.offset}: ${u.error}`).join('; ')}${s.undecodable.length > 5 ? '; ...' : ''}` : '',
  ].filter(Boolean)
  if (skipped.length > 0) lines.push(`skipped: ${skipped.join(', ')}`)
  return lines.join('\n') + '\n'
}
