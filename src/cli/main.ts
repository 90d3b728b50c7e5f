#!/usr/bin/env node
// `netpol`: dispatches to a command from the table in commands.ts. User mistakes (bad flags, bad
// files) print one message and exit 2; only a bug prints a stack trace.
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { COMMANDS } from './commands.js'
import { helpOf, isUserError, parseArgs, usageOf, UsageError, type CommandIO } from './command.js'

export function mainHelp(): string {
  const width = Math.max(...[...COMMANDS.keys()].map((n) => n.length))
  return [
    'usage: netpol COMMAND [options]',
    '',
    'Kubernetes NetworkPolicy verdicts, explanations and validation, offline.',
    '',
    'commands:',
    ...[...COMMANDS.values()].map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'netpol COMMAND --help' for a command's options.",
    '',
  ].join('\n')
}

const stdio: CommandIO = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: readonly string[], io: CommandIO = stdio): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0] && COMMANDS.has(rest[0])) {
      io.out(helpOf(COMMANDS.get(rest[0])!))
      return 0
    }
    ;(name === undefined ? io.err : io.out)(mainHelp())
    return name === undefined ? 2 : 0
  }
  const cmd = COMMANDS.get(name)
  if (!cmd) {
    io.err(`netpol: unknown command "${name}"\n\n${mainHelp()}`)
    return 2
  }
  try {
    const args = parseArgs(cmd, rest)
    if (args === 'help') {
      io.out(helpOf(cmd))
      return 0
    }
    return await cmd.run(args, io)
  } catch (e) {
    if (!isUserError(e)) throw e
    io.err(`netpol ${cmd.name}: ${e.message}\n`)
    if (e instanceof UsageError) io.err(`${usageOf(cmd)}\nRun 'netpol ${cmd.name} --help' for details.\n`)
    return 2
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1]
  if (!entry) return false
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      process.stderr.write(`netpol: internal error (a bug; please report it):\n${(e as Error)?.stack ?? String(e)}\n`)
      process.exitCode = 70
    },
  )
}
