// Kubeconfigs pointing at a test API server, for the agent (a file) or in-process (a KubeConfig).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KubeConfig } from '@kubernetes/client-node'

export const TEST_TOKEN = 'test-token-not-a-secret'

export interface TestPki {
  readonly key: string
  readonly cert: string
}

/** A throwaway self-signed serving certificate for the test API server's addresses. */
export function makeTestPki(ips: readonly string[] = ['127.0.0.1', '169.254.1.1']): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'netpol-pki-'))
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=test-apiserver',
      '-addext', `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}`], { stdio: 'ignore' })
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
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
