import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';

/**
 * A strict JSON reader for the sidecar. `JSON.parse` turns every number into a
 * double, which silently corrupts uint64 indexes above 2^53; this reader keeps
 * each number's source text so the schema layer can convert it exactly. Objects
 * become Maps so duplicate member names are detected instead of last-one-wins.
 */
export class JsonNumber {
  constructor(readonly raw: string) {}
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | Map<string, JsonValue>;

const MAX_DEPTH = 16;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

export function parseJson(text: string): JsonValue {
  const p = new Parser(text);
  p.ws();
  const v = p.value(0);
  p.ws();
  if (p.pos !== text.length) p.fail('trailing characters after the JSON document');
  return v;
}

class Parser {
  pos = 0;
  constructor(private readonly s: string) {}

  fail(what: string): never {
    throw sealError(Err.SidecarInvalid, `sidecar is not valid JSON: ${what} at offset ${this.pos}`, {
      offset: this.pos,
    });
  }

  ws(): void {
    while (this.pos < this.s.length && ' \t\n\r'.includes(this.s[this.pos]!)) this.pos++;
  }

  value(depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail('nesting too deep');
    const c = this.s[this.pos];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [lit, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (this.s.startsWith(lit, this.pos)) {
        this.pos += lit.length;
        return v;
      }
    }
    return this.fail('unexpected character');
  }

  object(depth: number): Map<string, JsonValue> {
    const out = new Map<string, JsonValue>();
    this.pos++;
    this.ws();
    if (this.s[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.pos] !== '"') this.fail('expected a member name');
      const name = this.string();
      if (out.has(name)) this.fail(`duplicate member "${name}"`);
      this.ws();
      if (this.s[this.pos] !== ':') this.fail('expected ":"');
      this.pos++;
      this.ws();
      out.set(name, this.value(depth + 1));
      this.ws();
      const c = this.s[this.pos++];
      if (c === '}') return out;
      if (c !== ',') this.fail('expected "," or "}"');
    }
  }

  array(depth: number): JsonValue[] {
    const out: JsonValue[] = [];
    this.pos++;
    this.ws();
    if (this.s[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.pos++];
      if (c === ']') return out;
      if (c !== ',') this.fail('expected "," or "]"');
    }
  }

  string(): string {
    const start = this.pos;
    this.pos++;
    while (this.pos < this.s.length) {
      const c = this.s[this.pos]!;
      if (c === '"') {
        this.pos++;
        try {
          return JSON.parse(this.s.slice(start, this.pos)) as string;
        } catch {
          this.pos = start;
          return this.fail('bad string escape');
        }
      }
      if (c === '\\') this.pos++;
      else if (c < ' ') this.fail('control character in string');
      this.pos++;
    }
    return this.fail('unterminated string');
  }

  number(): JsonNumber {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.s);
    if (m === null) return this.fail('malformed number');
    this.pos += m[0].length;
    return new JsonNumber(m[0]);
  }
}
