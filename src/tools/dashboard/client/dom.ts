/**
 * The page's only way to make elements: text goes in through textContent and
 * attributes through a short allow-list, so nothing read from a stats file can
 * become markup.
 */

/** Properties an element may be made with. */
export interface Props {
  readonly class?: string;
  readonly text?: string;
  readonly title?: string;
  /** `data-*` attributes, without the prefix. */
  readonly data?: Readonly<Record<string, string>>;
}

/** Make an element with text and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: (Node | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.text !== undefined) el.textContent = props.text;
  if (props.title !== undefined) el.title = props.title;
  if (props.data) for (const [k, v] of Object.entries(props.data)) el.dataset[k] = v;
  for (const c of children) if (c) el.append(c);
  return el;
}

/** Set an element's text only when it changed (keeps selections and avoids layout work). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** Set or clear a class. */
export function toggle(el: Element, name: string, on: boolean): void {
  if (el.classList.contains(name) !== on) el.classList.toggle(name, on);
}
