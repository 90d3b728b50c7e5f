// The installed entry point: bin/netpol.js → dist/ (built by `npm run build`, and by `npm test`
// before tap runs). Skips with the reason when dist/ has not been built.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import t from 'tap'
import { ROOT } from './helpers/run-cli.js'

const built = existsSync(`${ROOT}/dist/cli/main.js`)

function bin(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/netpol.js', ...args], { cwd: ROOT }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    )
  })
}

t.test('bin/netpol.js runs the built CLI', built ? {} : { skip: 'dist/ not built (run `npm run build`)' }, async (t) => {
  const cases: { name: string; args: string[]; code: number; stdout: RegExp }[] = [
    { name: '--help', args: ['--help'], code: 0, stdout: /^usage: netpol COMMAND/ },
    { name: 'demo verdict', args: ['verdict', '--cluster', 'examples/demo-cluster.json'], code: 0, stdout: /^\{\n {2}"steps": \[/ },
    { name: 'ad-hoc denied', args: ['verdict', '--cluster', 'examples/demo-manifests', '--probe-from', 'frontend/web', '--probe-to', 'db/postgres', '--port', '5432'], code: 1, stdout: /"allowed": false/ },
    { name: 'unknown command', args: ['nope'], code: 2, stdout: /^$/ },
  ]
  for (const c of cases) {
    const r = await bin(c.args)
    t.equal(r.code, c.code, `${c.name}: exit code`)
    t.match(r.stdout, c.stdout, `${c.name}: stdout`)
  }
})
