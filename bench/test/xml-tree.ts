/**
 * A strict parser for the XML our charts write (elements, attributes, text, the five entities): it
 * throws on anything not well formed (XML 1.0 §2.1), so a test can say "the SVG parses".
 */
export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly (XmlElement | string)[];
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(raw: string, where: string): string {
  if (raw.includes('<')) throw new Error(`raw < in ${where}`);
  return raw.replace(/&([^;]*);?/g, (m, name: string) => {
    const v = ENTITIES[name];
    if (v === undefined || !m.endsWith(';')) throw new Error(`bad entity ${m} in ${where}`);
    return v;
  });
}

export function parseXml(xml: string): XmlElement {
  const body = xml.replace(/^<\?xml [^?]*\?>\s*/, '');
  const stack: { name: string; attrs: Record<string, string>; children: (XmlElement | string)[] }[] = [];
  let root: XmlElement | undefined;
  let i = 0;
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"]*")*)\s*(\/?)>/y;
  while (i < body.length) {
    if (body[i] !== '<') {
      const end = body.indexOf('<', i);
      const raw = body.slice(i, end === -1 ? body.length : end);
      if (stack.length === 0) {
        if (raw.trim() !== '') throw new Error(`text outside the root: ${raw}`);
      } else stack[stack.length - 1]!.children.push(decode(raw, 'text'));
      i = end === -1 ? body.length : end;
      continue;
    }
    tag.lastIndex = i;
    const m = tag.exec(body);
    if (m === null) throw new Error(`not a tag at ${i}: ${body.slice(i, i + 40)}`);
    const [whole, closing, name, attrText, selfClosing] = m;
    i += whole.length;
    if (closing === '/') {
      const open = stack.pop();
      if (open === undefined || open.name !== name) throw new Error(`</${name}> closes <${open?.name ?? 'nothing'}>`);
      if (stack.length === 0) root = open;
      else stack[stack.length - 1]!.children.push(open);
      continue;
    }
    if (root !== undefined) throw new Error('a second root element');
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(/([\w:.-]+)="([^"]*)"/g)) {
      if (a[1]! in attrs) throw new Error(`attribute ${a[1]} twice on <${name}>`);
      attrs[a[1]!] = decode(a[2]!, `attribute ${a[1]}`);
    }
    const el = { name: name!, attrs, children: [] };
    if (selfClosing === '/') {
      if (stack.length === 0) root = el;
      else stack[stack.length - 1]!.children.push(el);
    } else stack.push(el);
  }
  if (stack.length > 0 || root === undefined) throw new Error('unclosed elements');
  return root;
}

/** Every element below (and including) `el` named `name`. */
export function findAll(el: XmlElement, name: string): XmlElement[] {
  const own = el.name === name ? [el] : [];
  return [...own, ...el.children.flatMap((c) => (typeof c === 'string' ? [] : findAll(c, name)))];
}

export function textOf(el: XmlElement): string {
  return el.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('');
}
