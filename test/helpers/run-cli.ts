// Runs the real `netpol` CLI as a child process (TypeScript sources through tsx), as users do.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))
export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export function runCli(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

/** Runs many invocations, a few at a time (each is a whole node process). */
export async function runCliAll(argsList: readonly (readonly string[])[], parallel = 4): Promise<CliResult[]> {
  const out: CliResult[] = new Array(argsList.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < argsList.length) {
      const i = next++
      out[i] = await runCli(argsList[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, argsList.length) }, worker))
  return out
}
