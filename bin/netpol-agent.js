#!/usr/bin/env node
// Shim for package.json "bin": the agent is compiled to dist/ by `npm run build` (also `prepare`).
import { main } from '../dist/agent/main.js'

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code
  },
  (e) => {
    process.stderr.write(`netpol-agent: ${e?.message ?? String(e)}\n`)
    process.exit(1)
  },
)
