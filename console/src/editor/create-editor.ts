/**
 * The config editor and the revision diff as plain DOM factories (no Solid), so the CodeMirror
 * dependency stays behind this folder and the factories can be driven from anything.
 */
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { bracketMatching, foldGutter, foldKeymap, indentOnInput, indentUnit, syntaxHighlighting } from '@codemirror/language';
import { forceLinting, lintGutter, lintKeymap, linter, type Diagnostic } from '@codemirror/lint';
import { MergeView } from '@codemirror/merge';
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search';
import { Annotation, Compartment, EditorState, StateEffect, StateField, Transaction, type Extension } from '@codemirror/state';
import {
  EditorView,
  drawSelection,
  dropCursor,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
} from '@codemirror/view';
import { haproxyCompletions } from './completion.ts';
import { lintConfig, toDiagnostics, type ConfigDiagnostic } from './diagnostics.ts';
import { detectIndentUnit, haproxy, haproxyHighlightDark, haproxyHighlightLight } from './haproxy-language.ts';
import { keywordData, keywordIndex } from './keywords/index.ts';

export interface ConfigEditorOptions {
  doc: string;
  /** The HAProxy version the config runs on (status.haproxy.version), for completion and lint. */
  haproxyVersion?: string;
  readOnly?: boolean;
  /** Called on every edit by the user (not on setDoc). */
  onChange?(doc: string): void;
  /** Accessible name of the text area. */
  label?: string;
}

export interface ConfigEditor {
  view: EditorView;
  /** Replaces the text (a revision loaded from outside): not an edit, so no onChange and no undo step. */
  setDoc(text: string): void;
  /** Shows errors from the agents and the server at their lines, replacing the previous ones. */
  setDiagnostics(diagnostics: readonly ConfigDiagnostic[]): void;
  getDoc(): string;
  setHaproxyVersion(version: string | undefined): void;
  setReadOnly(readOnly: boolean): void;
  setLabel(label: string): void;
  destroy(): void;
}

const DEFAULT_LABEL = 'HAProxy configuration';

/** Marks transactions that replace the whole text from outside. */
const replaceDoc = Annotation.define<boolean>();
const setExternal = StateEffect.define<readonly ConfigDiagnostic[]>();

/**
 * Diagnostics from outside (agents, server): kept as lines and placed on the text; edits move
 * them with the text they point at, and a replaced text places them again by line.
 */
const externalDiagnostics = StateField.define<{ lines: readonly ConfigDiagnostic[]; placed: Diagnostic[] }>({
  create: () => ({ lines: [], placed: [] }),
  update(value, tr) {
    for (const e of tr.effects) if (e.is(setExternal)) return { lines: e.value, placed: toDiagnostics(tr.state.doc, e.value) };
    if (!tr.docChanged) return value;
    if (tr.annotation(replaceDoc)) return { lines: value.lines, placed: toDiagnostics(tr.state.doc, value.lines) };
    const placed: Diagnostic[] = [];
    for (const d of value.placed) {
      const from = tr.changes.mapPos(d.from, 1);
      const to = Math.max(from, tr.changes.mapPos(d.to, -1));
      // The text it was about is gone: so is the diagnostic.
      if (to === from && d.to > d.from) continue;
      placed.push({ ...d, from, to });
    }
    return { lines: value.lines, placed };
  },
});

const baseTheme = EditorView.theme({
  '&': { height: '100%', fontSize: '13px' },
  '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace', lineHeight: '1.5' },
  '&.cm-focused': { outline: '2px solid #0969da', outlineOffset: '-2px' },
  // Completion info is "summary\nconfiguration.txt §N": keep the line break.
  '.cm-completionInfo': { whiteSpace: 'pre-line', maxWidth: '28em' },
  '.cm-tooltip-lint': { maxWidth: '40em', whiteSpace: 'pre-wrap' },
});

const lightTheme = EditorView.theme(
  {
    '&': { color: '#1f2328', backgroundColor: '#ffffff' },
    '.cm-gutters': { backgroundColor: '#f6f8fa', color: '#6e7781', borderRight: '1px solid #d0d7de' },
    '.cm-activeLine': { backgroundColor: '#f6f8fa' },
    '.cm-activeLineGutter': { backgroundColor: '#eaeef2' },
    '.cm-selectionBackground, &.cm-focused .cm-selectionBackground': { backgroundColor: '#b6d7ff' },
    '.cm-cursor': { borderLeftColor: '#1f2328' },
  },
  { dark: false },
);

const darkTheme = EditorView.theme(
  {
    '&': { color: '#e6edf3', backgroundColor: '#0d1117' },
    '.cm-gutters': { backgroundColor: '#161b22', color: '#7d8590', borderRight: '1px solid #30363d' },
    '.cm-activeLine': { backgroundColor: '#161b2280' },
    '.cm-activeLineGutter': { backgroundColor: '#1f2630' },
    '.cm-selectionBackground, &.cm-focused .cm-selectionBackground': { backgroundColor: '#264f78' },
    '.cm-cursor': { borderLeftColor: '#e6edf3' },
    '&.cm-focused': { outlineColor: '#4493f8' },
  },
  { dark: true },
);

const DARK_QUERY = '(prefers-color-scheme: dark)';
const prefersDark = () => typeof matchMedia === 'function' && matchMedia(DARK_QUERY).matches;
const themeFor = (dark: boolean) => (dark ? darkTheme : lightTheme);

/** Follows the system's light/dark preference while the view lives; returns the stop function. */
function followColorScheme(views: EditorView[], compartment: Compartment): () => void {
  if (typeof matchMedia !== 'function') return () => {};
  const query = matchMedia(DARK_QUERY);
  const onChange = () => {
    for (const v of views) v.dispatch({ effects: compartment.reconfigure(themeFor(query.matches)) });
  };
  query.addEventListener('change', onChange);
  return () => query.removeEventListener('change', onChange);
}

/** Highlighting: both styles, CodeMirror applies the one matching the theme's darkness. */
const highlighting: Extension = [syntaxHighlighting(haproxyHighlightLight), syntaxHighlighting(haproxyHighlightDark)];

function versionExtensions(version: string | undefined): Extension {
  const index = keywordIndex(keywordData(version));
  return [
    autocompletion({ override: [haproxyCompletions(version)], icons: true }),
    linter((view) => [...lintConfig(view.state.doc, index), ...view.state.field(externalDiagnostics).placed], {
      delay: 300,
      needsRefresh: (update) => update.transactions.some((tr) => tr.effects.some((e) => e.is(setExternal))),
    }),
  ];
}

const readOnlyExtension = (readOnly: boolean): Extension => EditorState.readOnly.of(readOnly);
const labelExtension = (label: string): Extension => EditorView.contentAttributes.of({ 'aria-label': label });

/** Creates the haproxy.cfg editor inside `parent`. */
export function createConfigEditor(parent: HTMLElement, opts: ConfigEditorOptions): ConfigEditor {
  const version = new Compartment();
  const readOnly = new Compartment();
  const label = new Compartment();
  const theme = new Compartment();
  // New lines are indented the way the operator's text already is (tabs or spaces).
  const indent = new Compartment();
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: opts.doc,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        foldGutter(),
        drawSelection(),
        dropCursor(),
        indentOnInput(),
        bracketMatching(),
        closeBrackets(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        lintGutter(),
        haproxy(),
        indent.of(indentUnit.of(detectIndentUnit(opts.doc))),
        highlighting,
        externalDiagnostics,
        version.of(versionExtensions(opts.haproxyVersion)),
        readOnly.of(readOnlyExtension(opts.readOnly ?? false)),
        label.of(labelExtension(opts.label ?? DEFAULT_LABEL)),
        baseTheme,
        theme.of(themeFor(prefersDark())),
        // Tab is left to the browser so keyboard users can leave the editor (indentation is automatic).
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...searchKeymap, ...completionKeymap, ...lintKeymap, ...foldKeymap]),
        EditorView.updateListener.of((update) => {
          if (!update.docChanged || !opts.onChange) return;
          if (update.transactions.some((tr) => tr.annotation(replaceDoc))) return;
          opts.onChange(update.state.doc.toString());
        }),
      ],
    }),
  });
  const stopFollowing = followColorScheme([view], theme);
  return {
    view,
    setDoc(text) {
      if (text === view.state.doc.toString()) return;
      view.dispatch({
        changes: { from: 0, to: view.state.doc.length, insert: text },
        annotations: [replaceDoc.of(true), Transaction.addToHistory.of(false)],
        effects: indent.reconfigure(indentUnit.of(detectIndentUnit(text))),
      });
    },
    setDiagnostics(diagnostics) {
      // Callers often recompute the same list on every keystroke: re-placing it by line would
      // undo the mapping through the edits, so an unchanged list is left alone.
      if (JSON.stringify(diagnostics) === JSON.stringify(view.state.field(externalDiagnostics).lines)) return;
      view.dispatch({ effects: setExternal.of(diagnostics) });
      forceLinting(view);
    },
    getDoc: () => view.state.doc.toString(),
    setHaproxyVersion(v) {
      view.dispatch({ effects: version.reconfigure(versionExtensions(v)) });
    },
    setReadOnly(value) {
      view.dispatch({ effects: readOnly.reconfigure(readOnlyExtension(value)) });
    },
    setLabel(value) {
      view.dispatch({ effects: label.reconfigure(labelExtension(value)) });
    },
    destroy() {
      stopFollowing();
      view.destroy();
    },
  };
}

export interface DiffViewOptions {
  a: string;
  b: string;
  aLabel: string;
  bLabel: string;
}

/** A read-only side-by-side diff of two config texts (e.g. two revisions), unchanged stretches collapsed. */
export function createDiffView(parent: HTMLElement, opts: DiffViewOptions): { destroy(): void } {
  const theme = new Compartment();
  const side = (doc: string, label: string) => ({
    doc,
    extensions: [
      lineNumbers(),
      highlightSpecialChars(),
      drawSelection(),
      haproxy(),
      highlighting,
      EditorState.readOnly.of(true),
      EditorView.contentAttributes.of({ 'aria-label': label }),
      baseTheme,
      theme.of(themeFor(prefersDark())),
      keymap.of([...defaultKeymap, ...searchKeymap]),
    ],
  });
  const root = document.createElement('div');
  root.className = 'hq-diff';
  const labels = document.createElement('div');
  labels.className = 'hq-diff-labels';
  labels.style.cssText = 'display:grid;grid-template-columns:1fr 1fr;gap:0 1em;font-weight:600;padding:0.25em 0';
  for (const text of [opts.aLabel, opts.bLabel]) {
    const cell = document.createElement('div');
    cell.textContent = text;
    labels.append(cell);
  }
  root.append(labels);
  parent.append(root);
  const merge = new MergeView({
    a: side(opts.a, opts.aLabel),
    b: side(opts.b, opts.bLabel),
    parent: root,
    gutter: true,
    highlightChanges: true,
    collapseUnchanged: { margin: 3, minSize: 6 },
  });
  const stopFollowing = followColorScheme([merge.a, merge.b], theme);
  return {
    destroy() {
      stopFollowing();
      merge.destroy();
      root.remove();
    },
  };
}
