/**
 * Translation: the gettext domain of the extension's strings, and the English bundle the
 * pure modules fall back to.
 *
 * The plugins load a bundle from JupyterLab's `ITranslator` (`nullTranslator` when there is
 * none) and hand it down; widgets take an `ITranslator` as JupyterLab's own widgets do. The
 * models and the plain-DOM helpers take the bundle as an optional last argument: they run
 * in jest without JupyterLab (whose packages are ES modules), so their default is
 * `english` here, which formats exactly as `nullTranslator`'s bundle does.
 */

import type { TranslationBundle } from '@jupyterlab/translation';

/** The domain of this extension's strings: `translator.load(TRANSLATION_DOMAIN)`. */
export const TRANSLATION_DOMAIN = 'jupyter_k8s';

/** What the extension uses of a translation bundle. */
export type Trans = Pick<TranslationBundle, '__' | '_n'>;

/**
 * `%1`, `%2`, ... replaced by the arguments; `%%` is a literal `%` (JupyterLab's
 * `Gettext.strfmt`).
 */
function format(text: string, args: unknown[]): string {
  return text
    .replace(/%%/g, '%% ')
    .replace(/%(\d+)/g, (_, n: string) => String(args[Number(n) - 1]))
    .replace(/%% /g, '%');
}

/** The English texts, formatted as `nullTranslator.load(TRANSLATION_DOMAIN)` does. */
export const english: Trans = {
  __: (msgid: string, ...args: any[]) => format(msgid, args),
  _n: (msgid: string, msgidPlural: string, n: number, ...args: any[]) =>
    format(n === 1 ? msgid : msgidPlural, [n, ...args])
};
