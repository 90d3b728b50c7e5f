// Which packet-queueing backend this node supports. nftables `queue` needs CONFIG_NFT_QUEUE, which
// some kernels (this development VM's) lack; iptables NFQUEUE (xt compat) is the fallback.
import type { Exec } from '../lab/netns.js'
import type { Backend } from './rules-types.js'

/**
 * Probes with `nft -c` (check only: the kernel validates the batch, nothing is committed) for a
 * throwaway table with a hook-less chain holding a `queue` rule. Runs in the namespace `exec` runs in.
 */
export async function detectBackend(exec: Exec): Promise<Backend> {
  const table = `netpol_probe_${process.pid}`
  const script = [
    `table inet ${table} {`,
    '\tchain probe {',
    '\t\tqueue num 0 bypass',
    '\t}',
    '}',
  ].join('\n') + '\n'
  try {
    await exec(['nft', '-c', '-f', '-'], script)
    return 'nft'
  } catch {
    return 'iptables'
  }
}
