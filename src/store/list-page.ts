/**
 * A ListObjectsV2 answer read straight from its text as it arrives: one pass over the fixed
 * schema, strings made only for the values kept (Key, ETag, CommonPrefixes' Prefix, the token),
 * numbers read in place. The SDK's deserializer builds a document tree and a schema object per
 * key first; issue 11 measured the candidates on a 1,000-key RGW page (figures in
 * bench/README.md, "S3 client CPU").
 *
 * It is strict where a wrong answer would be taken for a right one: an answer cut short, a
 * closing tag that does not match, markup inside a value, an unknown entity, a document that is
 * not a ListBucketResult, a value that is not what the schema says. Each of those throws
 * ListPageError, so a broken page never becomes a complete listing. Unknown elements (Owner,
 * StorageClass, ChecksumAlgorithm, whatever a server adds) are skipped, nested or not.
 */
import { StringDecoder } from 'node:string_decoder';
import type { ObjectInfo } from './object-store.js';

export interface ParsedListPage {
  readonly objects: ObjectInfo[];
  readonly prefixes: string[];
  readonly truncated: boolean;
  readonly nextToken: string | undefined;
}

/** The text is not a well-formed ListObjectsV2 answer. */
export class ListPageError extends Error {
  override readonly name = 'ListPageError';
}

/** Deeper than any S3 answer nests (Contents > Owner > ID is 3); bounds the recursion of skip(). */
const MAX_DEPTH = 16;
/** Far more than any element of an S3 answer holds (a key is at most 1 KiB). */
const MAX_ELEMENT = 1 << 20;
/** S3 answers at most 1,000 entries a page; a server that sends endless ones is cut off here. */
const MAX_ENTRIES = 100_000;
/**
 * Text is decoded in pieces of at most this: V8 puts strings above about 128 KiB in its
 * large-object space, and on this machine making one costs about 40× the CPU per byte.
 */
const PIECE = 64 * 1024;

const LT = 0x3c; // <
const GT = 0x3e; // >
const SLASH = 0x2f;
const BANG = 0x21;
const QUESTION = 0x3f;

/** Thrown inside the reader when the text so far ends inside the element being read. */
class NeedMore extends Error {}
const NEED_MORE = new NeedMore('more text needed');

/** The whole answer at once (tests, benchmarks). */
export function parseListPage(body: Buffer): ParsedListPage {
  const reader = new ListPageReader();
  reader.write(body);
  return reader.end();
}

/**
 * Reads one answer as its bytes arrive: write() each chunk, then end(). Between chunks only the
 * element not yet whole is kept, so no string of the whole page is ever made.
 */
export class ListPageReader {
  private readonly decoder = new StringDecoder('utf8');
  private s = '';
  private pos = 0;
  /** Bounds of the name of the tag just read by openTag() or closeTag(). */
  private nameStart = 0;
  private nameEnd = 0;
  private selfClosing = false;
  private opened = false;
  private closed = false;
  private readonly objects: { key: string; size: number; etag: string; mtimeMs: number }[] = [];
  private readonly prefixes: string[] = [];
  private truncated = false;
  private nextToken: string | undefined;
  private encoding = '';

  write(chunk: Buffer): void {
    if (chunk.length <= PIECE) this.feed(this.decoder.write(chunk), false);
    else for (let i = 0; i < chunk.length; i += PIECE) this.feed(this.decoder.write(chunk.subarray(i, i + PIECE)), false);
  }

  /**
   * The page, once the whole answer was written. `encoding-type=url` makes S3 URL-encode Key and
   * Prefix (RGW: `%20` for a space, AWS and MinIO: `+`, a literal `+` as `%2B` everywhere) so
   * that any byte survives XML 1.0. They are decoded only when the answer says so (a server that
   * ignored the parameter sends raw keys, where `%` and `+` are themselves), and only here:
   * MinIO sends EncodingType after the keys.
   */
  end(): ParsedListPage {
    this.feed(this.decoder.end(), true);
    if (this.encoding === 'url') {
      for (const o of this.objects) o.key = this.urlDecoded(o.key);
      for (let i = 0; i < this.prefixes.length; i++) this.prefixes[i] = this.urlDecoded(this.prefixes[i] as string);
    } else if (this.encoding !== '') throw this.fail(`EncodingType "${this.encoding}"`);
    return { objects: this.objects, prefixes: this.prefixes, truncated: this.truncated, nextToken: this.nextToken };
  }

  /** Reads every whole element of the text so far; keeps the unfinished rest for the next chunk. */
  private feed(text: string, final: boolean): void {
    this.s = this.pos === 0 ? this.s + text : this.s.slice(this.pos) + text;
    this.pos = 0;
    let mark = 0;
    try {
      if (!this.opened) {
        this.skipMisc();
        if (!this.openTag() || !this.named('ListBucketResult') || this.selfClosing) throw this.fail('not a ListBucketResult');
        this.opened = true;
      }
      while (!this.closed) {
        mark = this.pos;
        if (this.child('ListBucketResult')) this.rootChild();
        else this.closed = true;
      }
      mark = this.pos;
      this.skipMisc();
      if (final && this.pos !== this.s.length) throw this.fail('text after the document');
    } catch (err) {
      if (err !== NEED_MORE) throw err;
      this.pos = mark;
      if (final) throw this.fail('the answer ends before the document does');
      if (this.s.length - mark > MAX_ELEMENT) throw this.fail('an element larger than 1 MiB');
    }
  }

  /** One child of ListBucketResult, its open tag read; the page changes only once it was read whole. */
  private rootChild(): void {
    if (this.named('Contents')) {
      const o = this.contents();
      if (o) this.objects.push(o);
    } else if (this.named('CommonPrefixes')) {
      const p = this.commonPrefix();
      if (p !== undefined) this.prefixes.push(p);
    } else if (this.named('IsTruncated')) {
      const v = this.text();
      if (v !== 'true' && v !== 'false') throw this.fail(`IsTruncated is "${v}"`);
      this.truncated = v === 'true';
    } else if (this.named('NextContinuationToken')) this.nextToken = this.text();
    else if (this.named('EncodingType')) this.encoding = this.text();
    else this.skip(1);
    if (this.objects.length + this.prefixes.length > MAX_ENTRIES) throw this.fail('more than 100,000 entries');
  }

  /** One <Contents>; undefined when it has no Key (the SDK path drops those too). */
  private contents(): { key: string; size: number; etag: string; mtimeMs: number } | undefined {
    let key: string | undefined;
    let size = 0;
    let etag = '';
    let mtimeMs = 0;
    if (this.selfClosing) return undefined;
    while (this.child('Contents')) {
      if (this.named('Key')) key = this.text();
      else if (this.named('Size')) size = this.integer();
      else if (this.named('ETag')) etag = this.etag();
      else if (this.named('LastModified')) mtimeMs = this.timestamp();
      else this.skip(2);
    }
    return key === undefined ? undefined : { key, size, etag, mtimeMs };
  }

  private commonPrefix(): string | undefined {
    let prefix: string | undefined;
    if (this.selfClosing) return undefined;
    while (this.child('CommonPrefixes')) {
      if (this.named('Prefix')) prefix = this.text();
      else this.skip(2);
    }
    return prefix;
  }

  /**
   * Moves to the next child element of the element `parent` being read: true with its open tag
   * read, false once the parent's closing tag was read.
   */
  private child(parent: string): boolean {
    for (;;) {
      const lt = this.s.indexOf('<', this.pos);
      if (lt === -1) throw NEED_MORE;
      if (!isBlank(this.s, this.pos, lt)) throw this.fail('text beside elements');
      this.pos = lt;
      if (this.s.charCodeAt(lt + 1) === SLASH) {
        this.closeTag();
        if (!this.named(parent)) throw this.fail('a closing tag that does not match');
        return false;
      }
      if (this.skipMarkup()) continue;
      this.openTag();
      return true;
    }
  }

  /** Skips the element whose open tag was just read, whatever it holds; checks its nesting. */
  private skip(depth: number): void {
    if (depth > MAX_DEPTH) throw this.fail('elements nested too deep');
    if (this.selfClosing) return;
    const start = this.nameStart;
    const length = this.nameEnd - this.nameStart;
    for (;;) {
      const lt = this.s.indexOf('<', this.pos);
      if (lt === -1) throw NEED_MORE;
      this.pos = lt;
      if (this.s.charCodeAt(lt + 1) === SLASH) {
        this.closeTag();
        if (!this.closes(start, length)) throw this.fail('a closing tag that does not match');
        return;
      }
      if (this.skipMarkup()) continue;
      this.openTag();
      this.skip(depth + 1);
    }
  }

  /** The text of the element whose open tag was just read, entities decoded; then past its end. */
  private text(): string {
    if (this.selfClosing) return '';
    const start = this.pos;
    const lt = this.textEnd();
    return decodeEntities(this.s.slice(start, lt), this);
  }

  /** Where the text of the current element ends; checks its closing tag and moves past it. */
  private textEnd(): number {
    const nameStart = this.nameStart;
    const length = this.nameEnd - nameStart;
    const lt = this.s.indexOf('<', this.pos);
    if (lt === -1 || lt + 1 === this.s.length) throw NEED_MORE;
    if (this.s.charCodeAt(lt + 1) !== SLASH) throw this.fail('markup inside a value');
    this.pos = lt;
    this.closeTag();
    if (!this.closes(nameStart, length)) throw this.fail('a closing tag that does not match');
    return lt;
  }

  /** A non-negative integer value (Size), read in place. */
  private integer(): number {
    const start = this.pos;
    const end = this.selfClosing ? start : this.textEnd();
    if (end === start || end - start > 15) throw this.fail('Size is not a number');
    let n = 0;
    for (let i = start; i < end; i++) {
      const d = this.s.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) throw this.fail('Size is not a number');
      n = n * 10 + d;
    }
    return n;
  }

  /** The ETag as S3 sends it, quotes included; `&quot;…&quot;` around no other entity is the usual case. */
  private etag(): string {
    if (this.selfClosing) return '';
    const start = this.pos;
    const end = this.textEnd();
    const q = '&quot;';
    if (end - start >= 2 * q.length && this.s.startsWith(q, start) && this.s.startsWith(q, end - q.length)) {
      const inner = this.s.slice(start + q.length, end - q.length);
      if (!inner.includes('&')) return `"${inner}"`;
    }
    return decodeEntities(this.s.slice(start, end), this);
  }

  /** LastModified in ms since the epoch, as the SDK path's Date.getTime() gives it. */
  private timestamp(): number {
    if (this.selfClosing) throw this.fail('LastModified is empty');
    const start = this.pos;
    const end = this.textEnd();
    // S3's own form, `2025-01-01T00:00:00.000Z`, read in place; anything else through rfc3339().
    const ms = end - start === 24 ? this.utcMillis(start) : NaN;
    if (!Number.isNaN(ms)) return ms;
    const text = decodeEntities(this.s.slice(start, end), this);
    const parsed = rfc3339(text);
    if (Number.isNaN(parsed)) throw this.fail(`LastModified is "${text}"`);
    return parsed;
  }

  /** `YYYY-MM-DDTHH:MM:SS.mmmZ` at `at` in ms; NaN when it is not exactly that. */
  private utcMillis(at: number): number {
    const s = this.s;
    if (s.charCodeAt(at + 4) !== 0x2d || s.charCodeAt(at + 7) !== 0x2d || s.charCodeAt(at + 10) !== 0x54 || s.charCodeAt(at + 13) !== 0x3a) return NaN;
    if (s.charCodeAt(at + 16) !== 0x3a || s.charCodeAt(at + 19) !== 0x2e || s.charCodeAt(at + 23) !== 0x5a) return NaN;
    const n = (from: number, len: number): number => {
      let v = 0;
      for (let i = from; i < from + len; i++) {
        const d = s.charCodeAt(i) - 0x30;
        if (d < 0 || d > 9) return NaN;
        v = v * 10 + d;
      }
      return v;
    };
    return Date.UTC(n(at, 4), n(at + 5, 2) - 1, n(at + 8, 2), n(at + 11, 2), n(at + 14, 2), n(at + 17, 2), n(at + 20, 3));
  }

  private urlDecoded(text: string): string {
    if (!text.includes('%') && !text.includes('+')) return text;
    try {
      return decodeURIComponent(text.replace(/\+/g, ' '));
    } catch {
      throw this.fail(`a name that is not URL-encoded UTF-8: ${JSON.stringify(text.slice(0, 200))}`);
    }
  }

  /** Reads `<name …>` or `<name …/>` at pos; false when pos is not at a start tag. */
  private openTag(): boolean {
    const s = this.s;
    if (this.pos >= s.length) throw NEED_MORE;
    if (s.charCodeAt(this.pos) !== LT) return false;
    let i = this.pos + 1;
    this.nameStart = i;
    while (i < s.length && !isNameEnd(s.charCodeAt(i))) i++;
    this.nameEnd = i;
    // Attributes (xmlns on the root) are skipped; a quoted value may hold `>`.
    let quote = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (quote !== 0) {
        if (c === quote) quote = 0;
      } else if (c === 0x22 || c === 0x27) quote = c;
      else if (c === GT) break;
    }
    if (i >= s.length) throw NEED_MORE;
    if (this.nameEnd === this.nameStart) throw this.fail('a tag without a name');
    this.selfClosing = s.charCodeAt(i - 1) === SLASH;
    this.pos = i + 1;
    return true;
  }

  /** Reads `</name>` at pos (pos is at `<`); the caller checks the name. */
  private closeTag(): void {
    const s = this.s;
    let i = this.pos + 2;
    this.nameStart = i;
    while (i < s.length && !isNameEnd(s.charCodeAt(i))) i++;
    this.nameEnd = i;
    while (i < s.length && isSpace(s.charCodeAt(i))) i++;
    if (i >= s.length) throw NEED_MORE;
    if (s.charCodeAt(i) !== GT) throw this.fail('a malformed closing tag');
    this.pos = i + 1;
  }

  /** Comments and processing instructions at pos are skipped (true); a DTD or CDATA is refused. */
  private skipMarkup(): boolean {
    const s = this.s;
    if (this.pos + 4 > s.length) throw NEED_MORE;
    const c = s.charCodeAt(this.pos + 1);
    if (c === QUESTION) return this.skipPast('?>');
    if (c !== BANG) return false;
    if (s.startsWith('<!--', this.pos)) return this.skipPast('-->');
    // S3 sends neither; a DTD could declare entities this reader would not expand.
    throw this.fail('a DTD or CDATA section');
  }

  /** Before and after the root: blanks, the XML declaration, comments. */
  private skipMisc(): void {
    for (;;) {
      while (this.pos < this.s.length && isSpace(this.s.charCodeAt(this.pos))) this.pos++;
      if (this.pos >= this.s.length || this.s.charCodeAt(this.pos) !== LT || !this.skipMarkup()) return;
    }
  }

  private skipPast(end: string): true {
    const i = this.s.indexOf(end, this.pos);
    if (i === -1) throw NEED_MORE;
    this.pos = i + end.length;
    return true;
  }

  /** The closing tag just read names the element whose name is at s[start, start + length). */
  private closes(start: number, length: number): boolean {
    if (this.nameEnd - this.nameStart !== length) return false;
    for (let i = 0; i < length; i++) if (this.s.charCodeAt(this.nameStart + i) !== this.s.charCodeAt(start + i)) return false;
    return true;
  }

  private named(name: string): boolean {
    return this.nameEnd - this.nameStart === name.length && this.s.startsWith(name, this.nameStart);
  }

  fail(why: string): ListPageError {
    return new ListPageError(`malformed ListObjectsV2 answer: ${why}`);
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isNameEnd(c: number): boolean {
  return isSpace(c) || c === GT || c === SLASH;
}

function isBlank(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isSpace(s.charCodeAt(i))) return false;
  return true;
}

const ENTITY = /&(?:#x([0-9a-fA-F]{1,6})|#([0-9]{1,7})|(lt|gt|amp|quot|apos));|&/g;
const NAMED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** XML's five named entities and its character references decoded; a stray `&` is refused. */
function decodeEntities(raw: string, at: ListPageReader): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(ENTITY, (_m, hex: string | undefined, dec: string | undefined, named: string | undefined) => {
    if (named !== undefined) return NAMED[named] ?? '';
    const code = hex !== undefined ? parseInt(hex, 16) : dec !== undefined ? parseInt(dec, 10) : NaN;
    if (!(code >= 0 && code <= 0x10ffff) || (code >= 0xd800 && code <= 0xdfff)) throw at.fail('an unknown entity or a stray "&"');
    return String.fromCodePoint(code);
  });
}

/**
 * RFC 3339 (`2025-01-01T00:00:00.000Z`, or with an offset) in ms since the epoch; NaN when
 * unreadable. Fractions are rounded to the ms, as the SDK's parser does.
 */
function rfc3339(t: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([-+])(\d{2}):(\d{2}))$/.exec(t);
  if (!m) return NaN;
  const fraction = m[7] === undefined ? 0 : m[7].length === 3 ? Number(m[7]) : Math.round(Number(`0.${m[7]}`) * 1000);
  const utc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), fraction);
  const offset = m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10])) * 60_000;
  return utc - offset;
}
