// Label selector semantics (apimachinery): matchLabels, In, NotIn (matches objects lacking the
// key), Exists, DoesNotExist, empty selector, and malformed selectors matching nothing.
import t from 'tap'
import { CompiledSelector } from '../src/engine/selector.js'

const rows: { name: string; selector: unknown; labels: Record<string, string>; want: boolean }[] = [
  { name: 'empty selector matches everything', selector: {}, labels: { any: 'thing' }, want: true },
  { name: 'empty selector matches no labels', selector: {}, labels: {}, want: true },
  { name: 'matchLabels equal', selector: { matchLabels: { app: 'web' } }, labels: { app: 'web', tier: 'fe' }, want: true },
  { name: 'matchLabels different value', selector: { matchLabels: { app: 'web' } }, labels: { app: 'db' }, want: false },
  { name: 'matchLabels missing key', selector: { matchLabels: { app: 'web' } }, labels: {}, want: false },
  { name: 'matchLabels all must hold', selector: { matchLabels: { app: 'web', tier: 'fe' } }, labels: { app: 'web', tier: 'be' }, want: false },
  { name: 'In matches one of the values', selector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] }, labels: { pod: 'b' }, want: true },
  { name: 'In rejects other values', selector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] }, labels: { pod: 'c' }, want: false },
  { name: 'In rejects a missing key', selector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a'] }] }, labels: {}, want: false },
  { name: 'NotIn rejects listed values', selector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }] }, labels: { ns: 'x' }, want: false },
  { name: 'NotIn accepts other values', selector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }] }, labels: { ns: 'y' }, want: true },
  { name: 'NotIn matches objects lacking the key', selector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }] }, labels: {}, want: true },
  { name: 'Exists with the key', selector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, labels: { app: '' }, want: true },
  { name: 'Exists without the key', selector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, labels: { other: 'x' }, want: false },
  { name: 'DoesNotExist without the key', selector: { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, labels: {}, want: true },
  { name: 'DoesNotExist with the key', selector: { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, labels: { app: 'x' }, want: false },
  { name: 'matchLabels and expressions are ANDed', selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] }, labels: { app: 'web', tier: 'db' }, want: false },
  { name: 'label keys are not prototype properties', selector: { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, labels: {}, want: false },
  { name: 'unknown operator matches nothing', selector: { matchExpressions: [{ key: 'a', operator: 'Equals', values: ['b'] }] }, labels: { a: 'b' }, want: false },
  { name: 'In without values matches nothing', selector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, labels: { a: 'b' }, want: false },
  { name: 'Exists with values matches nothing', selector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['b'] }] }, labels: { a: 'b' }, want: false },
  { name: 'non-string matchLabels value matches nothing', selector: { matchLabels: { a: 1 } }, labels: { a: '1' }, want: false },
]

for (const row of rows) {
  t.test(row.name, async (t) => {
    t.equal(CompiledSelector.compile(row.selector).matches(row.labels), row.want)
  })
}

t.test('equal selectors compile to one shared object; text form', async (t) => {
  const a = CompiledSelector.compile({ matchLabels: { b: '2', a: '1' } })
  const b = CompiledSelector.compile({ matchExpressions: [{ key: 'a', operator: 'In', values: ['1'] }], matchLabels: { b: '2' } })
  t.equal(a, b, 'interned by canonical key')
  t.equal(a.toString(), 'b=2, a=1')
  t.equal(CompiledSelector.compile({}).toString(), '{}')
  t.equal(CompiledSelector.compile({ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['p', 'q'] }] }).toString(), 'x notin (p, q)')
})
