// A Markdown file part written by a tool and part by hand: the tool owns only the text between its
// two marker comments, so re-running it (`d2c pack`, `npm run docs:cli`) keeps every hand-written line.

export function blockMarkers(tool: string): { begin: string; end: string } {
  return {
    begin: `<!-- begin: written by ${tool}; edit outside this block, ${tool} rewrites it -->`,
    end: `<!-- end: written by ${tool} -->`,
  };
}

/** The text between `tool`'s markers (without them), or null when the file has no such block. */
export function readGeneratedBlock(text: string, tool: string): string | null {
  const { begin, end } = blockMarkers(tool);
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 && j < 0) return null;
  if (i < 0 || j < i || text.indexOf(begin, i + 1) >= 0 || text.indexOf(end, j + 1) >= 0)
    throw new Error(`the block written by ${tool} is broken: expected one "${begin}" followed by one "${end}"`);
  return text
    .slice(i + begin.length, j)
    .replace(/^\n/, '')
    .replace(/\n$/, '');
}

/**
 * `text` with `tool`'s block replaced by `block`. A file without the block keeps all its text and
 * gets the block appended, so nothing written by hand is ever dropped.
 */
export function writeGeneratedBlock(text: string, tool: string, block: string): string {
  const { begin, end } = blockMarkers(tool);
  const wrapped = `${begin}\n${block.replace(/\n+$/, '')}\n${end}`;
  if (readGeneratedBlock(text, tool) === null) return `${text.replace(/\n*$/, '')}\n\n${wrapped}\n`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end) + end.length;
  return text.slice(0, i) + wrapped + text.slice(j);
}
