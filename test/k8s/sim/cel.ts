// A small subset of CEL, enough for the x-kubernetes-validations rules CRDs commonly use:
// literals, self/oldSelf, field selection, indexing, has(), size(), comparison, arithmetic,
// logic, `in`, the ternary, and string methods. Anything else fails to compile, which the
// simulator reports like an API server that cannot compile a rule.

type Value = unknown;
export type Node =
  | { k: 'lit'; v: Value }
  | { k: 'id'; name: string }
  | { k: 'sel'; target: Node; field: string }
  | { k: 'idx'; target: Node; index: Node }
  | { k: 'call'; name: string; target?: Node; args: Node[] }
  | { k: 'list'; items: Node[] }
  | { k: 'un'; op: string; arg: Node }
  | { k: 'bin'; op: string; left: Node; right: Node }
  | { k: 'cond'; test: Node; then: Node; else: Node };

const TOKEN = /\s*(?:(\d+\.\d+|\d+)|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|([A-Za-z_][A-Za-z0-9_]*)|(==|!=|<=|>=|&&|\|\||[<>!+\-*/%()[\].,?:]))/y;

function tokenize(source: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < source.length) {
    if (/^\s*$/.test(source.slice(TOKEN.lastIndex))) break;
    const start = TOKEN.lastIndex;
    const match = TOKEN.exec(source);
    if (!match || TOKEN.lastIndex === start) throw new Error(`cannot parse CEL near "${source.slice(start)}"`);
    tokens.push(match[1] ?? match[2] ?? match[3] ?? match[4]!);
  }
  return tokens;
}

const BINARY_LEVELS: readonly string[][] = [['||'], ['&&'], ['==', '!=', '<', '<=', '>', '>=', 'in'], ['+', '-'], ['*', '/', '%']];

class Parser {
  private position = 0;
  constructor(private readonly tokens: string[]) {}

  parse(): Node {
    const node = this.ternary();
    if (this.position !== this.tokens.length) throw new Error(`unexpected "${this.tokens[this.position]}"`);
    return node;
  }

  private peek(): string | undefined { return this.tokens[this.position]; }
  private next(): string {
    const token = this.tokens[this.position++];
    if (token === undefined) throw new Error('unexpected end of expression');
    return token;
  }
  private expect(token: string): void {
    const got = this.next();
    if (got !== token) throw new Error(`expected "${token}", got "${got}"`);
  }

  private ternary(): Node {
    const test = this.binary(0);
    if (this.peek() !== '?') return test;
    this.next();
    const then = this.ternary();
    this.expect(':');
    return { k: 'cond', test, then, else: this.ternary() };
  }

  private binary(level: number): Node {
    if (level >= BINARY_LEVELS.length) return this.unary();
    let left = this.binary(level + 1);
    while (BINARY_LEVELS[level]!.includes(this.peek() ?? '')) {
      const op = this.next();
      left = { k: 'bin', op, left, right: this.binary(level + 1) };
    }
    return left;
  }

  private unary(): Node {
    if (this.peek() === '!' || this.peek() === '-') return { k: 'un', op: this.next(), arg: this.unary() };
    return this.member();
  }

  private args(): Node[] {
    const args: Node[] = [];
    this.expect('(');
    while (this.peek() !== ')') {
      args.push(this.ternary());
      if (this.peek() === ',') this.next();
    }
    this.expect(')');
    return args;
  }

  private member(): Node {
    let node = this.primary();
    for (;;) {
      if (this.peek() === '.') {
        this.next();
        const field = this.next();
        node = this.peek() === '(' ? { k: 'call', name: field, target: node, args: this.args() } : { k: 'sel', target: node, field };
      } else if (this.peek() === '[') {
        this.next();
        const index = this.ternary();
        this.expect(']');
        node = { k: 'idx', target: node, index };
      } else {
        return node;
      }
    }
  }

  private primary(): Node {
    const token = this.next();
    if (token === '(') {
      const inner = this.ternary();
      this.expect(')');
      return inner;
    }
    if (token === '[') {
      const items: Node[] = [];
      while (this.peek() !== ']') {
        items.push(this.ternary());
        if (this.peek() === ',') this.next();
      }
      this.expect(']');
      return { k: 'list', items };
    }
    if (/^\d/.test(token)) return { k: 'lit', v: Number(token) };
    if (token.startsWith('"') || token.startsWith("'")) return { k: 'lit', v: JSON.parse(`"${token.slice(1, -1).replaceAll('"', '\\"')}"`) };
    if (token === 'true' || token === 'false') return { k: 'lit', v: token === 'true' };
    if (token === 'null') return { k: 'lit', v: null };
    if (this.peek() === '(') return { k: 'call', name: token, args: this.args() };
    return { k: 'id', name: token };
  }
}

function field(target: Value, name: string): Value {
  if (typeof target !== 'object' || target === null || !Object.hasOwn(target, name)) throw new Error(`no such key: ${name}`);
  return (target as Record<string, Value>)[name];
}

function size(value: Value): number {
  if (typeof value === 'string' || Array.isArray(value)) return value.length;
  if (typeof value === 'object' && value !== null) return Object.keys(value).length;
  throw new Error('size() of a non-collection');
}

function callMethod(name: string, target: Value, args: Value[]): Value {
  if (name === 'size') return size(target);
  if (typeof target !== 'string') throw new Error(`${name}() needs a string`);
  const arg = String(args[0]);
  switch (name) {
    case 'startsWith': return target.startsWith(arg);
    case 'endsWith': return target.endsWith(arg);
    case 'contains': return target.includes(arg);
    case 'matches': return new RegExp(arg).test(target);
    default: throw new Error(`unsupported function ${name}`);
  }
}

function compare(op: string, left: Value, right: Value): boolean {
  switch (op) {
    case '==': return JSON.stringify(left) === JSON.stringify(right);
    case '!=': return JSON.stringify(left) !== JSON.stringify(right);
    case 'in': return Array.isArray(right) ? right.some((item) => JSON.stringify(item) === JSON.stringify(left))
      : typeof right === 'object' && right !== null && Object.hasOwn(right, String(left));
  }
  const a = left as number | string;
  const b = right as number | string;
  return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
}

function binary(op: string, node: Node & { k: 'bin' }, scope: Record<string, Value>): Value {
  if (op === '&&') return evaluate(node.left, scope) === true && evaluate(node.right, scope) === true;
  if (op === '||') return evaluate(node.left, scope) === true || evaluate(node.right, scope) === true;
  const left = evaluate(node.left, scope);
  const right = evaluate(node.right, scope);
  switch (op) {
    case '+': return Array.isArray(left) && Array.isArray(right) ? [...left, ...right] : (left as number) + (right as number);
    case '-': return (left as number) - (right as number);
    case '*': return (left as number) * (right as number);
    case '/': return Math.trunc((left as number) / (right as number));
    case '%': return (left as number) % (right as number);
    default: return compare(op, left, right);
  }
}

function evaluate(node: Node, scope: Record<string, Value>): Value {
  switch (node.k) {
    case 'lit': return node.v;
    case 'id':
      if (!Object.hasOwn(scope, node.name)) throw new Error(`undeclared reference to '${node.name}'`);
      return scope[node.name];
    case 'sel': return field(evaluate(node.target, scope), node.field);
    case 'idx': {
      const target = evaluate(node.target, scope);
      const index = evaluate(node.index, scope);
      return Array.isArray(target) ? target[Number(index)] : field(target, String(index));
    }
    case 'list': return node.items.map((item) => evaluate(item, scope));
    case 'un': {
      const value = evaluate(node.arg, scope);
      return node.op === '!' ? value !== true : -(value as number);
    }
    case 'cond': return evaluate(node.test, scope) === true ? evaluate(node.then, scope) : evaluate(node.else, scope);
    case 'bin': return binary(node.op, node, scope);
    case 'call': {
      if (node.name === 'has' && node.target === undefined) {
        const arg = node.args[0];
        if (arg?.k !== 'sel') throw new Error('has() needs a field selection');
        const target = evaluate(arg.target, scope);
        return typeof target === 'object' && target !== null && Object.hasOwn(target, arg.field);
      }
      if (node.target === undefined) {
        if (node.name === 'size') return size(evaluate(node.args[0]!, scope));
        throw new Error(`unsupported function ${node.name}`);
      }
      return callMethod(node.name, evaluate(node.target, scope), node.args.map((arg) => evaluate(arg, scope)));
    }
  }
}

/** The syntax tree of a rule; throws when the rule is outside the subset. */
export function parseCel(source: string): Node {
  return new Parser(tokenize(source)).parse();
}

export interface CompiledRule {
  usesOldSelf: boolean;
  run(scope: Record<string, Value>): boolean;
}

/** Compiles a rule; throws with a message when the rule is outside the subset. */
export function compileCel(source: string): CompiledRule {
  const tokens = tokenize(source);
  const ast = parseCel(source);
  return {
    usesOldSelf: tokens.includes('oldSelf'),
    run: (scope) => evaluate(ast, scope) === true,
  };
}
