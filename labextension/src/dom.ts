/**
 * The small DOM helpers the widgets share (plain DOM, no JupyterLab imports).
 */

/** A new element with a class (may be '') and, when given, its text. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** An `<option>` of a `<select>`. */
export function option(value: string, text: string): HTMLOptionElement {
  const node = document.createElement('option');
  node.value = value;
  node.textContent = text;
  return node;
}

/** A `<label>` for the input with id `forId`. */
export function label(
  className: string,
  text: string,
  forId: string
): HTMLLabelElement {
  const node = el('label', className, text);
  node.htmlFor = forId;
  return node;
}

/** A `<button type="button">` with a class and its text. */
export function button(className: string, text: string): HTMLButtonElement {
  const node = el('button', className, text);
  node.type = 'button';
  return node;
}
