/**
 * Nix worker ("daemon") protocol wire codec: primitives, framed streams, composite
 * types at every protocol version, the handshake, the stderr loop and the
 * arguments/replies of every operation. Spec: `shared/specs/daemon-protocol.md`.
 */
export * from './constants.ts'
export * from './errors.ts'
export * from './version.ts'
export * from './wire.ts'
export * from './framed.ts'
export * from './types.ts'
export * from './serve.ts'
export * from './nar.ts'
export * from './stderr.ts'
export * from './handshake.ts'
export * from './ops.ts'
export * from './export.ts'
export * from './guix.ts'
export * from './upload.ts'
export * from './socket-source.ts'
export * from './path-info-cache.ts'
export * from './server.ts'
export { HANDLERS, toWirePathInfo } from './handlers.ts'
export * from './client.ts'
export * from './seed.ts'
