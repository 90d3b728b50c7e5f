// Reading tap lines: live from an agent's control socket (GET /tap, newline-delimited JSON), or
// from a saved JSON-lines log with its rotated predecessors.
import { existsSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { filterQuery, type TapFilter } from './filter.js'
import type { TapLine } from './tap-record.js'
import type { TapStart } from './tap-endpoint.js'

export type TapStreamLine = TapLine | TapStart

/**
 * Follows an agent's tap until the agent closes the stream, `stop()` is called, or `onLine`
 * returns false. Rejects with a message naming the socket when the agent cannot be reached.
 * With `onText`, record and notice lines are handed over unparsed (a pass-through reader need
 * not pay a JSON.parse per line); the start line is always parsed.
 */
export function followTap(
  socketPath: string,
  filter: TapFilter,
  onLine: (line: TapStreamLine) => boolean | void,
  onText?: (text: string) => boolean | void,
): { done: Promise<void>; stop: () => void } {
  let stop = () => {}
  const done = new Promise<void>((resolve, reject) => {
    const req = request({ socketPath, path: `/tap${filterQuery(filter)}`, method: 'GET' }, (res) => {
      if (res.statusCode !== 200) {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => reject(new Error(`agent at ${socketPath} refused the tap: HTTP ${res.statusCode} ${body.trim()}`)))
        return
      }
      let rest = ''
      let finished = false
      const finish = () => {
        if (finished) return
        finished = true
        req.destroy()
        resolve()
      }
      stop = finish
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        if (finished) return
        const parts = (rest + chunk).split('\n')
        rest = parts.pop()!
        for (const p of parts) {
          if (p === '') continue
          if (onText !== undefined && !p.startsWith('{"type":"start"')) {
            if (onText(p) === false) return finish()
            continue
          }
          let line: TapStreamLine
          try {
            line = JSON.parse(p) as TapStreamLine
          } catch {
            continue
          }
          if (onLine(line) === false) return finish()
        }
      })
      res.on('end', finish)
      res.on('close', finish)
      res.on('error', finish)
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
        ? ' (is the agent running on this node? --socket PATH names another socket)'
        : err.code === 'EACCES' ? ' (the control socket is root-only: run as root)' : ''
      reject(new Error(`cannot reach the agent at ${socketPath}: ${err.code ?? err.message}${hint}`))
    })
    stop = () => {
      req.destroy()
      resolve()
    }
    req.end()
  })
  return { done, stop: () => stop() }
}

/** FILE and its rotated predecessors, oldest first (FILE.N … FILE.1, FILE). */
export function logFiles(path: string): string[] {
  const older: string[] = []
  for (let i = 1; existsSync(`${path}.${i}`); i++) older.push(`${path}.${i}`)
  return [...older.reverse(), path]
}

export interface SavedLog {
  lines: TapLine[]
  /** Lines that were not JSON (a torn last line of a crashed agent, ...), per file. */
  bad: { file: string; line: number }[]
}

/** Reads a saved tap log (and its rotations). Throws when FILE itself does not exist. */
export function readSavedLog(path: string): SavedLog {
  if (!existsSync(path)) throw new Error(`${path}: no such file`)
  const out: SavedLog = { lines: [], bad: [] }
  for (const file of logFiles(path)) {
    const text = readFileSync(file, 'utf8')
    let n = 0
    for (const raw of text.split('\n')) {
      n++
      if (raw.trim() === '') continue
      try {
        const v = JSON.parse(raw) as TapLine
        if (v && (v.type === 'verdict' || v.type === 'dropped')) out.lines.push(v)
        else out.bad.push({ file, line: n })
      } catch {
        out.bad.push({ file, line: n })
      }
    }
  }
  return out
}
