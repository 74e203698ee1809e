// Atomic replacement of a file: write a temporary file in the same directory, fsync it, rename it
// over the target, fsync the directory. Readers see the old file or the new one, never a part.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export class TempFile {
  #fd: number | null;
  private constructor(
    /** The file this one will replace. */
    readonly target: string,
    readonly temp: string,
    fd: number,
  ) {
    this.#fd = fd;
  }

  /** A new, empty temporary file next to `target` (created exclusively: never someone else's). */
  static create(target: string): TempFile {
    const temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    return new TempFile(target, temp, fs.openSync(temp, 'wx'));
  }

  write(bytes: Uint8Array): void {
    if (this.#fd === null) throw new Error(`${this.temp} is already closed`);
    for (let done = 0; done < bytes.byteLength; ) done += fs.writeSync(this.#fd, bytes, done, bytes.byteLength - done);
  }

  /** Flushes the data to disk and closes the file. */
  finish(): void {
    if (this.#fd === null) throw new Error(`${this.temp} is already closed`);
    const fd = this.#fd;
    this.#fd = null;
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Renames the finished file over the target, then makes the rename itself durable. */
  commit(): void {
    if (this.#fd !== null) this.finish();
    fs.renameSync(this.temp, this.target);
    syncDirectory(path.dirname(this.target));
  }

  /** Closes and removes the temporary file; never throws (it runs while another error unwinds). */
  discard(): void {
    if (this.#fd !== null) {
      try {
        fs.closeSync(this.#fd);
      } catch {
        // already unusable; removing it is what matters
      }
      this.#fd = null;
    }
    try {
      fs.unlinkSync(this.temp);
    } catch {
      // ENOENT: never created, or already renamed
    }
  }
}

/** fsync of a directory, where the platform allows it (not on Windows). */
export function syncDirectory(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // best effort: some platforms and filesystems refuse fsync on a directory
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/** Writes `content` (text as UTF-8, or bytes) to `file` atomically (a temp file, fsync, rename): never half-written. */
export function writeAtomically(file: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const t = TempFile.create(file);
  try {
    t.write(typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
    t.finish();
    t.commit();
  } catch (e) {
    t.discard();
    throw e;
  }
}
