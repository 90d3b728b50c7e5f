// Pod IP -> PodEntry, the first lookup of every classify. Several pods may claim one address
// while pods churn (and hostNetwork pods share their node's IPs), so every claimant is kept and
// the maps hold the winner: a real pod over hostNetwork pods, else the newest.
import type { PodEntry, PodState } from './cluster-index.js'
import { Ip4Map } from './ip4-map.js'
import { Ip6Map } from './ip6-map.js'
import { ipv4ToNumber, ipv6ToBytes } from './ip.js'

export class PodAddresses {
  readonly v4 = new Ip4Map<PodEntry>()
  readonly v6 = new Ip6Map<PodEntry>()
  /** One owner per IP is the norm: stored bare, not in an array. */
  private readonly owners = new Map<string, PodState | PodState[]>()
  private readonly addr6 = new Uint8Array(16)

  update(pod: PodState, added: boolean): void {
    for (const ip of pod.info.ips) {
      const cur = this.owners.get(ip)
      let owners: PodState[] = cur === undefined ? [] : Array.isArray(cur) ? cur : [cur]
      owners = added ? [...owners.filter((o) => o !== pod), pod] : owners.filter((o) => o !== pod)
      if (owners.length === 0) this.owners.delete(ip)
      else this.owners.set(ip, owners.length === 1 ? owners[0]! : owners)
      let win: PodState | undefined
      for (const o of owners) if (!win || !o.entry.host || win.entry.host) win = o
      const n = ipv4ToNumber(ip)
      if (n >= 0) {
        if (win) this.v4.set(n, win.entry)
        else this.v4.delete(n)
      } else if (ipv6ToBytes(ip, this.addr6, 0)) {
        if (win) this.v6.set(this.addr6, win.entry)
        else this.v6.delete(this.addr6)
      }
    }
  }
}
