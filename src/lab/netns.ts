// Process helpers for the lab and the dataplane: run a command (optionally inside a network
// namespace), feed it stdin, get stdout, fail with the command and its stderr in the message.
import { spawn } from 'node:child_process'

/** Runs argv (with optional stdin) and resolves to its stdout; rejects with ExecError. */
export type Exec = (argv: string[], stdin?: string) => Promise<string>

export class ExecError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`${argv.join(' ')} failed (${code === null ? 'killed' : `exit ${code}`}): ${stderr.trim()}`)
    this.name = 'ExecError'
  }
}

/** Runs a command in the current namespace. */
export const run: Exec = (argv, stdin) =>
  new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.on('error', (e) => reject(new ExecError(argv, null, e.message)))
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString())
      else reject(new ExecError(argv, code, Buffer.concat(err).toString()))
    })
    // A command that exits without reading stdin must not turn into an EPIPE crash.
    child.stdin.on('error', () => {})
    child.stdin.end(stdin ?? '')
  })

/** argv prefix that runs a command inside namespace `ns` (the current one when undefined). */
export function nsArgv(ns: string | undefined, argv: readonly string[]): string[] {
  return ns === undefined ? [...argv] : ['ip', 'netns', 'exec', ns, ...argv]
}

/** An Exec bound to one network namespace. */
export function nsExec(ns: string | undefined): Exec {
  return ns === undefined ? run : (argv, stdin) => run(nsArgv(ns, argv), stdin)
}

/**
 * Runs many `ip` commands in one process (`ip [-n NS] -force -batch -`). With `force` it keeps going
 * past failing lines (cleanup); the returned promise still rejects if any line failed.
 */
export function ipBatch(ns: string | undefined, lines: readonly string[], force = false): Promise<string> {
  if (lines.length === 0) return Promise.resolve('')
  const argv = ['ip', ...(ns === undefined ? [] : ['-n', ns]), ...(force ? ['-force'] : []), '-batch', '-']
  return run(argv, lines.join('\n') + '\n')
}

/** Names of all network namespaces (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const out = await run(['ip', '-j', 'netns', 'list']).catch(() => '')
  if (!out.trim()) return []
  return (JSON.parse(out) as { name: string }[]).map((n) => n.name)
}
