// Where the IP header starts in a captured frame, per pcap link type (tcpdump.org/linktypes.html).
// NFQUEUE hands the agent the IP header directly; a capture has a link-layer header first.

export const LINK_TYPES: Readonly<Record<number, string>> = {
  0: 'BSD loopback',
  1: 'Ethernet',
  12: 'raw IP',
  14: 'raw IP',
  101: 'raw IP',
  108: 'OpenBSD loopback',
  113: 'Linux cooked (SLL)',
  228: 'raw IPv4',
  229: 'raw IPv6',
  276: 'Linux cooked v2 (SLL2)',
}

export const SUPPORTED_LINK_TYPES = 'Ethernet (1), Linux cooked SLL (113) and SLL2 (276), raw IP (101, 12, 14, 228, 229), BSD loopback (0, 108)'

/** Not an IP packet (ARP, LLDP, ...): skipped. */
export const NOT_IP = -1
/** The frame ends inside its link-layer header. */
export const SHORT_FRAME = -2

const ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd
const VLAN_TAGS = new Set([0x8100, 0x88a8, 0x9100])

function byEthertype(type: number, off: number): number {
  return type === ETH_IPV4 || type === ETH_IPV6 ? off : NOT_IP
}

/** Offset of the IP header in `frame`, NOT_IP or SHORT_FRAME. */
export function ipOffset(linkType: number, frame: Uint8Array): number {
  const n = frame.length
  switch (linkType) {
    case 1: {
      if (n < 14) return SHORT_FRAME
      let off = 12
      let type = (frame[off]! << 8) | frame[off + 1]!
      // 802.1Q / 802.1ad tags (stacked at most twice in practice; bounded anyway).
      for (let i = 0; i < 4 && VLAN_TAGS.has(type); i++) {
        off += 4
        if (off + 2 > n) return SHORT_FRAME
        type = (frame[off]! << 8) | frame[off + 1]!
      }
      return byEthertype(type, off + 2)
    }
    case 113:
      if (n < 16) return SHORT_FRAME
      return byEthertype((frame[14]! << 8) | frame[15]!, 16)
    case 276:
      if (n < 20) return SHORT_FRAME
      return byEthertype((frame[0]! << 8) | frame[1]!, 20)
    case 12: case 14: case 101: case 228: case 229:
      return 0
    case 0: case 108: {
      if (n < 4) return SHORT_FRAME
      // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24, 28 or 30 (BSDs). Host byte order for 0.
      const be = (frame[0]! << 24 | frame[1]! << 16 | frame[2]! << 8 | frame[3]!) >>> 0
      const le = (frame[3]! << 24 | frame[2]! << 16 | frame[1]! << 8 | frame[0]!) >>> 0
      const af = linkType === 108 ? be : Math.min(be, le)
      return af === 2 || af === 10 || af === 24 || af === 28 || af === 30 ? 4 : NOT_IP
    }
    default:
      return NOT_IP
  }
}
