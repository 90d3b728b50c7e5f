// A long-lived TCP flow between two lab pods, to prove established traffic survives an agent
// restart. Runs inside a pod namespace:
//   --serve PORT            echo every line back
//   --connect IP PORT       send a numbered line every 20 ms; print one JSON status line per second
//                           and on exit: {"sent","echoed","maxGapMs","error"?}
// Exits when stdin closes.
import { connect, createServer } from 'node:net'
import { createInterface } from 'node:readline'

const args = process.argv.slice(2)
const report = (o: object) => process.stdout.write(JSON.stringify(o) + '\n')
if (args[0] === '--serve') {
  createServer((s) => {
    s.on('error', () => {})
    s.pipe(s)
  }).listen(Number(args[1]), () => report({ ready: true }))
  process.stdin.on('end', () => process.exit(0))
} else {
  const sock = connect(Number(args[2]), args[1]!)
  let sent = 0
  let echoed = 0
  let last = performance.now()
  let maxGapMs = 0
  let error: string | undefined
  sock.setNoDelay(true)
  sock.on('connect', () => {
    report({ ready: true })
    const timer = setInterval(() => sock.write(`${++sent}\n`), 20)
    sock.on('close', () => clearInterval(timer))
  })
  createInterface({ input: sock }).on('line', () => {
    const now = performance.now()
    maxGapMs = Math.max(maxGapMs, now - last)
    last = now
    echoed++
  })
  sock.on('error', (e) => (error = e.message))
  const status = () => ({ sent, echoed, maxGapMs: Math.round(maxGapMs), sinceLastMs: Math.round(performance.now() - last), ...(error ? { error } : {}) })
  setInterval(() => report(status()), 200)
  process.stdin.on('end', () => {
    report(status())
    process.exit(0)
  })
}
process.stdin.resume()
