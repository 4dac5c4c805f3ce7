/**
 * Cancellation shared by every async operation of the library.
 * Mirrors js-libp2p's `AbortOptions`: every async method takes `{ signal }`.
 */
export interface AbortOptions {
  signal?: AbortSignal
}

/** Throws the signal's reason if it has been aborted. */
export function throwIfAborted (options?: AbortOptions): void {
  options?.signal?.throwIfAborted()
}
