// Conntrack entries as the agent needs them: list the flows (original direction) and delete
// exactly the ones a new policy denies, so established connections are cut at once (the next
// packet is judged afresh: NEW when nf_conntrack_tcp_loose picks it up, else INVALID; both are
// queued by our rules). Listing goes through `conntrack -L -o extended`; deletion through a
// batched ctnetlink helper (CT_DELETE_PY below), falling back to one `conntrack -D` per flow.
import { spawn, type ChildProcess } from 'node:child_process'
import { isIPv6 } from 'node:net'
import { createInterface } from 'node:readline'
import type { Exec } from '../lab/netns.js'

const PROTO_NAMES: Readonly<Record<number, string>> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 33: 'DCCP', 47: 'GRE', 58: 'ICMPv6', 132: 'SCTP', 136: 'UDPLITE' }

export type FlowProtocol = 'TCP' | 'UDP' | 'SCTP' | 'ICMP' | 'ICMPv6' | 'DCCP' | 'GRE' | 'UDPLITE' | string

export interface Flow {
  readonly family: 4 | 6
  /** Upper-case name for known protocols, else the protocol number as text. */
  readonly protocol: FlowProtocol
  readonly protoNum: number
  /** Original direction. */
  readonly src: string
  readonly dst: string
  /** 0 for protocols without ports. */
  readonly sport: number
  readonly dport: number
  /** TCP/SCTP/DCCP state (ESTABLISHED, SYN_SENT, COOKIE_WAIT, …). */
  readonly state?: string
  readonly icmp?: { readonly type: number; readonly code: number; readonly id: number }
  readonly zone?: number
  readonly mark?: number
  /** [UNREPLIED], [ASSURED], … */
  readonly flags?: readonly string[]
}

export interface FlowFilter {
  readonly family?: 4 | 6
  readonly protocol?: FlowProtocol
  readonly src?: string
  readonly dst?: string
  readonly sport?: number
  readonly dport?: number
  /** Flows with src or dst in this set. */
  readonly anyIp?: ReadonlySet<string>
}

/** Parses one line of `conntrack -L -o extended`; undefined for lines that are not entries. */
export function parseConntrackLine(line: string): Flow | undefined {
  const tok = line.trim().split(/\s+/)
  if (tok.length < 6 || (tok[0] !== 'ipv4' && tok[0] !== 'ipv6')) return undefined
  const family = tok[0] === 'ipv4' ? 4 : 6
  const protoNum = Number(tok[3])
  if (!Number.isInteger(protoNum)) return undefined
  let i = 5 // after the timeout
  let state: string | undefined
  if (tok[i] && !tok[i]!.includes('=') && !tok[i]!.startsWith('[')) state = tok[i++]
  const kv = new Map<string, string>()
  const flags: string[] = []
  for (; i < tok.length; i++) {
    const t = tok[i]!
    if (t.startsWith('[')) { flags.push(t.slice(1, -1)); continue }
    const eq = t.indexOf('=')
    if (eq <= 0) continue
    const k = t.slice(0, eq)
    // The first src/dst/sport/… is the original direction; the reply tuple repeats the keys.
    if (!kv.has(k)) kv.set(k, t.slice(eq + 1))
  }
  const src = kv.get('src')
  const dst = kv.get('dst')
  if (!src || !dst) return undefined
  const num = (k: string): number | undefined => (kv.has(k) ? Number(kv.get(k)) : undefined)
  const icmp = protoNum === 1 || protoNum === 58
  const zone = num('zone')
  const mark = num('mark')
  return {
    family,
    protocol: PROTO_NAMES[protoNum] ?? String(protoNum),
    protoNum,
    src,
    dst,
    sport: num('sport') ?? 0,
    dport: num('dport') ?? 0,
    ...(state ? { state } : {}),
    ...(icmp ? { icmp: { type: num('type') ?? 0, code: num('code') ?? 0, id: num('id') ?? 0 } } : {}),
    ...(zone !== undefined ? { zone } : {}),
    ...(mark !== undefined ? { mark } : {}),
    ...(flags.length ? { flags } : {}),
  }
}

function matches(f: Flow, filter: FlowFilter | undefined): boolean {
  if (!filter) return true
  if (filter.protocol !== undefined && f.protocol !== filter.protocol) return false
  if (filter.src !== undefined && f.src !== filter.src) return false
  if (filter.dst !== undefined && f.dst !== filter.dst) return false
  if (filter.sport !== undefined && f.sport !== filter.sport) return false
  if (filter.dport !== undefined && f.dport !== filter.dport) return false
  if (filter.anyIp && !filter.anyIp.has(f.src) && !filter.anyIp.has(f.dst)) return false
  return true
}

/** Conntrack entries (of the namespace `exec` runs in), original direction, optionally filtered. */
export async function listFlows(exec: Exec, filter?: FlowFilter): Promise<Flow[]> {
  // `conntrack -L` without -f lists IPv4 only.
  const families = filter?.family ? [filter.family] : [4, 6]
  const outs = await Promise.all(families.map((fam) => exec(['conntrack', '-L', '-o', 'extended', '-f', fam === 4 ? 'ipv4' : 'ipv6'])))
  const flows: Flow[] = []
  for (const out of outs) {
    for (const line of out.split('\n')) {
      const f = parseConntrackLine(line)
      if (f && matches(f, filter)) flows.push(f)
    }
  }
  return flows
}

/** The ctnetlink helper's input line for a flow. */
export function deleteRequestLine(f: Flow): string {
  const tail = f.icmp ? `${f.icmp.type} ${f.icmp.code} ${f.icmp.id}` : `${f.sport} ${f.dport}`
  return `${f.family} ${f.protoNum} ${f.src} ${f.dst} ${tail} zone=${f.zone ?? 0}`
}

export interface DeleteOptions {
  /** 'netlink' (default: batched ctnetlink via python3, falls back to the tool) or 'tool'. */
  readonly via?: 'netlink' | 'tool'
}

/**
 * Deletes exactly these entries (by original tuple and zone) and resolves to how many existed and
 * were deleted. Entries that are already gone are not an error.
 */
export async function deleteFlows(exec: Exec, flows: readonly Flow[], opts: DeleteOptions = {}): Promise<number> {
  if (flows.length === 0) return 0
  for (const f of flows) {
    if (isIPv6(f.src) !== (f.family === 6)) throw new TypeError(`flow ${f.src} -> ${f.dst}: family ${f.family} does not match`)
  }
  if (opts.via !== 'tool') {
    try {
      const out = await exec(['python3', '-c', CT_DELETE_PY], flows.map(deleteRequestLine).join('\n') + '\n')
      const m = /deleted=(\d+) missing=(\d+) failed=(\d+)/.exec(out)
      if (m) {
        if (Number(m[3]) > 0) throw new Error(`ctnetlink: ${m[3]} deletions failed`)
        return Number(m[1])
      }
    } catch (e) {
      if ((e as Error).message.startsWith('ctnetlink:')) throw e
      // No python3 (or no ctnetlink): the slow path below still does the job.
    }
  }
  return deleteWithTool(exec, flows)
}

/**
 * A long-running ctnetlink deleter (one python3 process, kept open): no process start per policy
 * change, so a cut costs about a millisecond plus the kernel's work. `argvPrefix` places it in a
 * namespace (e.g. ['ip', 'netns', 'exec', 'node']); empty when the agent already runs there.
 */
export class FlowDeleter {
  private readonly child: ChildProcess
  private readonly waiting: ((line: string) => void)[] = []
  private queue: Promise<unknown> = Promise.resolve()
  private exited: Error | undefined

  constructor(argvPrefix: readonly string[] = []) {
    const argv = [...argvPrefix, 'python3', '-u', '-c', CT_DELETE_PY]
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
    let stderr = ''
    this.child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-1000) })
    this.child.stdin!.on('error', () => {})
    this.child.on('error', (e) => this.fail(e))
    this.child.on('exit', (code) => this.fail(new Error(`conntrack deleter exited (${code}): ${stderr.trim()}`)))
    createInterface({ input: this.child.stdout! }).on('line', (l) => this.waiting.shift()?.(l))
  }

  private fail(e: Error): void {
    this.exited ??= e
    for (const w of this.waiting.splice(0)) w('')
  }

  /** Deletes exactly these entries; resolves to how many existed. Batches run one at a time. */
  delete(flows: readonly Flow[]): Promise<number> {
    if (flows.length === 0) return Promise.resolve(0)
    const run = this.queue.then(() => new Promise<number>((resolve, reject) => {
      if (this.exited) return reject(this.exited)
      this.waiting.push((line) => {
        const m = /deleted=(\d+) missing=(\d+) failed=(\d+)/.exec(line)
        if (!m) return reject(this.exited ?? new Error(`conntrack deleter: ${line}`))
        if (Number(m[3]) > 0) return reject(new Error(`ctnetlink: ${m[3]} deletions failed`))
        resolve(Number(m[1]))
      })
      this.child.stdin!.write(flows.map(deleteRequestLine).join('\n') + '\n\n')
    }))
    this.queue = run.catch(() => {})
    return run
  }

  close(): void {
    this.child.stdin!.end()
    this.child.kill()
  }
}

/** One `conntrack -D` per flow (each dumps the table: slow for thousands), a few at a time. */
async function deleteWithTool(exec: Exec, flows: readonly Flow[]): Promise<number> {
  let deleted = 0
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < flows.length) {
      const f = flows[next++]!
      const argv = ['conntrack', '-D', '-f', f.family === 4 ? 'ipv4' : 'ipv6', '-s', f.src, '-d', f.dst, '-p', f.protocol.toLowerCase()]
      const icmp = f.protoNum === 58 ? '--icmpv6' : '--icmp'
      if (f.icmp) argv.push(`${icmp}-type`, String(f.icmp.type), `${icmp}-code`, String(f.icmp.code), `${icmp}-id`, String(f.icmp.id))
      else if (f.sport || f.dport) argv.push('--sport', String(f.sport), '--dport', String(f.dport))
      if (f.zone) argv.push('--zone', String(f.zone))
      // Exit status 1 with "0 flow entries" when it is already gone.
      const out = await exec(argv).catch(() => '')
      deleted += out.split('\n').filter((l) => l.trim()).length > 0 ? 1 : 0
    }
  }
  await Promise.all(Array.from({ length: Math.min(8, flows.length) }, worker))
  return deleted
}

// Batched, exact conntrack deletion over ctnetlink. Node has no netlink sockets and the
// `conntrack` tool's -D (also through -R batch files) dumps the whole table for every entry it
// deletes (measured: 1000 deletions from a 5000-entry table took 26 s), so a small python3 program
// sends one IPCTNL_MSG_CT_DELETE per flow, keyed by the original tuple: the kernel looks each
// entry up by hash, and hundreds of requests go out per sendmsg.
// Input lines: "<4|6> <protonum> <src> <dst> <a> <b> [<c>] zone=<n>" (a b = ports, or for ICMP
// type code id). Output: "deleted=N missing=M failed=K".
const CT_DELETE_PY = String.raw`
import socket, struct, sys
NESTED = 0x8000
def nla(t, p):
    l = 4 + len(p)
    return struct.pack('=HH', l, t) + p + b'\0' * ((4 - l % 4) % 4)
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
s.bind((0, 0))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
def request(line):
    f = line.split()
    zone = 0
    if f[-1].startswith('zone='):
        zone = int(f.pop()[5:])
    fam, proto = int(f[0]), int(f[1])
    if fam == 4:
        ip = nla(1, socket.inet_pton(socket.AF_INET, f[2])) + nla(2, socket.inet_pton(socket.AF_INET, f[3]))
        af = socket.AF_INET
    else:
        ip = nla(3, socket.inet_pton(socket.AF_INET6, f[2])) + nla(4, socket.inet_pton(socket.AF_INET6, f[3]))
        af = socket.AF_INET6
    pr = nla(1, struct.pack('B', proto))
    if proto in (1, 58):
        base = 4 if proto == 1 else 7
        pr += nla(base + 1, struct.pack('B', int(f[4]))) + nla(base + 2, struct.pack('B', int(f[5]))) + nla(base, struct.pack('>H', int(f[6])))
    elif proto in (6, 17, 132, 33, 136):
        pr += nla(2, struct.pack('>H', int(f[4]))) + nla(3, struct.pack('>H', int(f[5])))
    attrs = nla(1 | NESTED, nla(1 | NESTED, ip) + nla(2 | NESTED, pr))
    if zone:
        attrs += nla(18, struct.pack('>H', zone))
    return (af, attrs)

seq = 0
def run(reqs):
    global seq
    deleted = missing = failed = 0
    CHUNK = 256
    for i in range(0, len(reqs), CHUNK):
        batch = b''
        for af, attrs in reqs[i:i + CHUNK]:
            seq += 1
            body = struct.pack('=BBH', af, 0, 0) + attrs
            batch += struct.pack('=IHHII', 16 + len(body), (1 << 8) | 2, 1 | 4, seq, 0) + body
        s.send(batch)
        want = min(CHUNK, len(reqs) - i)
        while want > 0:
            data = s.recv(1 << 20)
            off = 0
            while off + 16 <= len(data) and want > 0:
                ln, typ = struct.unpack_from('=IH', data, off)
                if typ == 2:
                    err = struct.unpack_from('=i', data, off + 16)[0]
                    if err == 0:
                        deleted += 1
                    elif err == -2:
                        missing += 1
                    else:
                        failed += 1
                    want -= 1
                off += (ln + 3) & ~3
                if ln == 0:
                    break
    print('deleted=%d missing=%d failed=%d' % (deleted, missing, failed), flush=True)

# A blank line ends a batch (long-running use); end of input ends the last one.
batch = []
while True:
    line = sys.stdin.readline()
    if not line:
        break
    if line.strip():
        batch.append(request(line))
    else:
        run(batch)
        batch = []
if batch:
    run(batch)
`
