// Bad input (a file, a manifest, a flag) as one error class: the CLI prints `message` and exits
// non-zero, never a stack trace. `object` and `field` stay machine-readable for callers.

export class InputError extends Error {
  constructor(
    readonly object: string,
    readonly field: string,
    message: string,
  ) {
    super(field ? `${object}: ${field}: ${message}` : `${object}: ${message}`)
    this.name = 'InputError'
  }
}
