#!/usr/bin/env node
// Shim for package.json "bin": the CLI is compiled to dist/ by `npm run build` (also `prepare`).
import { main } from '../dist/cli/main.js'

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e) => {
    process.stderr.write(`netpol: internal error (a bug; please report it):\n${e?.stack ?? String(e)}\n`)
    process.exitCode = 70
  },
)
