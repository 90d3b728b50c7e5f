// Loads the compiled addon (native/build/Release) once per thread and registers NativeError.
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import type { ConntrackBinding, NativeAddon, NativeBinding } from './binding.js'
import { NativeError } from './native-error.js'

export { NativeError } from './native-error.js'
export * from './binding.js'

// src/native/ and dist/native/ are both two levels below the package root.
const ADDON_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../native/build/Release/netpol_native.node')

/** Everything the addon does: the packet side (NativeBinding) and ctnetlink. */
export type FullBinding = NativeBinding & ConntrackBinding

let loaded: FullBinding | undefined

/** The native binding; throws with a build hint when the addon was not compiled. */
export function loadBinding(): FullBinding {
  if (loaded) return loaded
  const require = createRequire(import.meta.url)
  let addon: NativeAddon
  try {
    addon = require(ADDON_PATH) as NativeAddon
  } catch (err) {
    throw new Error(`native addon not built (${ADDON_PATH}): run \`npm run install\` (node-gyp rebuild --directory native)`, { cause: err })
  }
  addon.setErrorClass(NativeError)
  loaded = addon
  return addon
}
