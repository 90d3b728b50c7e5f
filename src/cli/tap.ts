// `netpol tap`: the agent's verdict log — live from its control socket, or from a saved file.
import { defaults as agentDefaults } from '../agent/config.js'
import { parseFilter, matches, type TapFilter } from '../tap/filter.js'
import { formatNotice, formatRecord } from '../tap/format.js'
import { followTap, readSavedLog } from '../tap/tap-client.js'
import type { TapLine } from '../tap/tap-record.js'
import { boolFlag, intFlag, stringFlag, UsageError, type Command, type CommandIO, type ParsedArgs } from './command.js'

export const tapCommand: Command = {
  name: 'tap',
  summary: "Follow a running agent's verdict log (which rule allowed or denied each new connection), or read a saved one.",
  usage: '[--socket PATH | --file FILE [--since WHEN]] [--pod NS/NAME] [--namespace NS] [--verdict allow|deny|audit] [--policy NS/NAME] [--port N] [--protocol P] [--json] [--count N]',
  flags: {
    socket: { type: 'string', value: 'PATH', help: `the agent's control socket (default ${agentDefaults().controlSocket})` },
    file: { type: 'string', value: 'FILE', help: 'read a saved tap log (the agent\'s --tap-file) and its rotations FILE.N … FILE.1 instead' },
    since: { type: 'string', value: 'WHEN', help: 'with --file: only records from WHEN on: a duration back from now (90s, 15m, 2h, 1d) or a date/time' },
    pod: { type: 'string', value: 'NS/NAME', help: 'records where either endpoint is this pod' },
    namespace: { type: 'string', value: 'NS', help: 'records where either endpoint is a pod of this namespace' },
    verdict: { type: 'string', value: 'allow|deny|audit', help: 'only allowed, only denied, or only audit (would be denied by policies in audit mode; they passed) connections' },
    policy: { type: 'string', value: 'NS/NAME', help: 'records this policy decided: its rule allowed a side, or it isolates a side' },
    port: { type: 'string', value: 'N', help: 'destination port' },
    protocol: { type: 'string', value: 'P', help: 'TCP, UDP, SCTP, ICMP or ICMPv6' },
    json: { type: 'boolean', help: 'one JSON record per line (as the agent writes them) instead of text' },
    count: { type: 'string', value: 'N', help: 'stop after N matching records' },
    color: { type: 'string', value: 'WHEN', help: 'auto (default: when stdout is a terminal and NO_COLOR is unset), always or never' },
  },
  details: `Each line is one verdict the agent gave a new connection: time (UTC), ALLOW/DENY, protocol,
source -> destination (pod names where the IP is a pod's), and the deciding reason per side:
"allowed by NS/POLICY spec.ingress[R] from[P] ports[Q]", or "isolated by …, no rule matched".
AUDIT lines are connections that passed but policies in audit mode (agent --audit-all, or the
annotation netpol.dev/audit: "true") would deny: the reason is that would-be denial.
Lines saying "... N record(s) dropped" mark records lost under load (packets are never slowed).
Follow up a DENY with 'netpol explain' for the whole account and what would allow it.

Live mode runs until interrupted (Ctrl-C), the agent stops, or --count is reached. The control
socket is root-only: run as root on the node (or kubectl exec into the agent pod).

exit status: 0; 1 when the agent cannot be reached or the file cannot be read; 2 on usage errors.

examples:
  netpol tap --verdict deny --namespace db
  netpol tap --pod frontend/web --json | jq .ingress
  netpol tap --file /var/log/netpol/tap.jsonl --since 15m --policy db/default-deny`,
  async run(args, io) {
    let filter: TapFilter
    try {
      filter = parseFilter((k) => stringFlag(args, k))
    } catch (err) {
      throw new UsageError(`option --${(err as Error).message}`)
    }
    const json = boolFlag(args, 'json')
    const count = intFlag(args, 'count', 1, Number.MAX_SAFE_INTEGER)
    const color = colorFlag(args)
    const file = stringFlag(args, 'file')
    const since = stringFlag(args, 'since')
    if (since !== undefined && file === undefined) throw new UsageError('--since needs --file (a live tap has no history)')
    if (file !== undefined && stringFlag(args, 'socket') !== undefined) throw new UsageError('--file and --socket exclude each other')
    let printed = 0
    const print = (line: TapLine): boolean => {
      if (line.type === 'dropped') {
        if (json) io.out(JSON.stringify(line) + '\n')
        else io.err(formatNotice(line, color) + '\n')
        return true
      }
      if (!matches(filter, line)) return true
      io.out((json ? JSON.stringify(line) : formatRecord(line, color)) + '\n')
      return count === undefined || ++printed < count
    }
    if (file !== undefined) return readFile(file, since, print, io)
    const socket = stringFlag(args, 'socket') ?? agentDefaults().controlSocket
    const tap = followTap(socket, filter, (line) => {
      if (line.type === 'start') {
        if (!json) io.err(`following the tap of ${line.node ? `node ${line.node}` : 'the agent'} at ${socket} (Ctrl-C to stop)\n`)
        return true
      }
      return print(line as TapLine)
    }, json ? (text) => {
      // --json live: the agent applied the same filters; pass its lines through as they are.
      io.out(text + '\n')
      return count === undefined || !text.startsWith('{"type":"verdict"') || ++printed < count
    } : undefined)
    const onSignal = () => tap.stop()
    process.once('SIGINT', onSignal)
    try {
      await tap.done
    } catch (err) {
      io.err(`netpol tap: ${(err as Error).message}\n`)
      return 1
    } finally {
      process.removeListener('SIGINT', onSignal)
    }
    return 0
  },
}

function readFile(file: string, since: string | undefined, print: (l: TapLine) => boolean, io: CommandIO): number {
  const from = since === undefined ? undefined : parseSince(since, Date.now())
  let log
  try {
    log = readSavedLog(file)
  } catch (err) {
    io.err(`netpol tap: ${(err as Error).message}\n`)
    return 1
  }
  for (const line of log.lines) {
    if (from !== undefined && Date.parse(line.time) < from) continue
    if (!print(line)) break
  }
  if (log.bad.length > 0) {
    const first = log.bad[0]!
    io.err(`netpol tap: skipped ${log.bad.length} line(s) that are not tap records (first: ${first.file} line ${first.line})\n`)
  }
  return 0
}

/** "90s", "15m", "2h", "1d" back from `now`, or an absolute date/time. Milliseconds since the epoch. */
export function parseSince(text: string, now: number): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim())
  if (m) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd']
    return now - Number(m[1]) * unit
  }
  const t = Date.parse(text)
  if (Number.isNaN(t)) throw new UsageError(`option --since: "${text}" is neither a duration (90s, 15m, 2h, 1d) nor a date/time`)
  return t
}

function colorFlag(args: ParsedArgs): boolean {
  const when = stringFlag(args, 'color') ?? 'auto'
  if (when === 'always') return true
  if (when === 'never') return false
  if (when !== 'auto') throw new UsageError(`option --color: "${when}" is not auto, always or never`)
  return process.stdout.isTTY === true && !process.env.NO_COLOR
}
