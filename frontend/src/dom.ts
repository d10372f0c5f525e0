/** Building DOM nodes from data without ever parsing it as HTML: strings become text nodes. */

type Child = Node | string | number | null | undefined | false;

/**
 * `h("td", { class: "x" }, name, " ", count)`: an element with attributes and children. Strings and
 * numbers are added as text (a column or lot name such as `<img onerror=…>` shows as those characters);
 * `null`, `undefined` and `false` children are skipped.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) if (value !== undefined) element.setAttribute(name, value);
  append(element, ...children);
  return element;
}

/** Appends `children` (text for strings and numbers) to `parent`. */
export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces everything inside `parent` by `children`. */
export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, ...children);
}

/** A colour swatch (the colour is matsight's own palette, never data). */
export function swatch(colour: string): HTMLSpanElement {
  const span = h("span", { class: "swatch" });
  span.style.background = colour;
  return span;
}
