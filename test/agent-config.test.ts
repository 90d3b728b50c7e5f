import t from 'tap'
import { ConfigError, defaults, parseAgentFlags, validate } from '../src/agent/config.js'

t.test('defaults are valid and fail closed', async (t) => {
  t.same(validate(defaults()), [])
  t.equal(defaults().failMode, 'closed')
  t.equal(defaults().denyUntilSynced, true)
})

t.test('flags override defaults', async (t) => {
  const c = parseAgentFlags(['--source', '/etc/netpol', '--queue', '7', '--queues', '2', '--fail-mode', 'open',
    '--cache-size', '0', '--bridge', 'cni0', '--no-ipblock-pod-ips', '--metrics', ''])
  t.same(c.source, { kind: 'dir', path: '/etc/netpol' })
  t.equal(c.queueNum, 7)
  t.equal(c.queueCount, 2)
  t.equal(c.failMode, 'open')
  t.equal(c.cacheSize, 0)
  t.equal(c.bridge, 'cni0')
  t.equal(c.ipBlockMatchesPodIPs, false)
  t.equal(c.metricsAddress, '')
})

t.test('every problem is reported at once, each naming its field', async (t) => {
  const err = t.throws(() =>
    parseAgentFlags(['--queue', 'x', '--queues', '0', '--fail-mode', 'maybe', '--table', 'Bad Name', '--bogus']),
  ) as ConfigError
  t.type(err, ConfigError)
  const fields = err.problems.map((p) => p.split(':')[0])
  for (const f of ['--queue', 'queueCount', 'failMode', 'table', '--bogus']) t.ok(fields.includes(f), `names ${f}`)
})
