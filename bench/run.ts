// Bench runner: `npm run bench -- [name...] [--json]` runs bench/<name>.bench.ts (default: all),
// each in its own node process so one bench's heap never skews another's figures.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

const dir = import.meta.dirname
const args = process.argv.slice(2)
// Names first; everything from the first --flag on is passed to each bench (`--sizes 10x1000`).
const firstFlag = args.findIndex((a) => a.startsWith('--'))
const names = firstFlag < 0 ? args : args.slice(0, firstFlag)
const flags = firstFlag < 0 ? [] : args.slice(firstFlag)
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort()

if (flags.includes('--help')) {
  console.log(`usage: npm run bench -- [name...] [--json]\nbenches: ${available.join(', ')}`)
  process.exit(0)
}
const unknown = names.filter((n) => !available.includes(n))
if (unknown.length > 0) {
  console.error(`unknown bench ${unknown.join(', ')}; available: ${available.join(', ')}`)
  process.exit(2)
}
let failed = 0
for (const name of names.length > 0 ? names : available) {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(dir, `${name}.bench.ts`), ...flags], { stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`bench ${name} failed (exit ${r.status ?? r.signal})`)
    failed++
  }
}
process.exit(failed > 0 ? 1 : 0)
