/**
 * A windowed list: only the rows in view (plus a few above and below) exist in the DOM, so
 * a list of 1,000 or 10,000 items scrolls as smoothly as one of 20. Rows have one fixed
 * height, which also keeps the layout still while their content changes.
 *
 * Accessible as a WAI-ARIA listbox: the list takes the focus, arrow keys, Home/End and
 * Page Up/Down move the active row (`aria-activedescendant`), Enter or Space opens it.
 * Plain DOM, no JupyterLab imports: unit-tested with jest in jsdom.
 */

export class VirtualList<T> {
  constructor(options: VirtualList.IOptions<T>) {
    this._options = options;
    this.node = document.createElement('div');
    this.node.className = 'jp-k8s-VirtualList';
    this.node.tabIndex = 0;
    this.node.setAttribute('role', 'listbox');
    this.node.setAttribute('aria-label', options.label);
    this._spacer = document.createElement('div');
    this._spacer.className = 'jp-k8s-VirtualList-spacer';
    this._spacer.setAttribute('role', 'presentation');
    this.node.appendChild(this._spacer);
    this._empty = document.createElement('div');
    this._empty.className = 'jp-k8s-VirtualList-empty';
    this.node.appendChild(this._empty);

    this.node.addEventListener('scroll', this._onScroll, { passive: true });
    this.node.addEventListener('keydown', this._onKeyDown);
    this.node.addEventListener('click', this._onClick);
    this.node.addEventListener('focus', this._onFocus);
  }

  /** The scrolling element (put it in a container with a height). */
  readonly node: HTMLDivElement;

  /** The items, in order. */
  get items(): readonly T[] {
    return this._items;
  }

  /** The key of the active (selected) item, or null. */
  get activeKey(): string | null {
    return this._activeKey;
  }

  /** The rows in the DOM now (for tests and measurements). */
  get renderedCount(): number {
    return this._rows.length;
  }

  /**
   * Show these items. The active item stays active when it is still there; the visible
   * rows are rendered again (their content may have changed).
   */
  setItems(items: readonly T[]): void {
    this._items = items;
    this._keys = new Map(
      items.map((item, i) => [this._options.keyOf(item), i])
    );
    if (this._activeKey !== null && !this._keys.has(this._activeKey)) {
      this._activeKey = null;
    }
    this._spacer.style.height = `${items.length * this._options.rowHeight}px`;
    this.update();
  }

  /** Text shown when there are no items. */
  setEmptyText(text: string): void {
    this._empty.textContent = text;
  }

  /** Make the item with this key active and scroll it into view. */
  setActive(key: string | null, scroll = true): void {
    this._activeKey = key;
    const index = key === null ? -1 : (this._keys.get(key) ?? -1);
    if (scroll && index >= 0) {
      this._scrollIntoView(index);
    }
    this.update();
  }

  /** Render the rows in view (call after a resize). */
  update(): void {
    const { rowHeight, overscan = 6 } = this._options;
    const n = this._items.length;
    this._empty.style.display = n === 0 ? '' : 'none';
    const height =
      this.node.clientHeight || this._options.fallbackHeight || 400;
    const top = this.node.scrollTop;
    const first = Math.max(0, Math.floor(top / rowHeight) - overscan);
    const last = Math.min(n, Math.ceil((top + height) / rowHeight) + overscan);
    const count = Math.max(0, last - first);

    // Reuse row nodes: grow or shrink the pool to the window's size.
    while (this._rows.length < count) {
      const row = this._options.createRow();
      row.classList.add('jp-k8s-VirtualList-row');
      row.setAttribute('role', 'option');
      row.style.height = `${rowHeight}px`;
      this._spacer.appendChild(row);
      this._rows.push(row);
    }
    while (this._rows.length > count) {
      this._rows.pop()!.remove();
    }

    let activeId = '';
    for (let slot = 0; slot < count; slot++) {
      const index = first + slot;
      const item = this._items[index];
      const key = this._options.keyOf(item);
      const row = this._rows[slot];
      row.style.transform = `translateY(${index * rowHeight}px)`;
      row.id = `${this._options.idPrefix}-${cssSafe(key)}`;
      row.dataset.key = key;
      row.dataset.index = String(index);
      row.setAttribute('aria-setsize', String(n));
      row.setAttribute('aria-posinset', String(index + 1));
      const active = key === this._activeKey;
      row.setAttribute('aria-selected', active ? 'true' : 'false');
      row.classList.toggle('jp-mod-active', active);
      if (active) {
        activeId = row.id;
      }
      this._options.renderRow(item, row, index);
    }
    if (activeId) {
      this.node.setAttribute('aria-activedescendant', activeId);
    } else {
      this.node.removeAttribute('aria-activedescendant');
    }
    this._window = [first, last];
  }

  dispose(): void {
    this.node.removeEventListener('scroll', this._onScroll);
    this.node.removeEventListener('keydown', this._onKeyDown);
    this.node.removeEventListener('click', this._onClick);
    this.node.removeEventListener('focus', this._onFocus);
    if (this._frame !== null) {
      cancelAnimationFrame(this._frame);
    }
  }

  private _onScroll = (): void => {
    if (this._frame !== null) {
      return;
    }
    this._frame = requestAnimationFrame(() => {
      this._frame = null;
      const { rowHeight, overscan = 6 } = this._options;
      const height =
        this.node.clientHeight || this._options.fallbackHeight || 400;
      const first = Math.max(
        0,
        Math.floor(this.node.scrollTop / rowHeight) - overscan
      );
      const last = Math.min(
        this._items.length,
        Math.ceil((this.node.scrollTop + height) / rowHeight) + overscan
      );
      // Within the rendered window nothing needs doing: the browser just scrolls.
      if (first !== this._window[0] || last !== this._window[1]) {
        this.update();
      }
    });
  };

  private _onFocus = (): void => {
    if (this._activeKey === null && this._items.length > 0) {
      this.setActive(this._options.keyOf(this._items[0]));
    }
  };

  private _onClick = (event: MouseEvent): void => {
    const row = (event.target as HTMLElement).closest<HTMLElement>(
      '.jp-k8s-VirtualList-row'
    );
    if (!row || !row.dataset.key) {
      return;
    }
    const item = this._items[Number(row.dataset.index)];
    if (item === undefined) {
      return;
    }
    this.setActive(row.dataset.key, false);
    this.node.focus({ preventScroll: true });
    this._options.onActivate?.(item);
  };

  private _onKeyDown = (event: KeyboardEvent): void => {
    const n = this._items.length;
    if (n === 0) {
      return;
    }
    const current =
      this._activeKey === null ? -1 : (this._keys.get(this._activeKey) ?? -1);
    const page = Math.max(
      1,
      Math.floor(
        (this.node.clientHeight || this._options.fallbackHeight || 400) /
          this._options.rowHeight
      ) - 1
    );
    let next = current;
    switch (event.key) {
      case 'ArrowDown':
        next = Math.min(n - 1, current + 1);
        break;
      case 'ArrowUp':
        next = Math.max(0, current - 1);
        break;
      case 'PageDown':
        next = Math.min(n - 1, current + page);
        break;
      case 'PageUp':
        next = Math.max(0, current - page);
        break;
      case 'Home':
        next = 0;
        break;
      case 'End':
        next = n - 1;
        break;
      case 'Enter':
      case ' ':
        if (current >= 0) {
          event.preventDefault();
          event.stopPropagation();
          this._options.onActivate?.(this._items[current]);
        }
        return;
      default:
        return;
    }
    event.preventDefault();
    event.stopPropagation();
    this.setActive(this._options.keyOf(this._items[next]));
  };

  private _scrollIntoView(index: number): void {
    const { rowHeight } = this._options;
    const height =
      this.node.clientHeight || this._options.fallbackHeight || 400;
    const top = index * rowHeight;
    if (top < this.node.scrollTop) {
      this.node.scrollTop = top;
    } else if (top + rowHeight > this.node.scrollTop + height) {
      this.node.scrollTop = top + rowHeight - height;
    }
  }

  private _options: VirtualList.IOptions<T>;
  private _items: readonly T[] = [];
  private _keys = new Map<string, number>();
  private _rows: HTMLElement[] = [];
  private _spacer: HTMLDivElement;
  private _empty: HTMLDivElement;
  private _activeKey: string | null = null;
  private _frame: number | null = null;
  private _window: [number, number] = [0, 0];
}

export namespace VirtualList {
  export interface IOptions<T> {
    /** The accessible name of the list. */
    label: string;
    /** Row height in px (all rows have it). */
    rowHeight: number;
    /** Rows rendered above and below the visible ones (default 6). */
    overscan?: number;
    /** Prefix of the row element ids (unique in the page). */
    idPrefix: string;
    /** A stable key of an item. */
    keyOf: (item: T) => string;
    /** Make an empty row element (once per pooled row). */
    createRow: () => HTMLElement;
    /** Fill a row with an item (called for the rows in view at each update). */
    renderRow: (item: T, row: HTMLElement, index: number) => void;
    /** Called when an item is opened (click, Enter, Space). */
    onActivate?: (item: T) => void;
    /** Viewport height to assume while the list has no layout (hidden, or jsdom). */
    fallbackHeight?: number;
  }
}

function cssSafe(key: string): string {
  return key.replace(/[^A-Za-z0-9_-]/g, '_');
}
