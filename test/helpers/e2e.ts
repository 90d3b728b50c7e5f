// Gate for tests that need root and network namespaces. Outside CI they skip and say why;
// with NETPOL_E2E=required (CI) a missing prerequisite fails the test instead of skipping it.
import { execFileSync } from 'node:child_process'

function missingPrerequisite(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux network namespaces'
  if (process.getuid?.() !== 0) return 'needs root (creates network namespaces and netfilter rules)'
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' })
  } catch {
    return 'needs iproute2 (`ip netns`)'
  }
  return undefined
}

/**
 * Options for `t.test(name, e2e(), fn)`: `{ skip: reason }` when the machine cannot run
 * real-packet tests, `{}` when it can. Throws under NETPOL_E2E=required when it cannot.
 */
export function e2e(extraTools: readonly string[] = []): { skip?: string } {
  let reason = missingPrerequisite()
  if (!reason) {
    for (const tool of extraTools) {
      try {
        execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' })
      } catch {
        reason = `needs ${tool} (apt-get install it, or run .ci/run)`
        break
      }
    }
  }
  if (!reason) return {}
  if (process.env.NETPOL_E2E === 'required') {
    throw new Error(`NETPOL_E2E=required but this real-packet test cannot run: ${reason}`)
  }
  return { skip: reason }
}
