// Runs inside the lab's node namespace: a TCP listener there that pipes every connection to the
// test API server's unix socket in the test process (unix sockets cross network namespaces, TCP on
// the host's loopback does not). Bytes pass untouched, TLS included, and a connection the server
// cuts is cut here too. Prints "ready" once listening; exits when stdin closes.
//   node --import tsx kube-netns-proxy.ts --listen 169.254.1.1:6443 --unix /tmp/x/api.sock
import { connect, createServer } from 'node:net'

const args = process.argv.slice(2)
const listen = args[args.indexOf('--listen') + 1]!
const unix = args[args.indexOf('--unix') + 1]!
const i = listen.lastIndexOf(':')
const server = createServer((client) => {
  const upstream = connect(unix)
  client.pipe(upstream)
  upstream.pipe(client)
  client.on('error', () => upstream.destroy())
  upstream.on('error', () => client.destroy())
  client.on('close', () => upstream.destroy())
  upstream.on('close', () => client.destroy())
})
server.listen(Number(listen.slice(i + 1)), listen.slice(0, i), () => process.stdout.write('ready\n'))
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
