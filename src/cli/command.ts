// What every CLI command is, and the one flag parser they share. A command module exports a
// Command; src/cli/commands.ts registers it by name.
import { InputError } from '../model/errors.js'

export interface CommandIO {
  out(text: string): void
  err(text: string): void
}

export interface FlagSpec {
  readonly type: 'string' | 'boolean'
  /** Shown in help, e.g. "FILE". */
  readonly value?: string
  readonly help: string
  readonly multiple?: boolean
}

export interface Command {
  readonly name: string
  /** One line for `netpol --help`. */
  readonly summary: string
  /** Usage lines after "netpol NAME", e.g. "--cluster FILE [--step N]". */
  readonly usage: string
  /** Free text after the flag list: semantics, exit codes, an example. */
  readonly details?: string
  readonly flags: Readonly<Record<string, FlagSpec>>
  /** Positional arguments: none (default), or a name for help ("FILE…"), required when set. */
  readonly positionals?: string
  /** Returns the exit code. Throws UsageError (exit 2 with usage) or InputError (exit 2). */
  run(args: ParsedArgs, io: CommandIO): Promise<number>
}

export interface ParsedArgs {
  readonly flags: Readonly<Record<string, string | boolean | string[] | undefined>>
  readonly positionals: readonly string[]
}

/** A mistake in how the command was called: the CLI prints it with the command's usage. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** Parses `--name value`, `--name=value`, booleans, `--` and positionals, against the spec. */
export function parseArgs(cmd: Command, argv: readonly string[]): ParsedArgs | 'help' {
  const flags: Record<string, string | boolean | string[] | undefined> = {}
  const positionals: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1))
      break
    }
    if (arg === '--help' || arg === '-h') return 'help'
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const name = arg.slice(arg.startsWith('--') ? 2 : 1, eq < 0 ? undefined : eq)
    const spec = cmd.flags[name]
    if (!spec) throw new UsageError(`unknown option ${eq < 0 ? arg : arg.slice(0, eq)}`)
    if (spec.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`option --${name} takes no value`)
      flags[name] = true
      continue
    }
    let value: string | undefined
    if (eq >= 0) value = arg.slice(eq + 1)
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i]
    if (value === undefined || value === '') throw new UsageError(`option --${name} needs a value (${spec.value ?? 'VALUE'})`)
    if (spec.multiple) flags[name] = [...((flags[name] as string[] | undefined) ?? []), value]
    else if (flags[name] !== undefined) throw new UsageError(`option --${name} given twice`)
    else flags[name] = value
  }
  if (!cmd.positionals && positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`)
  if (cmd.positionals && positionals.length === 0) throw new UsageError(`missing ${cmd.positionals}`)
  return { flags, positionals }
}

export function usageOf(cmd: Command): string {
  return `usage: netpol ${cmd.name} ${cmd.usage}`
}

export function helpOf(cmd: Command): string {
  const rows = Object.entries(cmd.flags).map(([name, f]) => [`--${name}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`, f.help] as const)
  rows.push(['--help, -h', 'show this help'])
  const width = Math.max(...rows.map(([l]) => l.length))
  const lines = [usageOf(cmd), '', cmd.summary, '', 'options:', ...rows.map(([l, h]) => `  ${l.padEnd(width)}  ${h}`)]
  if (cmd.details) lines.push('', cmd.details.trimEnd())
  return lines.join('\n') + '\n'
}

// Typed accessors for parsed flags; each throws UsageError naming the flag.
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name]
  return typeof v === 'string' ? v : undefined
}
export function requiredFlag(args: ParsedArgs, name: string): string {
  const v = stringFlag(args, name)
  if (v === undefined) throw new UsageError(`missing required option --${name}`)
  return v
}
export function boolFlag(args: ParsedArgs, name: string): boolean {
  return args.flags[name] === true
}
export function intFlag(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const v = stringFlag(args, name)
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`option --${name}: "${v}" is not a number from ${min} to ${max}`)
  return Number(v)
}

export function isUserError(e: unknown): e is UsageError | InputError {
  return e instanceof UsageError || e instanceof InputError
}
