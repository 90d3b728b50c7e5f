// pcap-parser 0.2 ships no types; pcap-reader.ts describes the events it uses.
declare module 'pcap-parser' {
  import type { EventEmitter } from 'node:events'
  import type { Readable } from 'node:stream'
  const pcapParser: { parse(input: string | Readable): EventEmitter }
  export default pcapParser
}
