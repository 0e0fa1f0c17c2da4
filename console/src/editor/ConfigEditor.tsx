import { createEffect, on, onCleanup, onMount } from 'solid-js';
import { createConfigEditor, type ConfigEditor as EditorHandle } from './create-editor.ts';
import type { ConfigDiagnostic } from './diagnostics.ts';

export interface ConfigEditorProps {
  value: string;
  /** status.haproxy.version of the instance(s) the config runs on. */
  haproxyVersion?: string;
  /** Errors from agents and the server (see diagnostics.ts), shown at their lines. */
  diagnostics?: readonly ConfigDiagnostic[];
  readOnly?: boolean;
  onChange?: (value: string) => void;
  label?: string;
  class?: string;
  /** Receives the editor once created, e.g. to move the cursor to an error. */
  ref?: (editor: EditorHandle) => void;
}

/** The haproxy.cfg editor as a Solid component; the text is the caller's, edits come back through onChange. */
export default function ConfigEditor(props: ConfigEditorProps) {
  let host!: HTMLDivElement;
  let editor: EditorHandle | undefined;

  onMount(() => {
    editor = createConfigEditor(host, {
      doc: props.value,
      haproxyVersion: props.haproxyVersion,
      readOnly: props.readOnly,
      label: props.label,
      onChange: (value) => props.onChange?.(value),
    });
    props.ref?.(editor);
  });
  onCleanup(() => editor?.destroy());

  // Only a value that differs from the editor's text is a change from outside: the caller echoing
  // the user's own edit back must not reset the cursor.
  createEffect(
    on(
      () => props.value,
      (value) => {
        if (editor && value !== editor.getDoc()) editor.setDoc(value);
      },
      { defer: true },
    ),
  );
  createEffect(() => {
    const diagnostics = props.diagnostics ?? [];
    editor?.setDiagnostics(diagnostics);
  });
  createEffect(on(() => props.haproxyVersion, (v) => editor?.setHaproxyVersion(v), { defer: true }));
  createEffect(on(() => props.readOnly, (v) => editor?.setReadOnly(v ?? false), { defer: true }));
  createEffect(on(() => props.label, (v) => v !== undefined && editor?.setLabel(v), { defer: true }));

  // The editor fills this box: the page gives it (or its parent) a height.
  return <div ref={host} class={props.class} style={{ height: '100%' }} data-testid="config-editor" />;
}
