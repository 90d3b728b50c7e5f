#!/usr/bin/env node
// Shim for package.json "bin": the CLI is compiled to dist/ by `npm run build` (also `prepare`).
let cli
try {
  cli = await import('../dist/cli/main.js')
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/cli/main.js')) throw e
  process.stderr.write('netpol: not built yet: run `npm run build` in the repository first\n')
  process.exit(2)
}
cli.main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e) => {
    process.stderr.write(`netpol: internal error (a bug; please report it):\n${e?.stack ?? String(e)}\n`)
    process.exitCode = 70
  },
)
