// Kubeconfigs pointing at a test API server, for the agent (a file) or in-process (a KubeConfig).
import { readFileSync, writeFileSync } from 'node:fs'
import { KubeConfig } from '@kubernetes/client-node'

export const TEST_TOKEN = 'test-token-not-a-secret'

export interface TestPki {
  readonly key: string
  readonly cert: string
}

/** The test API server's serving certificate (test/fixtures/kube; no openssl needed at test time). */
export function makeTestPki(): TestPki {
  const dir = new URL('../fixtures/kube/', import.meta.url)
  return { key: readFileSync(new URL('apiserver-key.pem', dir), 'utf8'), cert: readFileSync(new URL('apiserver-cert.pem', dir), 'utf8') }
}

export function kubeconfigText(server: string, token = TEST_TOKEN, ca?: string): string {
  const cluster: Record<string, string> = { server }
  if (ca) cluster['certificate-authority-data'] = Buffer.from(ca).toString('base64')
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster }],
    users: [{ name: 'agent', user: { token } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'agent' } }],
    'current-context': 'test',
  })
}

export function writeKubeconfig(path: string, server: string, ca?: string, token = TEST_TOKEN): string {
  writeFileSync(path, kubeconfigText(server, token, ca), { mode: 0o600 })
  return path
}

export function testKubeConfig(server: string, ca?: string, token = TEST_TOKEN): KubeConfig {
  const kc = new KubeConfig()
  kc.loadFromString(kubeconfigText(server, token, ca))
  return kc
}
