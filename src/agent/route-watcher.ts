// Pods come and go on the node without the API server saying so at the same moment: the CNI adds a
// veth and a host route (or a bridge port) when the sandbox starts. Route and link events from the
// kernel wake the agent's sync loop, so a new pod's veth gets its queue rules within milliseconds
// instead of at the next periodic resync. `ip monitor` speaks rtnetlink for us. (Not neighbour
// events: those fire under ordinary traffic.)
import { spawn, type ChildProcess } from 'node:child_process'

export class RouteWatcher {
  private child: ChildProcess | undefined
  private stopped = false
  private restarts = 0

  constructor(private readonly onChange: () => void) {}

  start(): void {
    this.stopped = false
    const child = spawn('ip', ['-o', 'monitor', 'route', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] })
    this.child = child
    child.stdout!.on('data', () => this.onChange())
    child.on('error', () => undefined) // no `ip`: the periodic resync still covers new pods
    child.on('exit', () => {
      if (this.stopped || this.restarts++ > 10) return
      setTimeout(() => this.start(), 1000).unref()
    })
  }

  stop(): void {
    this.stopped = true
    this.child?.kill()
    this.child = undefined
  }
}
