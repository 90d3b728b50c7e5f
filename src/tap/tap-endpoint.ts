// GET /tap on the agent's control socket: a streaming newline-delimited JSON response of tap
// records matching the query's filters (?pod=ns/name&verdict=deny&...), until the reader hangs up.
// The first line is {"type":"start",...} so a reader knows it is registered. A reader that stops
// reading is not waited for: past maxBufferedBytes its lines are dropped and later counted to it.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ByteQueue } from './byte-queue.js'
import { parseFilter, type TapFilter } from './filter.js'
import type { Tap, TapReader } from './tap.js'

export interface TapStart {
  type: 'start'
  time: string
  node?: string
  filter: TapFilter
}

export function tapRoute(tap: Tap, nodeName?: string, maxBufferedBytes = 1 << 20) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const query = new URL(req.url ?? '/', 'http://agent').searchParams
    let filter: TapFilter
    try {
      filter = parseFilter((k) => query.get(k) ?? undefined)
    } catch (err) {
      res.writeHead(400, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: (err as Error).message }))
      return
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
    // Lines of one drain turn go out as one write.
    const pending = new ByteQueue(16 * 1024)
    const reader: TapReader = {
      filter,
      send(line: Uint8Array): boolean {
        if (res.destroyed || res.writableLength + pending.length > maxBufferedBytes) return false
        pending.push(line)
        return true
      },
      flush(): void {
        if (pending.length === 0) return
        const chunk = pending.take()
        if (!res.destroyed) res.write(chunk)
      },
    }
    const start: TapStart = { type: 'start', time: new Date().toISOString(), ...(nodeName ? { node: nodeName } : {}), filter }
    res.write(JSON.stringify(start) + '\n')
    tap.addReader(reader)
    const leave = () => tap.removeReader(reader)
    res.on('close', leave)
    req.on('close', () => { if (res.writableEnded || res.destroyed) leave() })
  }
}
