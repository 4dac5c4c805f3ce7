/**
 * restoreNar / dumpPath on the local filesystem (no Nix needed).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, symlinkSync, lstatSync, readlinkSync, chmodSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { fixture } from './fixtures.ts'
import { chunked, collect, rejection } from './nar-helpers.ts'
import { NarParseError, NarWriteError, dumpPath, narSize, restoreNar, writeNar } from '../src/nar/index.ts'

const scratch = mkdtempSync(join(tmpdir(), 'storeswarm-nar-restore-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))
let counter = 0
const fresh = (): string => join(scratch, `t${counter++}`)

const manifest: Array<{ file: string, nix_2_8_restore_ok: boolean, roundtrip_identical_nix_2_8: boolean | null }> =
  JSON.parse(readFileSync(fixture('nar', 'manifest.json'), 'utf8'))
const valid = manifest
  .filter(m => (m.nix_2_8_restore_ok && m.roundtrip_identical_nix_2_8 === true) ||
    m.file === 'nixos-nix/case.nar' || m.file === 'nixos-nix/case-collision.nar')
  .map(m => m.file)

describe('restoreNar + dumpPath', () => {
  it.each(valid)('%s: restore, dump, write gives the same bytes', async (file) => {
    const data = new Uint8Array(readFileSync(fixture('nar', file)))
    const dest = fresh()
    await restoreNar(chunked(data, 1000), dest)
    const root = await dumpPath(dest)
    expect(await narSize(root)).toBe(data.length)
    expect(Buffer.compare(await collect(writeNar(root)), data)).toBe(0)
  })

  it('restores modes, symlinks, empty files and directories of tree.nar', async () => {
    const dest = fresh()
    await restoreNar(chunked(new Uint8Array(readFileSync(fixture('real-nix', 'tree', 'tree.nar')))), dest)
    expect(readdirSync(dest).sort()).toEqual(['B-upper', 'a-lower', 'empty', 'emptydir', 'hello.sh', 'link', 'sub'])
    expect(lstatSync(join(dest, 'hello.sh')).mode & 0o111).toBe(0o111)
    expect(lstatSync(join(dest, 'a-lower')).mode & 0o100).toBe(0)
    expect(readFileSync(join(dest, 'hello.sh'), 'utf8')).toBe('#!/bin/sh\necho hello\n')
    expect(readlinkSync(join(dest, 'link'))).toBe('sub/data.txt')
    expect(lstatSync(join(dest, 'empty')).size).toBe(0)
    expect(readdirSync(join(dest, 'emptydir'))).toEqual([])
    expect(readFileSync(join(dest, 'sub', 'deeper', 'one-byte'), 'utf8')).toBe('x')
  })

  it('refuses to overwrite an existing destination', async () => {
    const dest = fresh()
    mkdirSync(dest)
    const data = new Uint8Array(readFileSync(fixture('nar', 'tvix', 'complicated.nar')))
    const err = await rejection(async () => await restoreNar(chunked(data), dest))
    expect((err as NodeJS.ErrnoException).code).toBe('EEXIST')
  })

  it('stops at the first invalid byte with a NarParseError', async () => {
    const data = new Uint8Array(readFileSync(fixture('nar', 'nixos-nix', 'dotdot.nar')))
    const dest = fresh()
    const err = await rejection(async () => await restoreNar(chunked(data), dest))
    expect(err).toBeInstanceOf(NarParseError)
    expect(readdirSync(dest)).toEqual([]) // `..` was never created
  })

  it('dumpPath keeps non-UTF-8 names and sorts by raw bytes', async () => {
    const dir = fresh()
    mkdirSync(dir)
    const names = [Buffer.from([0xff, 0x41]), Buffer.from('\u{10000}'), Buffer.from('\uffff'), Buffer.from('Z'), Buffer.from('a')]
    for (const n of names) writeFileSync(Buffer.concat([Buffer.from(dir + '/'), n]), n)
    const root = await dumpPath(dir)
    if (root.type !== 'directory') throw new Error('expected a directory')
    const seen: string[] = []
    for await (const { name } of root.entries()) seen.push(Buffer.from(name).toString('hex'))
    expect(seen).toEqual(['5a', '61', 'efbfbf', 'f0908080', 'ff41'])
    const copy = fresh()
    await restoreNar(writeNar(root), copy)
    expect(Buffer.compare(await collect(writeNar(await dumpPath(copy))), await collect(writeNar(await dumpPath(dir))))).toBe(0)
  })

  it('dumpPath: owner-exec bit only, symlinks not followed, root file and root symlink', async () => {
    const dir = fresh()
    mkdirSync(dir)
    writeFileSync(join(dir, 'f'), 'data')
    chmodSync(join(dir, 'f'), 0o744)
    symlinkSync('/nonexistent/dangling', join(dir, 'l'))
    const file = await dumpPath(join(dir, 'f'))
    expect(file).toMatchObject({ type: 'regular', executable: true, size: 4 })
    chmodSync(join(dir, 'f'), 0o655)
    expect(await dumpPath(join(dir, 'f'))).toMatchObject({ type: 'regular', executable: false })
    const link = await dumpPath(join(dir, 'l'))
    expect(link).toMatchObject({ type: 'symlink' })
    if (link.type === 'symlink') expect(Buffer.from(link.target).toString()).toBe('/nonexistent/dangling')
  })

  it('a file that changes size between lstat and read is a NarWriteError', async () => {
    const dir = fresh()
    mkdirSync(dir)
    writeFileSync(join(dir, 'f'), 'short')
    const root = await dumpPath(join(dir, 'f'))
    writeFileSync(join(dir, 'f'), 'much longer now')
    const err = await rejection(async () => await collect(writeNar(root)))
    expect(err).toBeInstanceOf(NarWriteError)
    expect(err.message).toMatch(/more than its declared size of 5/)
  })
})
