/** Building SVG text: escaping and elements, nothing about charts. */

const XML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Escapes text and attribute values (XML 1.0 §2.4: `<` and `&` never literal; quotes inside attributes). */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);
}

export type Attributes = Readonly<Record<string, string | number | undefined>>;

/** Coordinates rounded to 0.1 px, so output is deterministic and short. */
export function px(v: number): string {
  return String(Math.round(v * 10) / 10);
}

function attributes(attrs: Attributes): string {
  return Object.entries(attrs)
    .filter((e): e is [string, string | number] => e[1] !== undefined)
    .map(([k, v]) => ` ${k}="${escapeXml(typeof v === 'number' ? px(v) : v)}"`)
    .join('');
}

/** `<name attrs>children</name>`; children are markup already (use `text()` for text). */
export function element(name: string, attrs: Attributes, ...children: string[]): string {
  return children.length === 0 ? `<${name}${attributes(attrs)}/>` : `<${name}${attributes(attrs)}>${children.join('')}</${name}>`;
}

/** A `<text>` element whose content is escaped. */
export function text(attrs: Attributes, content: string): string {
  return `<text${attributes(attrs)}>${escapeXml(content)}</text>`;
}
