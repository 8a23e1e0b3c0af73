import fs from 'node:fs/promises';
import { ImportPluginError } from './plugin-contract.js';

/**
 * Where the one file of a ZIP archive lies, read from its central directory (the only place
 * that reliably gives sizes: a streamed archive leaves them zero in the local header). As in
 * Glance (Python's zipfile), the archive must hold exactly one member; encrypted members,
 * split archives and compression methods other than stored and deflate are refused with a
 * message, not a crash.
 */
export interface ZipMember {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: 0 | 8;
  /** Offset of the member's compressed bytes. */
  dataOffset: number;
  compressedSize: number;
  uncompressedSize: number;
  crc32: number;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX_COMMENT = 0xffff;

export async function readZipMember(file: string): Promise<ZipMember> {
  const fh = await fs.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const read = async (offset: number, length: number): Promise<Buffer> => {
      if (offset < 0 || length < 0 || offset + length > size) throw bad('a record lies outside the file');
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      if (bytesRead !== length) throw bad('the file ended early');
      return buf;
    };

    // The end-of-central-directory record: the last one in the final 64 KiB + 22 bytes.
    const tailLength = Math.min(size, 22 + MAX_COMMENT);
    const tail = await read(size - tailLength, tailLength);
    let at = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD) {
        at = i;
        break;
      }
    }
    if (at < 0) throw bad('no end of central directory record (a truncated or split archive?)');
    const eocdOffset = size - tailLength + at;
    const diskNumber = tail.readUInt16LE(at + 4);
    const cdDisk = tail.readUInt16LE(at + 6);
    let entriesHere = tail.readUInt16LE(at + 8);
    let entries: number = tail.readUInt16LE(at + 10);
    let cdSize: number = tail.readUInt32LE(at + 12);
    let cdOffset: number = tail.readUInt32LE(at + 16);
    if (diskNumber !== 0 || cdDisk !== 0 || entriesHere !== entries) throw new ImportPluginError('ZIP archives split over several volumes are not supported');
    if (entries === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // Zip64: the real figures are in the zip64 end record the locator points at.
      const locator = await read(eocdOffset - 20, 20);
      if (locator.readUInt32LE(0) !== EOCD64_LOCATOR) throw bad('zip64 end record locator missing');
      if (locator.readUInt32LE(4) !== 0 || locator.readUInt32LE(16) > 1) throw new ImportPluginError('ZIP archives split over several volumes are not supported');
      const record = await read(safeNumber(locator.readBigUInt64LE(8)), 56);
      if (record.readUInt32LE(0) !== EOCD64) throw bad('zip64 end record missing');
      if (record.readUInt32LE(16) !== 0 || record.readUInt32LE(20) !== 0) throw new ImportPluginError('ZIP archives split over several volumes are not supported');
      entriesHere = safeNumber(record.readBigUInt64LE(24));
      entries = safeNumber(record.readBigUInt64LE(32));
      cdSize = safeNumber(record.readBigUInt64LE(40));
      cdOffset = safeNumber(record.readBigUInt64LE(48));
    }
    if (entries !== 1) throw new ImportPluginError(`Archive contains ${entries === 0 ? 'no file' : `${entries} files`}; only a ZIP archive of one file can be decompressed`);

    const central = await read(cdOffset, Math.min(cdSize, 46 + 3 * 0xffff));
    if (central.length < 46 || central.readUInt32LE(0) !== CENTRAL) throw bad('central directory entry missing');
    const flags = central.readUInt16LE(8);
    const method = central.readUInt16LE(10);
    const crc32 = central.readUInt32LE(16);
    let compressedSize: number = central.readUInt32LE(20);
    let uncompressedSize: number = central.readUInt32LE(24);
    const nameLength = central.readUInt16LE(28);
    const extraLength = central.readUInt16LE(30);
    const memberDisk = central.readUInt16LE(34);
    let localOffset: number = central.readUInt32LE(42);
    if (central.length < 46 + nameLength + extraLength) throw bad('central directory entry truncated');
    const name = central.subarray(46, 46 + nameLength).toString('utf8');
    // Bit 0: encrypted; bit 6: strong encryption; method 99: AES (WinZip).
    if (flags & 0x41 || method === 99) throw new ImportPluginError('Encrypted ZIP archives are not supported');
    if (method !== 0 && method !== 8) throw new ImportPluginError(`ZIP compression method ${method} is not supported (only stored and deflate)`);
    if (name.endsWith('/')) throw new ImportPluginError(`The archive's only member '${name}' is a directory`);

    const extra = central.subarray(46 + nameLength, 46 + nameLength + extraLength);
    if (uncompressedSize === 0xffffffff || compressedSize === 0xffffffff || localOffset === 0xffffffff || memberDisk === 0xffff) {
      // Zip64 extended information: only the fields whose 32-bit value overflowed, in this order.
      const z64 = extraField(extra, 0x0001);
      if (!z64) throw bad('zip64 sizes missing');
      let p = 0;
      const next = (): number => {
        if (p + 8 > z64.length) throw bad('zip64 extra field truncated');
        const v = safeNumber(z64.readBigUInt64LE(p));
        p += 8;
        return v;
      };
      if (uncompressedSize === 0xffffffff) uncompressedSize = next();
      if (compressedSize === 0xffffffff) compressedSize = next();
      if (localOffset === 0xffffffff) localOffset = next();
    } else if (memberDisk !== 0) {
      throw new ImportPluginError('ZIP archives split over several volumes are not supported');
    }

    const local = await read(localOffset, 30);
    if (local.readUInt32LE(0) !== LOCAL) throw bad('local file header missing');
    const dataOffset = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    if (dataOffset + compressedSize > size) throw bad("the member's data runs past the end of the file");
    return { name, method, dataOffset, compressedSize, uncompressedSize, crc32 };
  } finally {
    await fh.close();
  }
}

function extraField(extra: Buffer, id: number): Buffer | null {
  for (let p = 0; p + 4 <= extra.length; ) {
    const fieldId = extra.readUInt16LE(p);
    const length = extra.readUInt16LE(p + 2);
    if (fieldId === id) return extra.subarray(p + 4, Math.min(extra.length, p + 4 + length));
    p += 4 + length;
  }
  return null;
}

function safeNumber(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('a size or offset is out of range');
  return Number(v);
}

function bad(why: string): ImportPluginError {
  return new ImportPluginError(`Not a valid ZIP archive: ${why}`);
}
