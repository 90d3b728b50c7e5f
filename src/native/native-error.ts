import { constants } from 'node:os'

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(constants.errno).map(([name, n]) => [n, name] as [number, string]),
)

/** A kernel error from the addon: which syscall failed, with which errno (positive, e.g. EPERM = 1). */
export class NativeError extends Error {
  readonly syscall: string
  readonly errno: number
  /** e.g. 'EPERM' (like Node's SystemError.code). */
  readonly code: string

  constructor(message: string, syscall: string, errno: number) {
    super(message)
    this.name = 'NativeError'
    this.syscall = syscall
    this.errno = errno
    this.code = ERRNO_NAMES.get(errno) ?? `E${errno}`
  }
}
