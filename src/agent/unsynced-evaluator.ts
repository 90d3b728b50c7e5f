// Deny-until-synced: before the first full sync the agent does not know which pods are isolated,
// so every new connection it is asked about is denied (and says why). Peers have had startup
// bypass windows (a CVE class); this closes it at the cost of a short hold at agent start.
import {
  REASON_CODE,
  type FlowKey,
  type PolicyEvaluator,
  type SideVerdict,
  type Verdict,
  type VerdictSlot,
} from '../api/types.js'

const NOT_SYNCED = REASON_CODE['not-synced']
const SIDE: SideVerdict = { allowed: false, reason: 'not-synced' }
const VERDICT: Verdict = { allowed: false, egress: SIDE, ingress: SIDE, generation: 0 }

export class UnsyncedEvaluator implements PolicyEvaluator {
  readonly generation = 0

  classify(_flow: FlowKey): Verdict {
    return VERDICT
  }

  classifyV4(_src: number, _dst: number, _proto: number, _port: number, out: VerdictSlot): boolean {
    return fill(out)
  }

  classifyV6(_buf: Uint8Array, _s: number, _d: number, _proto: number, _port: number, out: VerdictSlot): boolean {
    return fill(out)
  }

  describe(_slot: VerdictSlot): Verdict {
    return VERDICT
  }
}

function fill(out: VerdictSlot): boolean {
  out.allowed = false
  out.generation = 0
  out.egressCode = NOT_SYNCED
  out.ingressCode = NOT_SYNCED
  out.egressRef = -1
  out.ingressRef = -1
  out.audit = false
  return false
}
