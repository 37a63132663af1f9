/**
 * Terminal columns a string takes: East Asian wide and full-width characters and most emoji
 * take two, combining marks none. Tables of PayLink data hold merchant names in any script;
 * counting code points would misalign every row with a Japanese or Chinese name.
 */
const WIDE =
  /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1f64f}\u{1f900}-\u{1f9ff}\u{20000}-\u{3fffd}]/u;
const MARK = /\p{Mn}|\p{Me}/u;
/** Zero-width spaces and joiners, and variation selectors (emoji vs text presentation). */
const isZeroWidth = (char: string): boolean => {
  const code = char.codePointAt(0) ?? 0;
  return MARK.test(char) || (code >= 0x200b && code <= 0x200f) || (code >= 0xfe00 && code <= 0xfe0f);
};

export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) {
    if (isZeroWidth(char)) continue;
    width += WIDE.test(char) ? 2 : 1;
  }
  return width;
}

/** Pads to `width` terminal columns. */
export function padDisplay(text: string, width: number, alignRight = false): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(text)));
  return alignRight ? fill + text : text + fill;
}
