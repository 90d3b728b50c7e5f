// Human-readable tap lines (`netpol tap` without --json), optionally coloured.
import type { SideVerdict } from '../api/types.js'
import type { TapDropNotice, TapEndpoint, TapRecord } from './tap-record.js'

const C = { red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', dim: '\x1b[2m', bold: '\x1b[1m', reset: '\x1b[0m' }

function endpoint(e: TapEndpoint, withPort: boolean): string {
  const host = e.pod ?? (e.ip.includes(':') ? `[${e.ip}]` : e.ip)
  return withPort ? `${host}:${e.port}` : host
}

/** One side's reason in a few words. */
export function sideText(s: SideVerdict, dir: 'egress' | 'ingress'): string {
  switch (s.reason) {
    case 'rule': {
      const peer = s.peer === null || s.peer === undefined ? '' : ` ${dir === 'ingress' ? 'from' : 'to'}[${s.peer}]`
      const port = s.port === null || s.port === undefined ? '' : ` ports[${s.port}]`
      return `allowed by ${s.policy ?? '?'} spec.${dir}[${s.rule ?? '?'}]${peer}${port}`
    }
    case 'no-rule-matched':
      return `isolated by ${(s.isolatedBy ?? []).join(', ') || '?'}, no rule matched${s.audit ? ' (audit mode: not enforced)' : ''}`
    case 'not-isolated': return 'not isolated'
    case 'not-a-pod': return 'not a pod'
    case 'not-local': return 'pod on another node'
    case 'node-local': return 'own node (always allowed)'
    case 'host-network': return 'hostNetwork pod'
    case 'not-synced': return 'agent not synced yet'
  }
}

export function formatRecord(r: TapRecord, color: boolean): string {
  const paint = (code: string, s: string) => (color ? `${code}${s}${C.reset}` : s)
  const time = r.time.slice(11, 23)
  const verdict = r.audit ? paint(C.yellow + C.bold, 'AUDIT would deny') : r.verdict === 'allow' ? paint(C.green, 'ALLOW') : paint(C.red + C.bold, 'DENY ')
  const ports = r.protocol === 'TCP' || r.protocol === 'UDP' || r.protocol === 'SCTP'
  const flow = `${r.protocol} ${endpoint(r.src, ports)} -> ${endpoint(r.dst, ports)}`
  // A denied (or audit: would-be denied) record leads with the side(s) that denied; an allowed one shows both.
  const sides = ([['egress', r.egress], ['ingress', r.ingress]] as const)
    .filter(([, s]) => (r.verdict === 'allow' && !r.audit) || !s.allowed)
    .map(([dir, s]) => `${dir}: ${sideText(s, dir)}`)
  const tail = [`gen ${r.generation}`, ...(r.fromCache ? ['cached'] : []), ...(r.stale ? ['stale'] : []), ...(r.node ? [r.node] : [])]
  return `${paint(C.dim, time)} ${verdict} ${flow}  ${sides.join('; ')}  ${paint(C.dim, `(${tail.join(', ')})`)}`
}

export function formatNotice(n: TapDropNotice, color: boolean): string {
  const text = `${n.time.slice(11, 23)} ... ${n.count} record(s) dropped (${n.where === 'ring' ? 'agent tap buffer full' : n.where === 'reader' ? 'this reader fell behind' : 'file sink behind'})`
  return color ? `${C.dim}${text}${C.reset}` : text
}
