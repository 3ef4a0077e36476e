/** The `<svg>` root every chart shares: size, accessible name and description, white background. */
import { BACKGROUND, FONT, INK, TEXT_SIZE, TITLE_SIZE } from './chart-style.ts';
import { element, escapeXml, text } from './svg-markup.ts';

export interface SvgDocument {
  readonly width: number;
  readonly height: number;
  readonly title: string;
  /** What a screen reader says after the title: the figures in words. */
  readonly description: string;
  readonly body: readonly string[];
}

export function svgDocument(doc: SvgDocument): string {
  const root = element(
    'svg',
    {
      xmlns: 'http://www.w3.org/2000/svg',
      width: doc.width,
      height: doc.height,
      viewBox: `0 0 ${doc.width} ${doc.height}`,
      role: 'img',
      'aria-labelledby': 'chart-title chart-desc',
      'font-family': FONT,
      'font-size': TEXT_SIZE,
      fill: INK,
    },
    `<title id="chart-title">${escapeXml(doc.title)}</title>`,
    `<desc id="chart-desc">${escapeXml(doc.description)}</desc>`,
    element('rect', { width: doc.width, height: doc.height, fill: BACKGROUND }),
    text({ x: 16, y: 28, 'font-size': TITLE_SIZE, 'font-weight': 'bold' }, doc.title),
    ...doc.body,
  );
  return `<?xml version="1.0" encoding="UTF-8"?>\n${root}\n`;
}
