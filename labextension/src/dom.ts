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

/**
 * Save text as a file through the browser's download (a `data:` link, clicked): for answers
 * that need the server's auth headers, which a plain link to the server would not send. A
 * data URL needs no object URL to revoke later (the text is a small table).
 */
export function downloadText(
  fileName: string,
  text: string,
  type: string
): void {
  const link = el('a', '');
  link.href = `data:${type};charset=utf-8,${encodeURIComponent(text)}`;
  link.download = fileName;
  link.style.display = 'none';
  document.body.appendChild(link);
  link.click();
  link.remove();
}
